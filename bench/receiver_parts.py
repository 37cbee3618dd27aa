"""Where a webhook's time goes: the receiver's /alert with its outbox taken away step by step.

    python bench/receiver_parts.py [--seconds 4] [--rounds 3] [--concurrency 10]

The same wrk load as bench/receiver.py (distinct real Alertmanager payloads), in interleaved
rounds, against four servers that differ only in what stands behind /alert:

- empty:    bench/empty_app.py, the stack alone (uvicorn, Starlette's router, a plain ASGI
            endpoint that reads the body and answers an empty 200);
- no-commit: serve's app whose outbox keeps the jobs in memory (auth, JSON decode and
            validation, route, text fitted to its parts, jobs, metrics, JSON answer);
- NORMAL:   serve's app with the SQLite outbox as shipped (WAL, synchronous=NORMAL: a commit
            survives a killed process);
- FULL:     the same with synchronous=FULL (a commit also survives power loss).

No dispatcher runs, so nothing is sent: this measures the accept path only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from common import machine, table
from receiver import HERE, TOKEN, body_template, server, wrk

MODES = ("no-commit", "NORMAL", "FULL")


class MemoryOutbox:
    """Accepts every job at once and keeps it in a list: the outbox minus durability."""

    def __init__(self) -> None:
        self.jobs: list[Any] = []

    def enqueue(self, jobs: Sequence[Any], dedup_window: float) -> list[Any]:
        self.jobs.extend(jobs)
        return list(jobs)


class Idle:
    """A dispatcher that never sends."""

    running = True

    def start(self) -> None: ...
    def wake(self) -> None: ...
    def drain(self, timeout: float) -> None: ...


def run_server(mode: str) -> None:
    """Serve /alert in `mode` on a free port; print the address like the other servers."""
    import socket

    import uvicorn

    from sms_notify.config import loads
    from sms_notify.integrations.alertmanager.server import SWITCH_INTERVAL, create_app
    from sms_notify.outbox import SqliteOutbox

    sys.setswitchinterval(SWITCH_INTERVAL)
    work = Path(tempfile.mkdtemp(prefix="sms-bench-parts-"))
    config = loads(
        "accounts:\n  primary: fastsms://token@?from=Alerts&endpoint=http://127.0.0.1:9\n"
        "routes:\n  oncall: {to: ['+447700900123'], via: [primary]}\n"
        f"server:\n  bearer_token: {TOKEN}\n  outbox: {work / 'outbox.sqlite'}\n"
    )
    outbox: Any = (MemoryOutbox() if mode == "no-commit"
                   else SqliteOutbox(str(work / "outbox.sqlite"), mode))
    app = create_app(config, outbox, Idle())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(
        sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10])
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve)
        return
    work = Path(tempfile.mkdtemp(prefix="sms-bench-parts-"))
    body = body_template(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_NOTIFY_")}
    rows = []
    with ExitStack() as stack:
        urls = {"empty": stack.enter_context(
            server([sys.executable, str(HERE / "empty_app.py")], env))[0]}
        for mode in MODES:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", mode]
            urls[mode] = stack.enter_context(server(cmd, env, kill=True))[0]
        for c in args.concurrency:
            rates: dict[str, list[float]] = {name: [] for name in urls}
            p99: dict[str, list[float]] = {name: [] for name in urls}
            for _ in range(args.rounds):
                for name, url in urls.items():
                    result = wrk(url, c, args.seconds, body)
                    if result["non2xx"]:
                        raise SystemExit(f"{name}: {result['non2xx']} answers were not 200")
                    rates[name].append(result["rate"])
                    p99[name].append(result["p99"])
            for name in urls:
                ratio = statistics.median(r / e for r, e in zip(rates[name], rates["empty"]))
                per_request = 1e6 / statistics.median(rates[name])
                rows.append([c, name, f"{statistics.median(rates[name]):.0f}", f"{ratio:.2f}",
                             f"{per_request:.0f}", f"{statistics.median(p99[name]):.1f}"])
    print(f"receiver parts: wrk, {args.rounds} interleaved rounds of {args.seconds} s, medians "
          f"({machine()})\n")
    print(table(["conc.", "behind /alert", "req/s", "ratio to empty", "us per request",
                 "p99 ms"], rows))


if __name__ == "__main__":
    main()
