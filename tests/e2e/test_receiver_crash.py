"""`sms-notify serve` is SIGKILLed in the middle of a burst of distinct alerts and restarted on
the same outbox (docs/design.md, "The Alertmanager receiver" 5 and Decision 1).

- Every alert that got a 200 is delivered after the restart.
- No alert is delivered twice, except jobs that were in flight at the kill through a gateway
  that cannot be asked about them. FastSMS cannot be asked, so its duplicates are bounded by the
  jobs the outbox had in flight. server2sms can be asked about our reference, so it has none.
- Alertmanager re-sending what was accepted before the kill sends nothing again.

The sandbox holds each request a little (a `slow` fault), so requests are in flight when the
kill comes.
"""

from __future__ import annotations

import copy
import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from sms_notify.integrations.alertmanager.demo import FIRING

from .conftest import Sandbox
from .receiver import NUMBERS, Serve, receiver_config, start_serve, unique, wait_until

pytestmark = pytest.mark.e2e

ALERTS = 700  # offered
KILL_AFTER = 500  # accepted (200) before the kill
SLOW = 0.2  # the sandbox holds each gateway request this long during the burst


def payload(name: str) -> dict[str, Any]:
    data = copy.deepcopy(FIRING)
    data["groupKey"] = '{}:{alertname="%s"}' % name
    data["groupLabels"] = {"alertname": name}
    data["commonLabels"] = {**data["commonLabels"], "alertname": name}
    data["alerts"][0]["labels"] = {**data["alerts"][0]["labels"], "alertname": name}
    data["alerts"][0]["annotations"] = {"summary": f"{name} is down"}
    data["alerts"][0]["fingerprint"] = name
    return data


def first_line(name: str) -> str:
    return f"FIRING {name} critical"


def burst(rx: Serve, payloads: list[dict[str, Any]], kill_after: int) -> set[int]:
    """Post concurrently, as Alertmanager's pipelines do; SIGKILL once `kill_after` got a 200.
    Returns the indexes that got a 200."""
    accepted: set[int] = set()
    lock = threading.Lock()
    killed = threading.Event()

    def post(i: int) -> None:
        if killed.is_set():
            return
        try:
            answer = rx.post(payloads[i], timeout=10)
        except requests.RequestException:
            return  # no answer: Alertmanager would retry
        if answer.status_code == 200:
            with lock:
                accepted.add(i)
                if len(accepted) >= kill_after and not killed.is_set():
                    killed.set()
                    rx.kill()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(post, range(len(payloads))))
    assert killed.is_set(), f"only {len(accepted)} accepted; the kill never came"
    return accepted


@pytest.mark.parametrize(("gateway", "account"), [("fastsms", "primary"),
                                                  ("server2sms", "backup")])
def test_sigkill_mid_burst_loses_nothing_and_repeats_only_the_unknowable(
        tmp_path: Path, fresh_sandbox: Sandbox, gateway: str, account: str) -> None:
    def edit(data: dict[str, Any]) -> None:
        route = data["routes"]["sms-webhook"]
        route["to"], route["via"] = [NUMBERS[0]], [account]
        data["server"]["workers"] = 8

    config, env = receiver_config(tmp_path, fresh_sandbox, edit)
    run = unique("Crash")
    names = [f"{run}x{i:04d}" for i in range(ALERTS)]
    payloads = [payload(n) for n in names]
    fresh_sandbox.fault(gateway=gateway, kind="slow", delay=SLOW)
    rx = start_serve(config, env, tmp_path / "serve.log")
    accepted = burst(rx, payloads, KILL_AFTER)

    with sqlite3.connect(tmp_path / "outbox.sqlite") as db:  # what the dead process left
        states = dict(Counter(s for (s,) in db.execute("SELECT state FROM jobs")))
        inflight = {t.splitlines()[0] for (t,) in
                    db.execute("SELECT text FROM jobs WHERE state = 'inflight'")}
    print(f"\n{gateway}: {len(accepted)} accepted before SIGKILL; outbox then: {states}")
    requests.delete(fresh_sandbox.url + "/admin/faults", timeout=10).raise_for_status()

    rx = start_serve(config, env, tmp_path / "serve.log")
    try:
        # Alertmanager retries everything it has no 200 for; re-sends of the accepted ones
        # (a 200 lost in the kill, an HA peer) must change nothing.
        replies = {}
        with ThreadPoolExecutor(8) as pool:
            for i, answer in zip(range(ALERTS), pool.map(lambda p: rx.post(p), payloads)):
                assert answer.status_code == 200, answer.text
                replies[i] = answer.json()
        for i in accepted:
            assert replies[i]["jobs"] == 0 and replies[i]["duplicates"] == 1, replies[i]

        def delivered() -> Counter[str]:
            return Counter(m["text"].splitlines()[0] for m in fresh_sandbox.inbox())

        wait_until(lambda: all(delivered()[first_line(n)] for n in names), 60,
                   "delivery of every alert", lambda: rx.log()[-3000:])
        # the accepted ones once more, after delivery: nothing new goes out
        for i in sorted(accepted)[:50]:
            assert rx.post(payloads[i]).json()["jobs"] == 0
        wait_until(lambda: "sms_notify_outbox_depth 0.0" in rx.metrics(), 10, "an idle outbox")
        counts = delivered()
        twice = {line for line, n in counts.items() if n > 1}
        print(f"{gateway}: in flight at the kill {len(inflight)}, delivered twice {len(twice)}")
        assert all(counts[first_line(names[i])] >= 1 for i in accepted)
        assert twice <= inflight, twice - inflight  # only what was in flight
        assert max(counts.values()) <= 2
        if gateway == "server2sms":  # it can be asked: exactly once, in flight or not
            assert not twice, twice
        assert rx.terminate() == 0
    finally:
        if rx.proc.poll() is None:
            rx.kill()


def inflight_jobs(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'inflight'")
                   .fetchone()[0])


HELD = 5.0  # the gateway holds the request this long before it takes it
TIMEOUT = 6  # the account's request timeout


def test_a_request_the_gateway_takes_after_the_kill_is_found_not_sent_again(
        tmp_path: Path, fresh_sandbox: Sandbox) -> None:
    """SIGKILL while the gateway still holds a request, restart at once: the gateway takes the
    request only after the restart. Asking it straight away would find no trace and send the
    text again; the look-up waits out the account's request timeout and finds it."""
    def edit(data: dict[str, Any]) -> None:
        route = data["routes"]["sms-webhook"]
        route["to"], route["via"] = [NUMBERS[0]], ["backup"]
        data["accounts"]["backup"] += f"&timeout={TIMEOUT}"

    config, env = receiver_config(tmp_path, fresh_sandbox, edit)
    db = tmp_path / "outbox.sqlite"
    fresh_sandbox.fault(gateway="server2sms", kind="slow", delay=HELD)
    rx = start_serve(config, env, tmp_path / "serve.log")
    name = unique("Late")
    assert rx.post(payload(name)).status_code == 200
    wait_until(lambda: inflight_jobs(db) == 1, 10, "the text in flight", rx.log)
    sent = time.monotonic()  # the request leaves within milliseconds of its claim
    time.sleep(1.0)  # the gateway has it now, and holds it
    rx.kill()
    requests.delete(fresh_sandbox.url + "/admin/faults", timeout=10).raise_for_status()
    rx = start_serve(config, env, tmp_path / "serve2.log")
    try:
        restarted = time.monotonic() - sent
        assert restarted < HELD - 1, f"restarted {restarted:.1f}s after the send: too late to tell"

        def texts() -> list[dict[str, Any]]:
            return [m for m in fresh_sandbox.inbox() if m["text"].startswith(first_line(name))]

        wait_until(lambda: inflight_jobs(db) == 0, TIMEOUT + 20, "the recovery", rx.log)
        wait_until(lambda: time.monotonic() - sent > HELD + 1 and texts(), 20, "the text")
        assert len(texts()) == 1, texts()
        assert "found_at_gateway=1" in rx.log(), rx.log()[-2000:]
        assert rx.terminate() == 0
    finally:
        if rx.proc.poll() is None:
            rx.kill()


def test_sigterm_lets_the_sends_in_flight_finish(tmp_path: Path, fresh_sandbox: Sandbox) -> None:
    """systemd's stop: no new requests, the texts already on their way arrive, exit 0."""
    config, env = receiver_config(tmp_path, fresh_sandbox)
    fresh_sandbox.fault(gateway="fastsms", kind="slow", delay=1.5)
    rx = start_serve(config, env, tmp_path / "serve.log")
    try:
        name = unique("Drain")
        assert rx.post(payload(name)).status_code == 200

        def inflight() -> int:
            with sqlite3.connect(tmp_path / "outbox.sqlite") as db:
                return int(db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'inflight'")
                           .fetchone()[0])

        wait_until(inflight, 10, "a send in flight", rx.log)
        assert rx.terminate() == 0, rx.log()
        assert sorted(m["to"] for m in fresh_sandbox.inbox()
                      if m["text"].startswith(first_line(name))) == list(NUMBERS)
        assert inflight() == 0
    finally:
        if rx.proc.poll() is None:
            rx.kill()
