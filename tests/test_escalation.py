"""Pages and escalation in the outbox (docs/design.md, Decision 15): a firing group neither
acknowledged nor resolved within `after` is texted to the escalation numbers too, once, and a
restart in between neither loses nor repeats it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sms_notify.config import Config, loads
from sms_notify.escalation import escalate
from sms_notify.outbox import Page, SqlOutbox, open_outbox
from sms_notify.testing import ManualClock

KEY = '{}:{alertname="DiskFull"}'
ESCALATION = ("+447700900125", "+447700900126")
TEXT = "FIRING DiskFull critical\ndb1:9100: DiskFull is down"


@pytest.fixture
def config() -> Config:
    return loads("""
accounts: {primary: "fastsms://T@?from=Alerts"}
routes:
  oncall:
    to: ["+447700900123"]
    via: [primary]
    max_segments: 2
    escalate: {after: 10m, to: ["+447700900125", "07700 900126"]}
defaults: {region: GB}
""")


def firing(state: str = "firing", key: str = KEY) -> Page:
    return Page("oncall", key, {"alertname": "DiskFull"}, text=TEXT, state=state,
                escalate_after=600.0)


@pytest.fixture
def outbox(location: str, now: ManualClock) -> Iterator[SqlOutbox]:
    box = open_outbox(location, now=now)
    yield box
    box.close()


def test_the_config_reads_escalate(config: Config) -> None:
    assert config.routes["oncall"].escalate is not None
    assert (config.routes["oncall"].escalate.after, config.routes["oncall"].escalate.to) == (
        600.0, ESCALATION)


def test_a_group_nobody_acknowledges_is_texted_to_the_escalation_numbers_once(
        outbox: SqlOutbox, now: ManualClock, config: Config) -> None:
    (page_id,) = outbox.open_pages([firing()])
    now.advance(599)
    assert escalate(outbox, config.routes, now()) == []
    now.advance(1)
    jobs = escalate(outbox, config.routes, now())
    assert [(j.recipient, j.text, j.via, j.max_segments, j.page, j.route) for j in jobs] == [
        (n, f"ESCALATED: {TEXT}", ("primary",), 2, page_id, "oncall") for n in ESCALATION]
    assert [(j.recipient, j.state) for j in outbox.jobs()] == [(n, "pending") for n in ESCALATION]
    now.advance(3600)
    assert outbox.open_pages([firing()]) == [page_id]  # a repeat: the same page goes on
    now.advance(3600)
    assert escalate(outbox, config.routes, now()) == []
    assert len(outbox.jobs()) == 2


def test_a_repeat_of_the_firing_group_does_not_put_its_escalation_off(
        outbox: SqlOutbox, now: ManualClock, config: Config) -> None:
    outbox.open_pages([firing()])
    now.advance(400)
    outbox.open_pages([firing()])
    now.advance(200)
    assert len(escalate(outbox, config.routes, now())) == 2


@pytest.mark.parametrize("end", ["acknowledged", "resolved"])
def test_acknowledged_or_resolved_in_time_it_does_not_escalate(
        outbox: SqlOutbox, now: ManualClock, config: Config, end: str) -> None:
    (page_id,) = outbox.open_pages([firing()])
    now.advance(300)
    if end == "acknowledged":
        outbox.acknowledge(page_id, now() + 3600)
    else:
        assert outbox.open_pages([firing("resolved")]) == [0]
    now.advance(3600)
    assert escalate(outbox, config.routes, now()) == []


def test_a_restart_between_the_page_and_after_neither_loses_nor_repeats_it(
        location: str, now: ManualClock, config: Config) -> None:
    first = open_outbox(location, now=now)
    first.open_pages([firing()])
    first.close()
    now.advance(900)  # down across `after`
    second = open_outbox(location, now=now)
    assert len(escalate(second, config.routes, now())) == 2
    second.close()
    third = open_outbox(location, now=now)
    assert escalate(third, config.routes, now()) == []
    assert len(third.jobs()) == 2
    third.close()


def test_firing_again_after_it_resolved_is_a_new_page_that_escalates_again(
        outbox: SqlOutbox, now: ManualClock, config: Config) -> None:
    (page_id,) = outbox.open_pages([firing()])
    now.advance(600)
    assert len(escalate(outbox, config.routes, now())) == 2
    outbox.open_pages([firing("resolved")])
    now.advance(60)
    assert outbox.open_pages([firing()]) == [page_id]
    now.advance(599)
    assert escalate(outbox, config.routes, now()) == []
    now.advance(1)
    assert len(escalate(outbox, config.routes, now())) == 2


def test_an_acknowledged_group_fires_anew_once_its_silence_ended(
        outbox: SqlOutbox, now: ManualClock, config: Config) -> None:
    (page_id,) = outbox.open_pages([firing()])
    outbox.acknowledge(page_id, now() + 1800)
    now.advance(900)
    outbox.open_pages([firing()])  # still silenced: no new firing
    now.advance(900)
    assert escalate(outbox, config.routes, now()) == []
    now.advance(1)
    outbox.open_pages([firing()])  # the silence ended and it fires: a new page
    now.advance(600)
    assert len(escalate(outbox, config.routes, now())) == 2


def test_a_route_gone_from_the_config_ends_its_page_quietly(
        outbox: SqlOutbox, now: ManualClock) -> None:
    outbox.open_pages([Page("gone", KEY, {}, text=TEXT, escalate_after=60)])
    now.advance(60)
    assert escalate(outbox, {}, now()) == []
    assert outbox.escalations_due(now() + 3600) == []


def test_a_route_without_escalation_opens_pages_that_never_escalate(
        outbox: SqlOutbox, now: ManualClock) -> None:
    outbox.open_pages([Page("oncall", KEY, {}, text=TEXT)])
    assert outbox.escalations_due(now() + 10**6) == []
