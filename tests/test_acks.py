"""Acknowledgement by reply (docs/design.md, Decision 15): what an ACK silences, for how long,
what the number gets back, and every reply that is ignored, counted once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from sms_notify.acks import Acks, Outcome, ack_duration
from sms_notify.config import AckSettings
from sms_notify.model import Reply
from sms_notify.outbox import Job, Page, open_outbox
from sms_notify.silences import SilenceError
from sms_notify.testing import ManualClock

R = "+447700900123"
ESCALATION = "+447700900125"
KEY = '{}:{alertname="DiskFull"}'


@dataclass
class FakeAlertmanager:
    """Records silences; `down` makes it fail as the client does."""

    silences: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False

    def silence(self, matchers: dict[str, str], starts: float, ends: float, comment: str) -> str:
        if self.down:
            raise SilenceError("Alertmanager at http://127.0.0.1:9093 did not create the "
                               "silence: no answer (ConnectionError)")
        self.silences.append({"matchers": dict(matchers), "starts": starts, "ends": ends,
                              "comment": comment})
        return f"silence-{len(self.silences)}"


class World:
    def __init__(self, location: str, now: ManualClock) -> None:
        self.now = now
        self.outbox = open_outbox(location, now=now)
        self.am = FakeAlertmanager()
        self.outcomes: list[tuple[str, str]] = []
        self.confirmed = 0
        self.acks = Acks(self.outbox, self.am, AckSettings(3600, 86400),  # type: ignore[arg-type]
                         {"oncall": ("primary", "backup")}, {R: "oncall", ESCALATION: "oncall"},
                         region="GB", now=now, on_reply=lambda a, o: self.outcomes.append((a, o)),
                         on_confirm=self.confirm)

    def confirm(self) -> None:
        self.confirmed += 1

    def paged(self, name: str = "DiskFull", to: str = R, state: str = "firing") -> Job:
        """A firing text of the group `name` sent to `to` now."""
        (page_id,) = self.outbox.open_pages([Page(
            "oncall", f'{{}}:{{alertname="{name}"}}', {"alertname": name},
            text=f"FIRING {name}")])
        (job,) = self.outbox.enqueue([Job("oncall", to, f"FIRING {name}", ("primary",),
                                          page=page_id)], 0)
        job.state, job.done_at = "sent", self.now()
        self.outbox.save([job])
        if state == "resolved":
            self.outbox.open_pages([Page("oncall", f'{{}}:{{alertname="{name}"}}', {},
                                         state="resolved")])
        return job

    def confirmations(self) -> list[tuple[str, str, tuple[str, ...]]]:
        return [(j.recipient, j.text, j.via) for j in self.outbox.jobs() if j.kind == "ack"]


@pytest.fixture
def world(location: str, now: ManualClock) -> Iterator[World]:
    made = World(location, now)
    yield made
    made.outbox.close()


def reply(text: str = "ACK", sender: str = "447700900123", id: str = "1", **kw: Any) -> Reply:
    return Reply(sender, text, id=id, **kw)


@pytest.mark.parametrize(("text", "seconds"), [
    ("ACK", 3600), ("ack", 3600), ("Ack.", 3600), ("  ack  ", 3600), ("ACK 30m", 1800),
    ("ack 1h30m", 5400), ("ACK 48h", 86400), ("ACK thanks", 3600), ("ACK 0", 3600),
    ("ACKNOWLEDGED", None), ("ok ack", None), ("", None), ("NACK", None),
    # as people type them (the outside probe: `ACK 30 m` silenced for 30 s, `ACK 90` for 90 s)
    ("ACK 30 m", 1800), ("ack 90", 5400), ("ACK 45 min", 2700), ("ack 2 hours", 7200),
    ("ACK 1.5h", 5400), ("ACK 1,5 h", 5400), ("ACK 30s", 30), ("ACK 1w", 86400),
    ("ACK 9999d", 86400), ("ACK -5m", 3600), ("ACK 0s", 3600), ("ACK 10 mins please", 600)])
def test_the_first_word_is_ack_with_an_optional_duration_capped(text: str,
                                                                 seconds: float | None) -> None:
    assert ack_duration(text, AckSettings(3600, 86400)) == seconds


def test_an_ack_silences_the_group_of_the_latest_firing_text_and_is_confirmed(
        world: World) -> None:
    world.paged("Older")
    world.now.advance(60)
    world.paged("DiskFull")
    world.now.advance(60)
    assert world.acks.take("primary", [reply("ack 30m")]) == [Outcome.ACKNOWLEDGED]
    assert world.am.silences == [{"matchers": {"alertname": "DiskFull"}, "starts": world.now(),
                                  "ends": world.now() + 1800,
                                  "comment": f"acknowledged by SMS from {R}"}]
    until = datetime.fromtimestamp(world.now() + 1800, UTC).strftime("%H:%M")
    assert world.confirmations() == [
        (R, f"ACK: silenced alertname=DiskFull for 30m, until {until} UTC", ("primary", "backup"))]
    assert world.confirmed == 1
    assert world.outcomes == [("primary", "acknowledged")]
    page = world.outbox.last_page(R, 0)
    assert page is not None and page.state == "acknowledged" and page.escalate_at == 0


def test_the_text_a_reply_answers_decides_where_the_gateway_says_which(world: World) -> None:
    answered = world.paged("Older")
    world.now.advance(60)
    world.paged("DiskFull")
    world.acks.take("mymobileapi", [reply("ACK", reference=answered.reference)])
    assert world.am.silences[0]["matchers"] == {"alertname": "Older"}


def test_the_same_reply_twice_acts_once(world: World) -> None:
    world.paged()
    assert world.acks.take("primary", [reply(), reply()]) == [Outcome.ACKNOWLEDGED,
                                                             Outcome.DUPLICATE]
    no_id = reply(id="", received=1.0)
    assert world.acks.take("primary", [no_id, no_id]) == [Outcome.ACKNOWLEDGED,
                                                         Outcome.DUPLICATE]
    assert len(world.am.silences) == 2 and len(world.confirmations()) == 2


def test_a_reply_from_a_number_on_no_route_is_ignored_logged_and_counted(
        world: World, caplog: Any) -> None:
    world.paged()
    with caplog.at_level(logging.WARNING, "sms_notify.acks"):
        assert world.acks.take("primary", [reply(sender="447700900999"), reply(
            sender="not a number", id="2")]) == [Outcome.UNKNOWN_NUMBER] * 2
    assert not world.am.silences and not world.confirmations()
    assert caplog.text.count("from a number on no route") == 2
    assert world.outcomes == [("primary", "unknown_number")] * 2


def test_a_national_number_of_the_config_region_is_the_same_number(world: World) -> None:
    world.paged()
    assert world.acks.take("primary", [reply(sender="07700 900123")]) == [Outcome.ACKNOWLEDGED]


def test_a_reply_that_is_no_ack_is_ignored(world: World) -> None:
    world.paged()
    assert world.acks.take("primary", [reply("on it")]) == [Outcome.NOT_ACK]
    assert not world.am.silences and not world.confirmations()


def test_an_ack_that_matches_no_recent_page_is_ignored(world: World, caplog: Any) -> None:
    assert world.acks.take("primary", [reply(id="1")]) == [Outcome.NO_PAGE]
    world.paged()
    world.now.advance(86401)
    assert world.acks.take("primary", [reply(id="2")]) == [Outcome.NO_PAGE]
    assert not world.am.silences and "no firing text sent to it" in caplog.text


def test_an_ack_for_a_group_that_resolved_silences_nothing_and_says_so(world: World) -> None:
    world.paged(state="resolved")
    assert world.acks.take("primary", [reply()]) == [Outcome.RESOLVED]
    assert not world.am.silences
    assert world.confirmations() == [
        (R, "ACK: alertname=DiskFull has resolved already; nothing silenced",
         ("primary", "backup"))]


def test_an_ack_alertmanager_does_not_take_is_answered_so(world: World, caplog: Any) -> None:
    world.paged()
    world.am.down = True
    assert world.acks.take("primary", [reply()]) == [Outcome.FAILED]
    assert world.confirmations() == [
        (R, "ACK failed: Alertmanager did not silence alertname=DiskFull; try again or silence "
            "it there", ("primary", "backup"))]
    page = world.outbox.last_page(R, 0)
    assert page is not None and page.state == "firing"  # it may still escalate
    assert "event=ack_failed" in caplog.text


def test_a_number_acts_at_most_five_times_a_minute(world: World) -> None:
    world.paged()
    outcomes = world.acks.take("primary", [reply(id=str(i)) for i in range(7)])
    assert outcomes == [Outcome.ACKNOWLEDGED] * 5 + [Outcome.RATE_LIMITED] * 2


def test_an_escalation_number_acknowledges_the_escalated_text(world: World) -> None:
    world.paged(to=ESCALATION)
    assert world.acks.take("primary", [reply(sender=ESCALATION)]) == [Outcome.ACKNOWLEDGED]
    assert world.confirmations()[0][0] == ESCALATION
