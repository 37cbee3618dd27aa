"""Cold start: whole-process time of one text, ours against the `apprise` command, side by side.

    python bench/cold_start.py [--runs 9]

Runs, interleaved so machine noise hits every command alike:
- `sms-notify send` and `sms-notify nagios` to the sandbox's FastSMS API (an HTTP gateway:
  docs/design.md, Decision 7), and `sms-notify send` to its 24x SOAP API beside them;
- `apprise` with our fastsms:// schema through the plugin directory, to the sandbox;
- `apprise` with Apprise's built-in json:// to a local JSON sink.
Prints the median and spread of each, and its ratio to `apprise json://`: the median of the
ratios of the paired runs (each run against apprise's in the same round), since this machine's
speed drifts between minutes.
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from common import machine, sandbox, table, timed, url_for

TEXT = "Disk full on db1"
TO = "+447700900123"


class JsonSink(http.server.BaseHTTPRequestHandler):
    """A local server that takes any POST with 200, for Apprise's json://."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def timed_ok(cmd: list[str], env: dict[str, str]) -> float:
    elapsed, problem = timed(cmd, env)
    if problem:
        raise SystemExit(f"{' '.join(cmd)} failed: {problem}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()

    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), JsonSink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    bindir = Path(sys.executable).parent
    home = Path(tempfile.mkdtemp(prefix="sms-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_NOTIFY_")}
    env["HOME"] = str(home)
    ours = str(bindir / "sms-notify")
    apprise = shutil.which("apprise", path=str(bindir)) or shutil.which("apprise")
    if not apprise:
        raise SystemExit("the apprise command is missing: pip install 'sms-notify[apprise]'")
    plugins = home / "plugins"
    subprocess.run([ours, "apprise-plugin", str(plugins)], check=True, capture_output=True)

    with sandbox("--credits", "1000000") as url:
        fastsms = url_for(url, "fastsms", **{"from": "Alerts"})
        commands: dict[str, list[str]] = {
            "sms-notify send (fastsms)": [ours, "send", fastsms, "--to", TO, "-m", TEXT],
            "sms-notify nagios (fastsms)": [
                ours, "nagios", fastsms, "--to", TO, "-t", "PROBLEM", "-l", "db1",
                "-e", "Disk", "-s", "CRITICAL", "-o", "Disk full",
            ],
            "sms-notify send (sms24x, SOAP)": [
                ours, "send", url_for(url, "sms24x", **{"from": "Alerts"}), "--to", TO, "-m", TEXT,
            ],
            "apprise fastsms:// (plugin dir)": [
                apprise, "-P", str(plugins), "-b", TEXT, fastsms.replace("@?", f"@{TO}?"),
            ],
            "apprise json:// (built-in)": [
                apprise, "-b", TEXT, f"json://127.0.0.1:{sink.server_address[1]}/",
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for cmd in commands.values():
            timed_ok(cmd, env)  # warm the page cache and byte-code
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(timed_ok(cmd, env))
    sink.shutdown()
    shutil.rmtree(home, ignore_errors=True)

    base = times["apprise json:// (built-in)"]
    rows = []
    for name, values in times.items():
        paired = statistics.median(v / b for v, b in zip(values, base, strict=True))
        rows.append([name, f"{statistics.median(values):.3f}", f"{min(values):.3f}",
                     f"{max(values):.3f}", f"{paired:.2f}"])
    print(f"cold start, median of {args.runs} interleaved runs, ratios paired by round "
          f"({machine()})\n")
    print(table(["command", "median s", "min s", "max s", "vs apprise json://"], rows))
    print("\ngoal: sms-notify send and nagios at most 0.45 of the apprise command")


if __name__ == "__main__":
    main()
