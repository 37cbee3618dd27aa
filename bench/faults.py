"""Texts per alert and recipient under gateway faults: the promise is exactly one (issue 13).

    python bench/faults.py [--alerts 10] [--window 40]

Each row starts a fresh sandbox and `sms-notify serve` (or runs `sms-notify nagios`), injects
one fault into the sandbox, posts distinct alerts and waits until the receiver's outbox is idle
(or `--window` seconds pass: an outbox that keeps retrying never is), then counts the sandbox's
inbox: texts that reached a phone, per alert and recipient. Routes have two numbers; where a
row has a backup account, a recipient may get one text per account at most (docs/design.md, Decision 12).

It needs the sandbox's `garble` fault; run it in a checkout before and after a change to
compare.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from common import command, machine, sandbox, started, table

HERE = Path(__file__).resolve().parent
FIRING = json.loads((HERE.parent / "tests" / "fixtures" / "alertmanager" / "am-0.25-firing.json")
                    .read_text(encoding="utf-8"))
TOKEN = "bench-token"
NUMBERS = ["+447700900123", "+447700900124"]
BATCH = [f"+4477009006{i:02d}" for i in range(49)] + ["+447700900000"]  # 0000: unroutable
READY = "sms-notify serve listening on "


@dataclass
class Case:
    name: str
    faults: list[dict[str, Any]]
    via: list[str] = field(default_factory=lambda: ["fastsms", "server2sms"])
    to: list[str] = field(default_factory=lambda: list(NUMBERS))
    options: dict[str, str] = field(default_factory=dict)  # account -> extra URL query
    nagios: bool = False


CASES = [
    Case("server2sms takes the text, answers after timeout=2 (slow 2.5 s)",
         [{"gateway": "server2sms", "kind": "slow", "delay": 2.5, "seconds": 8}],
         via=["server2sms"], options={"server2sms": "&timeout=2"}),
    Case("FastSMS sends, answers `101, 102` (2xx garbled); backup server2sms",
         [{"gateway": "fastsms", "kind": "garble", "body": "101, 102"}]),
    Case("FastSMS sends, answers `101, 102`; no backup",
         [{"gateway": "fastsms", "kind": "garble", "body": "101, 102"}], via=["fastsms"]),
    Case("FastSMS no answer (timeout=1); backup server2sms",
         [{"gateway": "fastsms", "kind": "timeout", "delay": 5}],
         options={"fastsms": "&timeout=1"}),
    Case("FastSMS refuses the sender (-518); backup server2sms",
         [{"gateway": "fastsms", "kind": "error_code", "code": "-518"}]),
    Case("server2sms 14 for one number of a request of 50 (49 routable)",
         [{"gateway": "server2sms", "kind": "error_code", "code": "14", "count": 1}],
         via=["server2sms"], to=BATCH),
    Case("nagios: FastSMS answers 503 six times in a row (one alert)",
         [{"gateway": "fastsms", "kind": "http_error", "status": 503, "count": 6}],
         via=["fastsms"], nagios=True),
]


def account(url: str, scheme: str, extra: str) -> str:
    creds = "sandbox" if scheme == "fastsms" else "sandbox:sandbox"
    return f"{scheme}://{creds}@?from=Alerts&endpoint={url}{extra}"


def config(case: Case, url: str, outbox: Path) -> str:
    accounts = {s: account(url, s, case.options.get(s, "")) for s in ("fastsms", "server2sms")}
    return json.dumps({  # JSON is YAML
        "accounts": accounts,
        "routes": {"bench": {"to": case.to, "via": case.via}},
        "dedup_window": "10m",
        "server": {"listen": "127.0.0.1:0", "bearer_token": TOKEN, "outbox": str(outbox)},
    })


def payload(name: str) -> dict[str, Any]:
    data = copy.deepcopy(FIRING)
    data["receiver"] = "bench"
    data["groupKey"] = '{}:{alertname="%s"}' % name
    data["groupLabels"] = {"alertname": name}
    data["commonLabels"] = {**data["commonLabels"], "alertname": name}
    data["alerts"] = [{**data["alerts"][0], "fingerprint": name,
                       "labels": {**data["alerts"][0]["labels"], "alertname": name}}]
    return data


def serve(config_path: Path, env: dict[str, str]) -> AbstractContextManager[str]:
    """`sms-notify serve` on this config; yields its URL."""
    return started([command(), "serve", "--config", str(config_path)],
                   READY, env)


def idle(url: str) -> bool:
    metrics = requests.get(url + "/metrics", timeout=10).text
    return bool(re.search(r"^sms_notify_outbox_depth 0\.0$", metrics, re.M)) and bool(
        re.search(r"^sms_notify_outbox_inflight 0\.0$", metrics, re.M))


def inbox(sandbox_url: str) -> list[dict[str, Any]]:
    return list(requests.get(sandbox_url + "/inbox", timeout=10).json()["messages"])


def run(case: Case, alerts: int, window: float) -> tuple[Counter[tuple[str, str]], int, float]:
    """(texts per (alert, number), alerts sent, seconds to idle) for one case."""
    with tempfile.TemporaryDirectory() as tmp, sandbox() as box:
        env = {**os.environ, "XDG_STATE_HOME": tmp, "PYTHONUNBUFFERED": "1"}
        env.pop("SMS_NOTIFY_CONFIG", None)
        path = Path(tmp) / "sms-notify.yml"
        path.write_text(config(case, box, Path(tmp) / "outbox.sqlite"), encoding="utf-8")
        for fault in case.faults:
            requests.post(box + "/admin/faults", json=fault, timeout=10).raise_for_status()
        names = [f"Bench{i:03d}x{os.getpid()}" for i in range(1 if case.nagios else alerts)]
        started = time.monotonic()
        if case.nagios:
            subprocess.run(
                [command(), "nagios", "bench", "--config", str(path),
                 "-t", "PROBLEM", "-l", names[0], "-s", "DOWN", "-o", "unreachable"],
                env=env, capture_output=True, text=True, check=False,
            )
        else:
            with serve(path, env) as url:
                for name in names:
                    answer = requests.post(url + "/alert", json=payload(name), timeout=10,
                                           headers={"Authorization": f"Bearer {TOKEN}"})
                    answer.raise_for_status()
                deadline = started + window
                while time.monotonic() < deadline and not idle(url):
                    time.sleep(0.2)
        seconds = time.monotonic() - started
        got = Counter((n, m["to"]) for m in inbox(box) for n in names if n in m["text"])
        return got, len(names), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10)
    parser.add_argument("--window", type=float, default=40.0,
                        help="seconds to wait for an idle outbox (default 40)")
    args = parser.parse_args()
    rows = []
    for case in CASES:
        got, alerts, seconds = run(case, args.alerts, args.window)
        routable = [n for n in case.to if not n.endswith("0000")]
        slots = alerts * len(routable)
        texts = sum(got.values())
        missing = slots - len(got)
        rows.append([case.name, f"{alerts} x {len(routable)}", texts, f"{texts / slots:.2f}",
                     max(got.values(), default=0), missing, f"{seconds:.1f}"])
        print(f"done: {case.name}", file=sys.stderr, flush=True)
    print(f"{machine()}; serve and the sandbox on 127.0.0.1\n")
    print(table(["fault", "alerts x recipients", "texts", "texts per recipient",
                 "most to one recipient", "recipients without a text", "seconds"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
