"""The real prometheus-alertmanager 0.25 posts to the real `sms-notify serve` (bearer auth on,
as docs/alertmanager.md shows), which delivers through the sandbox gateways.

Alertmanager runs standalone (RECIPES.md, section 1) with group_wait 1s and group_interval 2s:
firing arrives about 1 s after the alert is posted, resolved at the next 2 s tick.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from .conftest import Sandbox, stop
from .receiver import (
    NUMBERS,
    TOKEN,
    Alertmanager,
    counter,
    Serve,
    alertmanager_yml,
    am_alert,
    receiver_config,
    start_alertmanager,
    serving,
    unique,
    wait_until,
)

pytestmark = pytest.mark.e2e


def texts(sandbox: Sandbox, needle: str) -> list[dict[str, Any]]:
    return [m for m in sandbox.inbox() if needle in m["text"]]


@pytest.fixture
def serve(tmp_path: Path, fresh_sandbox: Sandbox) -> Any:
    config, env = receiver_config(tmp_path, fresh_sandbox)
    with serving(config, env, tmp_path / "serve.log") as receiver:
        yield receiver


@pytest.fixture
def alertmanagers(tmp_path: Path, serve: Serve) -> Any:
    """Two Alertmanagers with the same config and no cluster between them: both notify, as an
    HA pair whose gossip is down does."""
    token_file = tmp_path / "sms-notify.token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    started: list[Alertmanager] = []
    try:
        for name in ("am1", "am2"):
            started.append(start_alertmanager(tmp_path / name,
                                              alertmanager_yml(serve.url, token_file)))
        yield started
    finally:
        for am in started:
            stop(am.proc)


def test_firing_and_resolved_reach_the_phones(
        fresh_sandbox: Sandbox, serve: Serve, alertmanagers: list[Alertmanager]) -> None:
    am = alertmanagers[0]
    name = unique("DiskFull")
    starts = datetime.now(UTC)
    am.post_alerts([am_alert(name, starts)])

    def evidence() -> str:
        return f"inbox={fresh_sandbox.inbox()}\nserve:\n{serve.log()}\nam:\n{am.log()[-3000:]}"

    firing = wait_until(lambda: len(texts(fresh_sandbox, f"FIRING {name}")) >= 2 and
                        texts(fresh_sandbox, f"FIRING {name}"), 20, "firing texts", evidence)
    assert sorted(m["to"] for m in firing) == list(NUMBERS)
    assert firing[0]["text"] == f"FIRING {name} critical\ndb1:9100: {name} is down"
    assert {m["gateway"] for m in firing} == {"fastsms"}  # the route's first account

    am.post_alerts([am_alert(name, starts, resolved=True)])
    done = wait_until(lambda: len(texts(fresh_sandbox, f"RESOLVED {name}")) >= 2 and
                      texts(fresh_sandbox, f"RESOLVED {name}"), 20, "resolved texts", evidence)
    assert sorted(m["to"] for m in done) == list(NUMBERS)
    # Alertmanager authenticated (a 401 would never deliver) and saw 200s only
    metrics = serve.metrics()
    assert counter(metrics, "sms_notify_webhooks_total", route="sms-webhook", code="200") >= 2
    assert counter(metrics, "sms_notify_webhooks_total", code="401") == 0
    assert "Notify success" in am.log()


def test_a_resent_notification_sends_nothing_again(
        fresh_sandbox: Sandbox, serve: Serve, alertmanagers: list[Alertmanager]) -> None:
    """Both Alertmanagers send the same group: the second POST is a re-send of an accepted
    payload, answered 200 and dropped."""
    name = unique("NodeDown")
    starts = datetime.now(UTC)
    for am in alertmanagers:
        am.post_alerts([am_alert(name, starts)])

    def posts() -> float:
        return counter(serve.metrics(), "sms_notify_webhooks_total", route="sms-webhook",
                       code="200")

    wait_until(lambda: posts() >= 2, 20, "both Alertmanagers posting",
               lambda: serve.log() + alertmanagers[1].log()[-2000:])
    wait_until(lambda: len(texts(fresh_sandbox, name)) >= 2, 10, "the texts")
    metrics = serve.metrics()
    assert counter(metrics, "sms_notify_jobs_duplicate_total", route="sms-webhook") == 2
    assert counter(metrics, "sms_notify_jobs_accepted_total", route="sms-webhook") == 2
    wait_until(lambda: counter(serve.metrics(), "sms_notify_outbox_depth") == 0, 10, "idle")
    got = texts(fresh_sandbox, name)
    assert sorted(m["to"] for m in got) == list(NUMBERS), got  # once each, not twice


def test_wrong_token_is_refused_and_alertmanager_keeps_trying(
        tmp_path: Path, fresh_sandbox: Sandbox, serve: Serve) -> None:
    token_file = tmp_path / "wrong.token"
    token_file.write_text("not-the-token", encoding="utf-8")
    am = start_alertmanager(tmp_path / "am-wrong", alertmanager_yml(serve.url, token_file))
    try:
        name = unique("Unauthorized")
        am.post_alerts([am_alert(name, datetime.now(UTC))])
        wait_until(lambda: counter(serve.metrics(), "sms_notify_webhooks_total", code="401") >= 2,
                   20, "Alertmanager's re-sends after a 401", am.log)
        assert "unexpected status code 401" in am.log()
        assert not texts(fresh_sandbox, name)
        assert TOKEN not in serve.log() and "not-the-token" not in serve.log()
    finally:
        stop(am.proc)
