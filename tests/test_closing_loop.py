"""serve's loop (sms_notify.loop): reply feeds read from their cursor and advanced only once the
replies are acted on, pushed replies handed over, escalations and reports in the same passes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sms_notify import loop as loop_module
from sms_notify.acks import Acks, Outcome
from sms_notify.config import AckSettings, Route, loads
from sms_notify.feeds import feed_for
from sms_notify.loop import Loop
from sms_notify.manager import provider_for
from sms_notify.model import Account, Reply
from sms_notify.outbox import OutboxError, Page, SqliteOutbox
from sms_notify.receipts import Receipts
from sms_notify.testing import FakeGateway, ManualClock
from tests.test_acks import FakeAlertmanager

R = "+447700900123"


class Setup:
    def __init__(self, path: str, now: ManualClock, routes: dict[str, Route]) -> None:
        self.outbox = SqliteOutbox(path, now=now)
        self.accounts = {"inbox": Account("fake", name="inbox")}
        self.outcomes: list[tuple[str, str]] = []
        self.acks = Acks(self.outbox, FakeAlertmanager(), AckSettings(),  # type: ignore[arg-type]
                         {"oncall": ("inbox",)}, {R: "oncall"}, now=now,
                         on_reply=lambda a, o: self.outcomes.append((a, str(o))))
        self.woken = 0
        self.loop = Loop(self.outbox, self.accounts, routes,
                         Receipts(self.outbox, self.accounts, now=now), self.acks,
                         wake=self.wake, now=now)

    def wake(self) -> None:
        self.woken += 1

    def position(self) -> int:
        account = self.accounts["inbox"]
        return feed_for(account, provider_for("fake"), self.outbox.feeds(), "replies").position


@pytest.fixture
def setup(path: str, now: ManualClock, fake_gateways: Callable[..., FakeGateway],
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Setup, FakeGateway]]:
    monkeypatch.setattr(loop_module, "REPLY_POLL", 0.0)
    gateway = fake_gateways("fake", capabilities=frozenset({"replies"}))
    routes = loads("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {oncall: {to: ['+447700900123'],"
                   " via: p, escalate: {after: 1m, to: ['+447700900125']}}}").routes
    made = Setup(path, now, routes)
    yield made, gateway
    made.outbox.close()


def test_a_reply_feed_is_read_and_advanced_once_its_replies_are_acted_on(
        setup: tuple[Setup, FakeGateway]) -> None:
    made, gateway = setup
    gateway.inbound = [Reply("447700900123", "thanks", id="41", cursor=41),
                       Reply("447700900123", "on it", id="42", cursor=42)]
    made.loop.step()
    assert made.outcomes == [("inbox", "not_ack")] * 2
    assert made.position() == 42
    made.loop.step()
    assert len(made.outcomes) == 2  # read on from 42: nothing new


def test_replies_that_could_not_be_acted_on_are_read_again(
        setup: tuple[Setup, FakeGateway], monkeypatch: pytest.MonkeyPatch) -> None:
    made, gateway = setup
    gateway.inbound = [Reply("447700900123", "ACK", id="41", cursor=41)]

    def broken(account: str, reply_id: str) -> bool:
        raise OutboxError("outbox: disk I/O error")

    with monkeypatch.context() as patched:
        patched.setattr(made.outbox, "reply_seen", broken)
        made.loop.step()
    assert made.position() == 0 and made.outcomes == []
    made.loop.step()
    assert made.position() == 41 and made.outcomes == [("inbox", "no_page")]


def test_pushed_replies_are_acted_on_in_the_loops_pass(setup: tuple[Setup, FakeGateway]) -> None:
    made, _ = setup
    made.loop.hand_over("inbox", [Reply("447700900999", "ACK", id="1")])
    assert made.outcomes == []
    made.loop.step()
    assert made.outcomes == [("inbox", Outcome.UNKNOWN_NUMBER)]


def test_escalations_due_are_texted_in_a_pass(setup: tuple[Setup, FakeGateway],
                                              now: ManualClock) -> None:
    made, _ = setup
    made.outbox.open_pages([Page("oncall", "g", {"alertname": "A"}, text="FIRING A",
                                 escalate_after=60)])
    now.advance(60)
    made.loop.step()
    assert [(j.recipient, j.text) for j in made.outbox.jobs()] == [
        ("+447700900125", "ESCALATED: FIRING A")]
    assert made.woken == 1


def test_the_thread_starts_and_stops(setup: tuple[Setup, FakeGateway]) -> None:
    made, _ = setup
    made.loop.start()
    made.loop.hand_over("inbox", [Reply("447700900999", "ACK", id="1")])
    made.loop.stop()
    assert len(made.loop._threads) == 2
    assert not any(thread.is_alive() for thread in made.loop._threads)
