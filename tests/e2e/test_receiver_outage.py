"""Gateway outages behind `sms-notify serve` (docs/design.md, Decision 2): the route's first account
fails (HTTP 5xx, then requests that get no answer) and the texts go out through the second; then
every account fails for a while, and everything accepted is delivered once they recover.

The route is the doc's (primary FastSMS, then backup server2sms), with `timeout=1` on the
primary's URL so an unanswered request costs one second rather than the default ten.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import Sandbox
from .receiver import NUMBERS, Serve, receiver_config, serving, unique, wait_until
from .test_receiver_crash import first_line, payload

pytestmark = pytest.mark.e2e


@pytest.fixture
def rx(tmp_path: Path, fresh_sandbox: Sandbox) -> Any:
    def edit(data: dict[str, Any]) -> None:
        data["accounts"]["primary"] += "&timeout=1"

    config, env = receiver_config(tmp_path, fresh_sandbox, edit)
    with serving(config, env, tmp_path / "serve.log") as receiver:
        yield receiver


def by_gateway(sandbox: Sandbox, name: str) -> Counter[str]:
    return Counter(m["gateway"] for m in sandbox.inbox() if m["text"].startswith(first_line(name)))


def clear_faults(sandbox: Sandbox) -> None:
    requests.delete(sandbox.url + "/admin/faults", timeout=10).raise_for_status()


@pytest.mark.parametrize("fault", [{"kind": "http_error", "status": 503},
                                   {"kind": "timeout", "delay": 5}],
                         ids=["http-503", "no-answer"])
def test_first_account_down_second_takes_over(fresh_sandbox: Sandbox, rx: Serve,
                                              fault: dict[str, Any]) -> None:
    fresh_sandbox.fault(gateway="fastsms", **fault)
    name = unique("Failover")
    assert rx.post(payload(name)).status_code == 200
    got = wait_until(lambda: (c := by_gateway(fresh_sandbox, name))["server2sms"] >= 2 and c, 30,
                     "failover to server2sms", lambda: rx.log()[-3000:])
    assert got == Counter({"server2sms": len(NUMBERS)})  # through one account only, once
    tried = [r for r in fresh_sandbox.requests("fastsms") if r["fault"]]
    assert tried, "the primary was never tried"
    clear_faults(fresh_sandbox)
    # The primary rests a few seconds after its last failure (its breaker): alerts meanwhile go
    # through the backup, and the first after the rest is the probe that finds it working.
    later: list[str] = []

    def primary_again() -> bool:
        later.append(unique("Recovered"))
        assert rx.post(payload(later[-1])).status_code == 200
        time.sleep(1.0)
        return any(by_gateway(fresh_sandbox, name)["fastsms"] >= 2 for name in later)

    assert wait_until(primary_again, 15, "the primary taking texts again",
                      lambda: rx.log()[-3000:])
    for name in later:  # each through one account, once
        assert sorted(by_gateway(fresh_sandbox, name).values()) == [len(NUMBERS)]


def test_all_accounts_down_then_everything_is_delivered(fresh_sandbox: Sandbox, rx: Serve
                                                        ) -> None:
    for gateway in ("fastsms", "server2sms"):
        fresh_sandbox.fault(gateway=gateway, kind="http_error", status=503, seconds=4)
    names = [unique("Outage") for _ in range(5)]
    for name in names:
        assert rx.post(payload(name)).status_code == 200
    metrics = rx.metrics()
    assert "sms_notify_outbox_depth" in metrics

    def delivered() -> bool:
        return all(sum(by_gateway(fresh_sandbox, n).values()) >= len(NUMBERS) for n in names)

    wait_until(delivered, 45, "delivery after the outage", lambda: rx.log()[-3000:])
    wait_until(lambda: "sms_notify_outbox_depth 0.0" in rx.metrics(), 10, "an idle outbox")
    for name in names:
        got = [m for m in fresh_sandbox.inbox() if m["text"].startswith(first_line(name))]
        assert sorted(m["to"] for m in got) == list(NUMBERS), got  # each number once
    metrics = rx.metrics()
    assert 'outcome="unavailable"' in metrics  # the failed attempts are counted
    assert "sms_notify_dead_letters 0.0" in metrics
