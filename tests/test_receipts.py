"""Delivery reports in serve's outbox (docs/design.md, Decision 15): when a gateway is asked
about a sent text, what is recorded, and a text the handset never got sent again through the
route's next account, once; against fake gateways and a clock that moves when told."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from sms_notify import hookimpl
from sms_notify.dispatch import Dispatcher
from sms_notify.errors import Category, ProviderError
from sms_notify.model import Account, DeliveryReport, Push, Receipt
from sms_notify.outbox import Job, open_outbox
from sms_notify.receipts import CHECKS, DEFAULT_WINDOW, MARGIN, Receipts
from sms_notify.testing import FakeGateway, ManualClock, registered

R = "+447700900123"
VIA = ("primary", "secondary")


class Loop:
    """An outbox, a dispatcher and its receipts over two fake gateways."""

    def __init__(self, location: str, now: ManualClock, first: FakeGateway, second: FakeGateway,
                 **options: Any) -> None:
        accounts = {"primary": Account(first.scheme, name="primary"),
                    "secondary": Account(second.scheme, name="secondary")}
        self.now = now
        self.outbox = open_outbox(location, now=now)
        self.dispatcher = Dispatcher(self.outbox, accounts, now=now, sleep=now.sleep_for,
                                     rng=random.Random(0))
        self.reported: list[tuple[int, str, float | None]] = []
        self.woken = 0
        self.receipts = Receipts(self.outbox, self.dispatcher.accounts, now=now,
                                 on_report=lambda j, r, s: self.reported.append((j.id, r.state,
                                                                                 s)),
                                 on_resend=self.wake, **options)
        self.dispatcher.receipts = self.receipts

    def wake(self) -> None:
        self.woken += 1

    def page(self, *numbers: str) -> list[Job]:
        """Texts accepted and sent at once."""
        self.outbox.enqueue([Job("oncall", n, "DISK FULL on db1", VIA) for n in numbers or (R,)],
                            600)
        self.dispatcher.step()
        return self.outbox.jobs("sent")

    def job(self, job_id: int) -> Job:
        found = self.outbox.get(job_id)
        assert found is not None
        return found


@pytest.fixture
def gateways(fake_gateways: Callable[..., FakeGateway]) -> tuple[FakeGateway, FakeGateway]:
    return (fake_gateways("fake", capabilities=frozenset({"receipts"})),
            fake_gateways("backup", capabilities=frozenset({"receipts"})))


@pytest.fixture
def loop(location: str, now: ManualClock, gateways: tuple[FakeGateway, FakeGateway]
         ) -> Iterator[Loop]:
    made = Loop(location, now, *gateways)
    yield made
    made.outbox.close()


def test_a_sent_text_is_asked_about_5s_after_the_send(loop: Loop,
                                                       gateways: tuple[FakeGateway, ...]) -> None:
    (job,) = loop.page()
    sent = loop.now()
    assert job.check_at == sent + CHECKS[0] == sent + 5
    gateways[0].reports[job.message_id] = "delivered"
    loop.now.advance(4.9)
    assert loop.receipts.check() == 0
    assert loop.job(job.id).receipt == ""
    loop.now.advance(0.1)
    assert loop.receipts.check() == 1
    done = loop.job(job.id)
    assert (done.receipt, done.receipt_at, done.check_at) == ("delivered", sent + 5, 0.0)
    assert loop.reported == [(job.id, "delivered", 5.0)]
    loop.now.advance(3600)
    assert loop.receipts.check() == 0  # never asked again


def test_without_a_final_report_it_is_asked_at_growing_intervals_then_unknown(
        loop: Loop) -> None:
    (job,) = loop.page()
    sent = loop.now()
    asked: list[float] = []
    while (check_at := loop.job(job.id).check_at) > 0:
        loop.now.t = check_at
        asked.append(check_at - sent)
        loop.receipts.check()
    assert asked == [*CHECKS, DEFAULT_WINDOW + MARGIN]
    assert loop.job(job.id).receipt == "unknown"
    assert loop.reported == [(job.id, "unknown", None)]


class Down(FakeGateway):
    """A gateway whose status queries fail."""

    @hookimpl
    def sms_notify_receipts(self, texts: Sequence[Receipt]) -> list[DeliveryReport]:
        self.asked.append([t.message_id or "" for t in texts])
        raise ProviderError(Category.UNAVAILABLE, "HTTP 503")


def test_a_gateway_that_cannot_be_asked_now_is_asked_again_later(
        location: str, now: ManualClock, fake_gateways: Callable[..., FakeGateway]) -> None:
    down = Down(scheme="down", capabilities=frozenset({"receipts"}))
    with registered(down):
        loop = Loop(location, now, down, fake_gateways("backup"))
        (job,) = loop.page()
        loop.now.advance(5)
        assert loop.receipts.check() == 0
        assert down.asked == [[job.message_id]]
        assert loop.job(job.id).check_at == job.done_at + CHECKS[1]
        loop.outbox.close()


def test_an_undelivered_text_goes_again_through_the_next_account_once(
        loop: Loop, gateways: tuple[FakeGateway, FakeGateway], caplog: Any) -> None:
    (job,) = loop.page()
    gateways[0].reports[job.message_id] = "undelivered"
    loop.now.advance(5)
    assert loop.receipts.check() == 1
    assert loop.woken == 1
    original, again = loop.outbox.jobs()
    assert (original.receipt, original.state) == ("undelivered", "sent")
    assert (again.state, again.via, again.recipient, again.text, again.kind) == (
        "pending", ("secondary",), R, "DISK FULL on db1", "alert")
    assert "event=receipt" in caplog.text and "resent=\"job 2 via secondary\"" in caplog.text
    # the same report again (pushed twice, or pushed and asked for) acts once
    assert not loop.receipts.record(original, DeliveryReport("undelivered", original.message_id),
                                    loop.now())
    assert len(loop.outbox.jobs()) == 2

    loop.dispatcher.step()
    assert gateways[1].recipients_sent() == [R]
    again = loop.job(again.id)
    gateways[1].reports[again.message_id] = "expired"
    loop.now.advance(5)
    with caplog.at_level(logging.WARNING, "sms_notify.receipts"):
        assert loop.receipts.check() == 1
    assert [(j.account_name, j.receipt) for j in loop.outbox.jobs()] == [
        ("primary", "undelivered"), ("secondary", "expired")]  # no account left after it
    assert "event=not_resent" in caplog.text and "no account after secondary" in caplog.text


def test_a_delivered_text_and_an_unknown_one_are_not_sent_again(
        loop: Loop, gateways: tuple[FakeGateway, ...]) -> None:
    first, second = loop.page(R, "+447700900124")
    gateways[0].reports.update({first.message_id: "delivered", second.message_id: "unknown"})
    loop.now.advance(5)
    assert loop.receipts.check() == 2
    assert [(j.recipient, j.receipt) for j in loop.outbox.jobs()] == [
        (R, "delivered"), ("+447700900124", "unknown")]


def test_an_account_whose_gateway_cannot_tell_is_never_asked(
        location: str, now: ManualClock, fake_gateways: Callable[..., FakeGateway]) -> None:
    blind = Loop(location, now, fake_gateways("fake"), fake_gateways("backup"))
    (job,) = blind.page()
    assert job.check_at == 0
    blind.outbox.close()


def test_a_gateway_that_pushes_gets_the_url_and_is_asked_only_at_the_window_end(
        location: str, now: ManualClock, fake_gateways: Callable[..., FakeGateway]) -> None:
    pusher = fake_gateways("fake", capabilities=frozenset({"receipts", "receipt_push"}))
    loop = Loop(location, now, pusher, fake_gateways("backup"),
                public_url="https://rx.example:9717/", secret="s3/cr+t")
    (job,) = loop.page()
    assert pusher.requests[0][1].receipt_url == \
        "https://rx.example:9717/receipts/primary?auth=s3%2Fcr%2Bt"
    assert job.check_at == job.done_at + DEFAULT_WINDOW + MARGIN

    push = Push("GET", {"ref": job.reference, "state": "undelivered"})
    assert loop.receipts.pushed("primary", push) == 1
    assert loop.receipts.pushed("primary", push) == 0  # pushed twice: once
    assert loop.receipts.pushed("secondary", Push("GET", {"ref": job.reference})) == 0
    original, again = loop.outbox.jobs()
    assert (original.receipt, original.check_at, again.via) == ("undelivered", 0, ("secondary",))
    loop.outbox.close()


def test_a_pushed_request_the_plugin_cannot_read_is_its_error(loop: Loop) -> None:
    with pytest.raises(ProviderError) as error:
        loop.receipts.pushed("primary", Push("GET", {"state": "delivered"}))
    assert error.value.category is Category.REQUEST
