"""Receiver throughput: `sms-notify serve` against the same server stack answering an empty 200.

    python bench/receiver.py [--seconds 5] [--rounds 3] [--concurrency 1 10 50] [--sachet PATH]
                             [--closing-the-loop]

The load generator is wrk (Debian `wrk`) with bench/webhook.lua, posting a real Alertmanager
0.25 firing payload with a new group key and fingerprint each time, so every request is a
distinct alert the receiver must commit to its outbox before answering. Reported per
concurrency, side by side in one run: accepted per second, p50 and p99 time to the 200, for

- the empty handler (bench/empty_app.py: the same uvicorn/Starlette stack answering an empty
  200),
- `serve` delivering at the same time through the sandbox's FastSMS API on this machine (texts
  delivered per second and peak RSS too): the whole job, sharing the CPUs with the deliveries
  and with the sandbox process,
- `serve` with its deliveries parked (a second sandbox holds every request for a minute):
  the accept path alone, durable commits included;
- with `--sachet PATH`, sachet (the Go receiver, built from its source: it answers after its
  gateway call and keeps nothing) sending each alert through its Kannel provider to the empty
  app's /sink.

They run in turn, round after round, and each ratio is taken within a round (this machine's
speed drifts by a third between minutes): delivering over parked (what delivering costs the
accept path), parked over sachet, parked over the empty handler (for information).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests
from common import command, machine, sandbox, table, url_for

HERE = Path(__file__).resolve().parent
PAYLOAD = HERE.parent / "tests" / "fixtures" / "alertmanager" / "am-0.25-firing.json"
TOKEN = "bench-token"
ADDRESS = re.compile(r"https?://127\.0\.0\.1:\d+")


@contextmanager
def server(cmd: list[str], env: dict[str, str], kill: bool = False, announce: str = ""
           ) -> Iterator[tuple[str, int]]:
    """Start a server that prints its http://127.0.0.1:PORT address (or one that listens on
    `announce` once up); yield (url, pid)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    assert proc.stdout is not None
    url, seen = "", []
    if announce:
        for _ in range(100):
            try:
                requests.get(announce + "/-/live", timeout=1)
                url = announce
                break
            except requests.RequestException:
                time.sleep(0.1)
    for line in proc.stdout if not url else ():
        seen.append(line)
        match = ADDRESS.search(line)
        if match:
            url = match.group(0)
            break
    if not url:
        proc.kill()
        raise SystemExit(f"{cmd} did not start:\n{''.join(seen)}")
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    try:
        yield url, proc.pid
    finally:
        proc.kill() if kill else proc.terminate()
        proc.wait(60)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def body_template(directory: Path) -> Path:
    """The firing payload with %ID% where each request puts a new number."""
    payload = json.loads(PAYLOAD.read_text())
    payload["groupKey"] = '{}:{alertname="DiskFull%ID%"}'
    for i, alert in enumerate(payload["alerts"]):
        alert["fingerprint"] = f"%ID%{i:04d}"
    path = directory / "body.json"
    path.write_text(json.dumps(payload))
    return path


def wrk(url: str, concurrency: int, seconds: int, body: Path, path: str = "/alert/oncall"
        ) -> dict[str, float]:
    env = {**os.environ, "WEBHOOK_BODY": str(body), "WEBHOOK_TOKEN": TOKEN,
           "WEBHOOK_PATH": path, "WEBHOOK_RUN": f"{time.time_ns()}c{concurrency}"}
    out = subprocess.run(
        ["wrk", f"-t{min(concurrency, 2)}", f"-c{concurrency}", f"-d{seconds}s", "--latency",
         "-s", str(HERE / "webhook.lua"), url],
        capture_output=True, text=True, env=env, check=True,
    ).stdout
    def latency(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    requests_done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": latency("50"), "p99": latency("99"), "requests": requests_done,
        "non2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(1) if errors else "",
    }


def peak_rss_mb(pid: int) -> float:
    """Peak RSS of a process and its children (serve's delivery process), summed."""
    total = 0.0
    for proc in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int(
                    (entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                out.append(int(entry.name))
        except OSError:
            continue
    return out


def sachet_config(path: Path, sink: str) -> Path:
    """sachet's receiver for the payload's `sms-webhook`, through Kannel (an HTTP GET per text)
    to a local sink."""
    path.write_text(
        "providers:\n"
        f"  kannel: {{url: '{sink}/sink', username: u, password: p}}\n"
        "receivers:\n"
        "  - name: sms-webhook\n    provider: kannel\n    to: ['+447700900123']\n"
        "    from: Alerts\n"
    )
    return path


def delivered(sandbox_url: str) -> int:
    answer = requests.get(f"{sandbox_url}/inbox", params={"gateway": "fastsms"}, timeout=60)
    return len(answer.json()["messages"])


def write_config(path: Path, sandbox_url: str, outbox: Path, loop: bool = False) -> Path:
    """The bench's config; `loop`: with acks and escalation on, so that every webhook records
    its group's page too (docs/design.md, Decision 15)."""
    primary = url_for(sandbox_url, "fastsms", **{"from": "Alerts", "timeout": "90"})
    escalate = ", escalate: {after: 1h, to: ['+447700900125']}" if loop else ""
    path.write_text(
        "accounts:\n"
        f"  primary: {primary}\n"
        "routes:\n"
        f"  oncall: {{to: ['+447700900123'], via: [primary]{escalate}}}\n"
        "server:\n"
        f"  bearer_token: {TOKEN}\n"
        f"  outbox: {outbox}\n"
        + ("  inbound_secret: bench-secret\nalertmanager: {url: 'http://127.0.0.1:9'}\n"
           if loop else "")
    )
    return path


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure_delivering(serve_url: str, sandbox_url: str, c: int, seconds: int, body: Path
                       ) -> dict[str, float]:
    """One wrk run against the delivering receiver, then the wait until every accepted text
    reached the sandbox (so the next run does not share the CPUs with its deliveries)."""
    before = delivered(sandbox_url)
    start = time.perf_counter()
    result = wrk(serve_url, c, seconds, body)
    accepted = result["requests"] - result["non2xx"]
    while delivered(sandbox_url) - before < accepted:
        if time.perf_counter() - start > seconds + 120:
            print(f"concurrency {c}: not all delivered after 120 s", file=sys.stderr)
            break
        time.sleep(0.5)
    result["texts_per_s"] = (delivered(sandbox_url) - before) / (time.perf_counter() - start)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of empty / accept-only / delivering runs")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--sachet", metavar="PATH", help="a sachet binary to run side by side")
    parser.add_argument("--closing-the-loop", action="store_true",
                        help="acks and escalation on: each webhook records its group's page")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="sms-bench-receiver-"))
    body = body_template(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_NOTIFY_")}
    serve = [command(), "serve", "--listen", "127.0.0.1:0", "--config"]
    rows = []
    with ExitStack() as stack:
        empty_url, _ = stack.enter_context(server([sys.executable, str(HERE / "empty_app.py")],
                                                  env))
        sachet_url = ""
        if args.sachet:
            port = free_port()
            stack.enter_context(server([args.sachet, "-listen-address", f"127.0.0.1:{port}",
                                        "-config", str(sachet_config(work / "sachet.yml",
                                                                     empty_url))], env,
                                       announce=f"http://127.0.0.1:{port}"))
            sachet_url = f"http://127.0.0.1:{port}"
        parked_sandbox = stack.enter_context(
            sandbox("--credits", "100000000", "--fault", "fastsms:slow:60"))
        config = write_config(work / "parked.yml", parked_sandbox, work / "parked.sqlite",
                              args.closing_the_loop)
        parked_url, _ = stack.enter_context(server([*serve, str(config)], env, kill=True))
        sandbox_url = stack.enter_context(sandbox("--credits", "100000000"))
        config = write_config(work / "config.yml", sandbox_url, work / "outbox.sqlite",
                              args.closing_the_loop)
        serve_url, pid = stack.enter_context(server([*serve, str(config)], env))
        for c in args.concurrency:
            runs: dict[str, list[dict[str, float]]] = {"empty": [], "parked": [], "deliv": [],
                                                       "sachet": []}
            for _ in range(args.rounds):  # interleaved: the machine's speed drifts
                runs["empty"].append(wrk(empty_url, c, args.seconds, body))
                if sachet_url:
                    runs["sachet"].append(wrk(sachet_url, c, args.seconds, body, "/alert"))
                runs["parked"].append(wrk(parked_url, c, args.seconds, body))
                runs["deliv"].append(measure_delivering(serve_url, sandbox_url, c,
                                                        args.seconds, body))
            def mid(kind: str, key: str) -> float:
                return median([r[key] for r in runs[kind]])
            def ratio(kind: str, base: str) -> str:  # each run against `base`'s of its round
                pairs = list(zip(runs[kind], runs[base]))
                return f"{median([r['rate'] / b['rate'] for r, b in pairs]):.2f}" if pairs else "-"
            rows.append([
                c, f"{mid('empty', 'rate'):.0f}",
                f"{mid('sachet', 'rate'):.0f}" if sachet_url else "-",
                f"{mid('parked', 'rate'):.0f} ({ratio('parked', 'sachet')} / "
                f"{ratio('parked', 'empty')})",
                f"{mid('deliv', 'rate'):.0f} ({ratio('deliv', 'parked')})",
                " / ".join(f"{mid(k, 'p99'):.1f}" if runs[k] else "-"
                           for k in ("empty", "sachet", "parked", "deliv")),
                f"{mid('deliv', 'texts_per_s'):.0f}", f"{peak_rss_mb(pid):.0f}",
                sum(r["non2xx"] for kind in ("parked", "deliv") for r in runs[kind]),
            ])
    shutil.rmtree(work, ignore_errors=True)
    print(f"receiver: wrk, {args.rounds} interleaved rounds of {args.seconds} s per "
          f"concurrency, medians; distinct alerts, SQLite WAL outbox"
          f"{'; acks and escalation on' if args.closing_the_loop else ''} ({machine()})\n")
    print(table(["conc.", "empty req/s", "sachet req/s",
                 "parked req/s (/ sachet / empty)", "delivering req/s (/ parked)",
                 "p99 ms empty/sachet/parked/deliv.", "texts/s sent", "peak RSS MB", "non-2xx"],
                rows))
    print("\nratios: medians of a run's rate over another's in the same round."
          "\ngoals at concurrency 10: delivering >= 0.6 of parked, p99 < 50 ms, RSS < 100 MB")


if __name__ == "__main__":
    main()
