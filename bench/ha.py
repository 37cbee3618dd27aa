"""The shared outbox: accept and delivery rates with PostgreSQL against SQLite, and two receivers
against one, side by side.

    python bench/ha.py [--alerts 2000] [--concurrency 16] [--rounds 2]

Each setup starts its receivers (`sms-notify serve`) on a fresh outbox and the sandbox's FastSMS
API, then posts `--alerts` distinct firing alerts (one text each) from `--concurrency` client
threads, spread evenly over the receivers. Reported: accepted per second (all 200s in), and
delivered per second (first post to the last text in the sandbox's inbox). PostgreSQL is
Debian's, started in a temporary folder (tests/postgres.py), fsync off as in the tests; SQLite
runs with synchronous=NORMAL, serve's default. The best of `--rounds` rounds is shown.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests
import yaml
from common import machine, sandbox, started, table, url_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.postgres import PostgresServer  # noqa: E402

from sms_notify.integrations.alertmanager.demo import FIRING  # noqa: E402

TOKEN = "bench-token"
TO = "+447700900123"


def payload(name: str) -> bytes:
    data = copy.deepcopy(FIRING)
    data["groupKey"] = '{}:{alertname="%s"}' % name
    data["groupLabels"] = {"alertname": name}
    data["commonLabels"] = {**data["commonLabels"], "alertname": name}
    data["alerts"][0]["labels"] = {**data["alerts"][0]["labels"], "alertname": name}
    data["alerts"][0]["fingerprint"] = name
    return json.dumps(data).encode()


def config(directory: Path, sandbox_url: str, outbox: str) -> Path:
    path = directory / "sms-notify.yml"
    path.write_text(yaml.safe_dump({
        "accounts": {"primary": url_for(sandbox_url, "fastsms", **{"from": "Alerts"})},
        "routes": {"bench": {"to": [TO], "via": ["primary"]}},
        "server": {"bearer_token": TOKEN, "outbox": outbox},
    }), encoding="utf-8")
    return path


def run(sandbox_url: str, receivers: list[str], alerts: int, concurrency: int
        ) -> tuple[float, float]:
    """(accepted per second, delivered per second) for one burst."""
    requests.post(f"{sandbox_url}/admin/reset", timeout=10).raise_for_status()  # and credit
    run_id = f"b{time.monotonic_ns()}"
    bodies = [payload(f"{run_id}x{i}") for i in range(alerts)]
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    local = threading.local()

    def post(i: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        answer = local.session.post(f"{receivers[i % len(receivers)]}/alert/bench", data=bodies[i],
                              headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(alerts)))
    accepted = time.perf_counter() - start
    while True:
        inbox = requests.get(f"{sandbox_url}/inbox", timeout=30).json()["messages"]
        if sum(run_id in m["text"] for m in inbox) >= alerts:
            break
        if time.perf_counter() - start > 300:
            raise SystemExit("delivery did not finish within 300 s")
        time.sleep(0.05)
    delivered = time.perf_counter() - start
    return alerts / accepted, alerts / delivered


def setup(stack: ExitStack, directory: Path, sandbox_url: str, outbox: str, count: int
          ) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_NOTIFY_")}
    path = config(directory, sandbox_url, outbox)
    return [stack.enter_context(started(
        [sys.executable, "-m", "sms_notify", "serve", "--config", str(path), "--listen",
         "127.0.0.1:0"], "sms-notify serve listening on ", env)) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    server = PostgresServer().start()
    results: dict[str, list[tuple[float, float]]] = {}
    try:
        with sandbox() as sandbox_url:
            for name, receivers in (("SQLite, one receiver", 1), ("PostgreSQL, one receiver", 1),
                                    ("PostgreSQL, two receivers", 2)):
                for _ in range(args.rounds):
                    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
                        outbox = (str(Path(tmp) / "outbox.sqlite") if name.startswith("SQLite")
                                  else server.fresh_database())
                        urls = setup(stack, Path(tmp), sandbox_url, outbox, receivers)
                        results.setdefault(name, []).append(
                            run(sandbox_url, urls, args.alerts, args.concurrency))
    finally:
        server.remove()
    rows: list[list[Any]] = []
    for name, measured in results.items():
        accept = max(a for a, _ in measured)
        deliver = max(d for _, d in measured)
        rows.append([name, f"{accept:,.0f}", f"{deliver:,.0f}"])
    print(f"{args.alerts} alerts, {args.concurrency} clients, best of {args.rounds}; "
          f"{machine()}")
    print(table(["outbox", "accepted/s", "delivered/s"], rows))


if __name__ == "__main__":
    main()
