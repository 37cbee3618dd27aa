"""A planned SIGTERM of `sms-notify serve` with requests in flight is not a crash (probe 19).

Drain lets the requests on the wire finish and records their outcomes, and puts the requests
claimed but never sent back to pending; the next start finds nothing in flight, so nothing
goes again blindly through FastSMS, which cannot be asked. Every alert is texted once. (Before,
the claimed ones were sent during the drain, and those still out at its end were resent blindly
by the next start, as after a crash.)
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .conftest import Sandbox
from .receiver import NUMBERS, group, receiver_config, start_serve, unique, wait_until

pytestmark = pytest.mark.e2e

ALERTS = 12
# The sandbox holds each FastSMS request this long: two in a row on a sender take longer than
# serve's 30 s drain, so a request claimed ahead of a free sender and sent during the drain
# would still be out at its end.
SLOW = 16.0


def test_sigterm_with_requests_in_flight_leaves_nothing_to_resend_blindly(
        tmp_path: Path, fresh_sandbox: Sandbox) -> None:
    def edit(data: dict[str, Any]) -> None:
        route = data["routes"]["sms-webhook"]
        route["to"], route["via"] = [NUMBERS[0]], ["primary"]
        data["accounts"]["primary"] += "&timeout=30"
        data["server"]["workers"] = 2

    config, env = receiver_config(tmp_path, fresh_sandbox, edit)
    names = [unique("Term") for _ in range(ALERTS)]
    fresh_sandbox.fault(gateway="fastsms", kind="slow", delay=SLOW)
    rx = start_serve(config, env, tmp_path / "serve.log")
    for name in names:
        assert rx.post(group(name)).status_code == 200

    def states() -> Counter[str]:
        with sqlite3.connect(tmp_path / "outbox.sqlite") as db:
            return Counter(s for (s,) in db.execute("SELECT state FROM jobs"))

    # two on the wire, two claimed ahead of a free sender
    wait_until(lambda: states()["inflight"] >= 4, 10, "requests in flight", rx.log)
    time.sleep(0.5)  # the first two in the sandbox's hold
    assert rx.terminate() == 0, rx.log()
    left = states()
    assert left["inflight"] == 0 and left["sent"] >= 1, (left, rx.log())
    assert "delivery_killed" not in rx.log()

    fresh_sandbox.clear()  # the fault, and what the first run sent is counted below
    sent_before = left["sent"]
    rx = start_serve(config, env, tmp_path / "serve2.log")
    try:
        wait_until(lambda: len(fresh_sandbox.inbox("fastsms")) >= ALERTS - sent_before, 30,
                   "the rest delivered")
        time.sleep(1)
        assert len(fresh_sandbox.inbox("fastsms")) == ALERTS - sent_before
        assert "resend_without_lookup" not in rx.log(), rx.log()
    finally:
        assert rx.terminate() == 0, rx.log()
