"""Cold start of the Nagios notification command: whole-process wall time of one notification.

    python bench/nagios_cold_start.py [--runs 9]

Starts the real `sms-notify sandbox` on a free port of 127.0.0.1, writes a config with one
account per gateway pointing at it, then runs `sms-notify nagios ACCOUNT --config FILE --to N
-t PROBLEM ...` as Nagios would (a new process each time, time.perf_counter around
subprocess.run), interleaved so machine noise hits every row alike. HTTP gateways are the
goal (docs/design.md, Decision 7); SOAP gateways are reported beside them. Rows for
reference: the bare interpreter, `sms-notify --version`, and `nagios --dry-run` (everything but
the sending).
Prints the median and spread of each, and its ratio to `apprise json://` run in the same rounds
(the median of the paired runs' ratios); a gateway whose run fails is reported as such.
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import statistics
import sys
import tempfile
import threading
from pathlib import Path

from cold_start import JsonSink
from common import machine, sandbox, table, timed, url_for

APPRISE = "apprise json:// (built-in)"

GATEWAYS = {  # account (named after its gateway) -> wire format
    "fastsms": "HTTP form", "intellisms": "HTTP form", "server2sms": "JSON",
    "sms24x": "SOAP", "mymobileapi": "SOAP",
}
NOTIFICATION = [
    "--to", "+447700900123", "-t", "PROBLEM", "-l", "web01", "-e", "HTTP", "-s", "CRITICAL",
    "-o", "CRITICAL - connection refused", "-d", "2026-11-22 12:03:49 +0000", "-b", "", "-c", "",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs per row (at least 7)")
    args = parser.parse_args()
    runs = max(7, args.runs)

    work = Path(tempfile.mkdtemp(prefix="sms-nagios-bench-"))
    with sandbox() as url:
        config = work / "sms-notify.yml"
        config.write_text(
            "accounts:\n" + "".join(f"  {name}: {url_for(url, name, **{'from': 'Alerts'})}\n"
                                    for name in GATEWAYS),
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
        apprise = shutil.which("apprise", path=str(Path(sys.executable).parent))
        if not apprise:
            raise SystemExit("the apprise command is missing: pip install 'sms-notify[apprise]'")
        sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), JsonSink)
        threading.Thread(target=sink.serve_forever, daemon=True).start()
        rows[APPRISE] = [apprise, "-b", "Disk full", f"json://127.0.0.1:{sink.server_port}/"]
        kinds = {name: "" for name in rows}
        for name, kind in GATEWAYS.items():
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

    base = times[APPRISE]

    def ratio(values: list[float]) -> str:
        if len(values) != len(base):
            return "-"
        return f"{statistics.median(v / b for v, b in zip(values, base)):.2f}"

    print(f"sms-notify nagios cold start: {runs} runs each, interleaved ({machine()})\n")
    print(table(["command", "wire", "median s", "min s", "max s", "vs apprise json://"], [
        [name, kinds[name], *(["n/a", "", failed[name][:60], "-"] if name in failed else [
            f"{statistics.median(values):.3f}", f"{min(values):.3f}", f"{max(values):.3f}",
            ratio(values)])]
        for name, values in times.items()
    ]))


if __name__ == "__main__":
    main()
