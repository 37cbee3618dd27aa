"""Cold start of the Nagios notification command: whole-process wall time of one notification.

    python bench/nagios_cold_start.py [--runs 9]

Starts the real `sms-notify sandbox` on a free port of 127.0.0.1, writes a config with one
account per gateway pointing at it, then runs `sms-notify nagios ACCOUNT --config FILE --to N
-t PROBLEM ...` as Nagios would (a new process each time, time.perf_counter around
subprocess.run), interleaved so machine noise hits every row alike. HTTP gateways are the
goal (DESIGN, Decisions 7); SOAP gateways are reported beside them. Rows for reference: the bare
interpreter, `sms-notify --version`, and `nagios --dry-run` (everything but the sending).
Prints the median and spread of each; a gateway whose run fails is reported as such.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GATEWAYS = {  # account name -> (URL form, kind)
    "fastsms": ("fastsms://sandbox@?from=Alerts&endpoint={url}", "HTTP form"),
    "intellisms": ("intellisms://sandbox:sandbox@?from=Alerts&endpoint={url}", "HTTP form"),
    "server2sms": ("server2sms://sandbox:sandbox@?from=Alerts&endpoint={url}", "JSON"),
    "sms24x": ("sms24x://sandbox:sandbox@?from=Alerts&endpoint={url}", "SOAP"),
    "mymobileapi": ("mymobileapi://sandbox:sandbox@?from=Alerts&endpoint={url}", "SOAP"),
}
NOTIFICATION = [
    "--to", "+447700900123", "-t", "PROBLEM", "-l", "web01", "-e", "HTTP", "-s", "CRITICAL",
    "-o", "CRITICAL - connection refused", "-d", "2026-11-22 12:03:49 +0000", "-b", "", "-c", "",
]


def start_sandbox(log: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sms_notify", "sandbox", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,  # noqa: SIM115
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("sandbox listening on "):
        proc.terminate()
        raise SystemExit(f"sandbox did not start: {line!r}\n{log.read_text()}")
    return proc, line.split()[-1]


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    problem = "" if result.returncode == 0 else (result.stdout + result.stderr).strip().splitlines()[-1:]
    return elapsed, " ".join(problem) if problem else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs per row (at least 7)")
    args = parser.parse_args()
    runs = max(7, args.runs)

    work = Path(tempfile.mkdtemp(prefix="sms-nagios-bench-"))
    sandbox, url = start_sandbox(work / "sandbox.log")
    try:
        config = work / "sms-notify.yml"
        config.write_text(
            "accounts:\n" + "".join(f"  {name}: {form.format(url=url)}\n"
                                    for name, (form, _) in GATEWAYS.items()),
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if k not in ("SMS_NOTIFY_CONFIG",)}
        env["HOME"] = str(work)
        command = str(Path(sys.executable).with_name("sms-notify"))
        nagios = [command, "nagios"]
        rows: dict[str, list[str]] = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "sms-notify --version": [command, "--version"],
            "nagios --dry-run (no sending)": [*nagios, "fastsms", "--config", str(config),
                                              *NOTIFICATION, "--dry-run"],
        }
        kinds = {name: "" for name in rows}
        for name, (_, kind) in GATEWAYS.items():
            label = f"nagios -> {name}"
            rows[label] = [*nagios, name, "--config", str(config), *NOTIFICATION]
            kinds[label] = kind
        times: dict[str, list[float]] = {name: [] for name in rows}
        failed: dict[str, str] = {}
        for name, cmd in rows.items():  # warm the page cache; find the rows that cannot run
            _, problem = timed(cmd, env)
            if problem:
                failed[name] = problem
        for _ in range(runs):
            for name, cmd in rows.items():
                if name not in failed:
                    times[name].append(timed(cmd, env)[0])
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    print(f"sms-notify nagios cold start: {runs} runs each, interleaved, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    print(f"| {'command':<32} | {'wire':<9} | median s | min s | max s |")
    print(f"| {'-' * 32} | {'-' * 9} | -------: | ----: | ----: |")
    for name, values in times.items():
        if name in failed:
            print(f"| {name:<32} | {kinds[name]:<9} | n/a: {failed[name][:60]} |")
            continue
        print(f"| {name:<32} | {kinds[name]:<9} | {statistics.median(values):8.3f} | "
              f"{min(values):5.3f} | {max(values):5.3f} |")


if __name__ == "__main__":
    main()
