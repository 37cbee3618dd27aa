"""The dispatcher: batching, retries across passes, failover, dead letters, crash recovery and
the per-recipient rate limit, against fake gateways and a fake clock."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from sms_notify import dispatch, hookimpl, manager
from sms_notify.delivery import RetryPolicy
from sms_notify.dispatch import DEFAULT_VALIDITY, Dispatcher, summary_text
from sms_notify.errors import Category, ProviderError
from sms_notify.model import Account, Provider, Receipt
from sms_notify.outbox import Job, OutboxError, SqlOutbox, open_outbox

from sms_notify.testing import FakeGateway, ManualClock

NUMBERS = [f"+4477009001{i:02d}" for i in range(5)]
R = NUMBERS[0]


class LookupGateway:
    """A provider that can be asked which of our references it has (server2sms-like)."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.sent: list[str] = []
        self.asked: list[list[str]] = []

    @hookimpl
    def sms_notify_register_providers(self, register: Callable[[Provider], None]) -> None:
        register(Provider(scheme="lookupgw", name="Lookupgw", base_url="https://gw.invalid",
                          max_recipients=10, capabilities=frozenset({"lookup"})))

    @hookimpl
    def sms_notify_send(self, account: Account, submission):  # type: ignore[no-untyped-def]
        self.sent += [r.reference for r in submission.recipients]
        return [Receipt(r, message_id=r.reference) for r in submission.recipients]

    @hookimpl
    def sms_notify_lookup(  # type: ignore[no-untyped-def]
        self, account: Account, references: Sequence[str], feed
    ):
        self.asked.append(list(references))
        feed.advance(feed.position + 1, {})  # a gateway that reads a change feed
        return {ref: ref in self.known for ref in references}


@pytest.fixture
def lookup_gateway() -> Iterator[LookupGateway]:
    gw = LookupGateway()
    manager.register(gw, name="test-lookupgw")
    yield gw
    manager.unregister("test-lookupgw")


ACCOUNTS = {
    "primary": Account("fake", "u", "p", name="primary"),
    "backup": Account("backup", "u", "p", name="backup"),
    "looked": Account("lookupgw", "u", "p", name="looked"),
}


def make(location: str, now: ManualClock, **kwargs: Any) -> tuple[SqlOutbox, Dispatcher]:
    box = open_outbox(location, now=now)
    kwargs.setdefault("rng", random.Random(7))
    return box, Dispatcher(box, ACCOUNTS, now=now, **kwargs)


def jobs(*numbers: str, via: tuple[str, ...] = ("primary",), text: str = "FIRING DiskFull",
         key: str = "DiskFull") -> list[Job]:
    return [Job("oncall", n, text, via, dedup_key=f"{text}|{n}", summary_key=key) for n in numbers]


def settle(d: Dispatcher, rounds: int = 20) -> int:
    """Run passes until none sends anything; the number of requests made."""
    total = 0
    for _ in range(rounds):
        made = d.step()
        if not made:
            return total
        total += made
    return total


def unavailable(text: str = "fake.invalid answered HTTP 503") -> ProviderError:
    return ProviderError(Category.UNAVAILABLE, text, code=503)


def test_recipients_are_batched_to_the_gateway_limit(fake_gateways, location, now) -> None:
    gw: FakeGateway = fake_gateways("fake", max_recipients=2)
    box, d = make(location, now)
    box.enqueue(jobs(*NUMBERS), 600)
    assert settle(d) == 3  # ceil(5 / 2) requests
    assert [len(s.recipients) for _, s in gw.requests] == [2, 2, 1]
    sent = box.jobs()
    assert [j.state for j in sent] == ["sent"] * 5
    assert all(j.account == "primary" and j.message_id.startswith("fake-") for j in sent)
    # the gateway saw our fixed references, so a crash in flight can be looked up
    sent_refs = [r.reference for _, s in gw.requests for r in s.recipients]
    assert sent_refs == [j.reference for j in sent]


def test_one_number_twice_goes_in_separate_requests(fake_gateways, location, now) -> None:
    gw = fake_gateways("fake", max_recipients=10)
    box, d = make(location, now)
    box.enqueue([*jobs(R), Job("other", R, "FIRING DiskFull", ("primary",))], 600)
    assert settle(d) == 2
    assert [len(s.recipients) for _, s in gw.requests] == [1, 1]


def test_different_texts_and_accounts_are_separate_requests(fake_gateways, location, now) -> None:
    gw, backup = fake_gateways("fake", max_recipients=10), fake_gateways("backup")
    box, d = make(location, now)
    box.enqueue([*jobs(*NUMBERS[:2]), *jobs(*NUMBERS[:2], text="RESOLVED DiskFull"),
                 *jobs(NUMBERS[3], via=("backup",))], 600)
    assert settle(d) == 3
    assert sorted(s.text for _, s in gw.requests) == ["FIRING DiskFull", "RESOLVED DiskFull"]
    assert backup.recipients_sent() == [NUMBERS[3]]


def test_a_restart_resumes_pending_jobs(fake_gateways, location, now) -> None:
    gw = fake_gateways("fake")
    box, _ = make(location, now)
    box.enqueue(jobs(*NUMBERS[:3]), 600)
    box.close()
    box, d = make(location, now)
    settle(d)
    assert sorted(gw.recipients_sent()) == NUMBERS[:3]
    assert box.stats().sent == 3


def crash_in_flight(location: str, now: ManualClock, numbers: Sequence[str], via: tuple[str, ...]) -> None:
    """Enqueue and claim (attempt recorded), then 'die' before the outcome is recorded: its
    lease has run out, as a receiver that died a lease ago left it."""
    box, d = make(location, now)
    box.lease = -1.0
    box.enqueue(jobs(*numbers, via=via), 600)
    tasks, _ = d._plan()
    d._claim(tasks)
    assert box.stats().inflight == len(numbers)


def test_grouping_never_puts_one_number_twice_in_a_request(fake_gateways, location, now) -> None:
    fake_gateways("fake")  # two recipients a request
    _, d = make(location, now)
    a, b, c = NUMBERS[:3]
    tasks = d._group(jobs(a, b, a, a, c, b))
    assert [[j.recipient for j in t.jobs] for t in tasks] == [[a, b], [a, c], [a, b]]


def test_inflight_without_lookup_is_resent_and_counted(fake_gateways, location, now, caplog) -> None:
    gw = fake_gateways("fake")
    crash_in_flight(location, now, NUMBERS[:3], ("primary",))
    box, d = make(location, now)
    report = d.recover()
    assert (report.found, report.resent, report.blind) == (0, 0, 3)
    assert "resend_without_lookup=3" in caplog.text and "may arrive twice" in caplog.text
    settle(d)
    assert sorted(gw.recipients_sent()) == NUMBERS[:3]
    assert {j.attempts for j in box.jobs()} == {2}


def test_inflight_with_lookup_is_sent_only_where_the_gateway_has_no_trace(
    lookup_gateway, location, now
) -> None:
    crash_in_flight(location, now, NUMBERS[:3], ("looked",))
    box, d = make(location, now)
    second = box.jobs()[1]
    lookup_gateway.known.add(second.reference)  # a gateway that keeps each recipient's reference
    report = d.recover()
    assert (report.found, report.resent, report.blind) == (1, 2, 0)
    asked = set(lookup_gateway.asked[0])
    assert asked == {j.reference for j in box.jobs()}  # the request's reference is the first's
    assert box.get(second.id).state == "sent"  # type: ignore[union-attr]
    settle(d)
    assert sorted(lookup_gateway.sent) == sorted(
        j.reference for j in box.jobs() if j.id != second.id
    )
    assert box.stats().sent == 3


def test_a_recovery_whose_question_fails_asks_again_instead_of_resending(
    lookup_gateway, location, now, monkeypatch
) -> None:
    """server2sms answering 503 for a few seconds after a restart made recovery resend the
    text through the same account without a look-up: 2 texts through it (the third outside
    probe). The jobs are asked again as delivery asks (policy), and the gateway that has them
    is not sent them again."""
    crash_in_flight(location, now, NUMBERS[:2], ("looked",))
    box, d = make(location, now)
    for job in box.jobs():
        lookup_gateway.known.add(job.reference)  # the gateway took them before the crash
    asked = failing_look_ups(monkeypatch, 1)
    report = d.recover()
    assert (report.found, report.resent, report.blind, report.asking) == (0, 0, 0, 2)
    for _ in range(20):
        pending = [j for j in box.jobs() if j.state == "pending"]
        if not pending:
            break
        now.t = max(now.t, *(j.next_at for j in pending))
        d.step()
    assert {j.state for j in box.jobs()} == {"sent"} and len(asked) == 2
    assert lookup_gateway.sent == []


def test_look_ups_read_on_from_the_cursor_kept_in_the_outbox(lookup_gateway, location, now) -> None:
    from sms_notify.feeds import feed_key

    crash_in_flight(location, now, NUMBERS[:1], ("looked",))
    box, d = make(location, now)
    jobs_ = box.inflight()
    d.recover(jobs_)
    box.close()
    box, d = make(location, now)  # a restart: the cursor is where the last look-up left it
    d.recover(jobs_)
    key = feed_key(ACCOUNTS["looked"], manager.provider_for("lookupgw"))
    assert open_outbox(location).feeds().feed(key).position == 2


def test_a_request_known_by_its_reference_is_sent_for_all_its_recipients(
    lookup_gateway, location, now
) -> None:
    """24x keeps one reference per request (UserField): the first job's stands for them all."""
    crash_in_flight(location, now, NUMBERS[:3], ("looked",))
    box, d = make(location, now)
    jobs_ = box.jobs()
    assert {j.request_ref for j in jobs_} == {jobs_[0].reference}
    lookup_gateway.known.add(jobs_[0].reference)
    report = d.recover()
    assert (report.found, report.resent, report.blind) == (3, 0, 0)
    settle(d)
    assert lookup_gateway.sent == []


def test_transient_errors_come_back_after_a_backoff(fake_gateways, location, now) -> None:
    gw = fake_gateways("fake")
    gw.answers = [unavailable(), unavailable()]
    results: list[tuple[str, bool]] = []
    box, d = make(location, now, on_result=lambda j, r, s: results.append((j.state, r is not None)))
    box.enqueue(jobs(R), 600)
    assert d.step() == 1
    [j] = box.jobs()
    assert j.state == "pending" and j.error == "unavailable: 503 fake.invalid answered HTTP 503"
    first_pause = j.next_at - now.t
    policy = RetryPolicy()
    assert policy.base_delay * (1 - policy.jitter) <= first_pause <= policy.base_delay
    assert d.step() == 0  # not due yet
    now.t = j.next_at
    assert d.step() == 1
    [j] = box.jobs()
    assert j.account_index == 0  # one account: it stays
    assert j.next_at - now.t > first_pause / 2  # grows (attempt 2: up to twice the base)
    now.t = j.next_at
    assert d.step() == 1
    [j] = box.jobs()
    assert (j.state, j.attempts, j.account, j.error) == ("sent", 3, "primary", "")
    assert results == [("pending", True), ("pending", True), ("sent", True)]


@pytest.mark.parametrize("category", ["credit", "auth"])
def test_credit_and_auth_fail_over_at_once(fake_gateways, location, now, category) -> None:
    gw, backup = fake_gateways("fake"), fake_gateways("backup")
    gw.answers = [ProviderError(category, "No credit left", code="5")]
    box, d = make(location, now)
    box.enqueue(jobs(R, via=("primary", "backup")), 600)
    settle(d)
    [j] = box.jobs()
    assert (j.state, j.account, j.attempts) == ("sent", "backup", 2)
    assert len(gw.requests) == 1 and backup.recipients_sent() == [R]


def test_unavailable_fails_over_after_a_second_try(fake_gateways, location, now) -> None:
    gw, backup = fake_gateways("fake"), fake_gateways("backup")
    gw.answers = [unavailable(), unavailable()]
    box, d = make(location, now)
    box.enqueue(jobs(R, via=("primary", "backup")), 600)
    d.step()
    now.t = box.jobs()[0].next_at
    d.step()
    [j] = box.jobs()
    assert (j.state, j.account_index, j.next_at) == ("pending", 1, now.t)  # the backup at once
    d.step()
    assert (box.jobs()[0].state, box.jobs()[0].account) == ("sent", "backup")
    assert len(gw.requests) == 2 and len(backup.requests) == 1


def unknown_outcome(text: str = "no answer from gw.invalid within 10s") -> ProviderError:
    return ProviderError(Category.UNAVAILABLE, text, unknown_outcome=True)


def silent_then(answers: list[ProviderError], monkeypatch: pytest.MonkeyPatch,
                took: LookupGateway | None = None) -> None:
    """The lookup gateway's next sends answer these errors (taking the text first if `took`)."""
    real_submit = dispatch.submit

    def flaky_submit(account, recipients, *a, **kw):  # type: ignore[no-untyped-def]
        if account.scheme == "lookupgw" and answers:
            error = answers.pop(0)
            if took is not None:
                took.known.update(r.reference for r in recipients)
                took.sent += [r.reference for r in recipients]
            return [Receipt(r, error=error, account=account.label(), parts=0,
                            request_ref=recipients[0].reference) for r in recipients]
        return real_submit(account, recipients, *a, **kw)

    monkeypatch.setattr(dispatch, "submit", flaky_submit)


def test_an_unknown_outcome_is_asked_about_once_the_timeout_has_passed(
    fake_gateways, lookup_gateway, location, now, monkeypatch
) -> None:
    """The gateway took the text but its answer never came: asked, found, not sent again."""
    backup = fake_gateways("backup")
    silent_then([unknown_outcome()], monkeypatch, took=lookup_gateway)
    results: list[tuple[str, Receipt | None]] = []
    box, d = make(location, now, on_result=lambda j, r, s: results.append((j.state, r)))
    [job] = box.enqueue(jobs(R, via=("looked", "backup")), 600)
    assert d.step() == 1
    [j] = box.jobs()
    assert (j.state, j.account_index, j.doubt) == ("pending", 0, True)
    assert j.next_at - now.t == ACCOUNTS["looked"].timeout  # its answer may still be coming
    assert d.step() == 0 and lookup_gateway.asked == []
    now.t = j.next_at
    assert d.step() == 1  # the look-up
    [j] = box.jobs()
    assert (j.state, j.message_id, j.attempts) == ("sent", job.reference, 1)
    assert lookup_gateway.asked == [[job.reference]] and backup.requests == []
    assert lookup_gateway.sent == [job.reference]  # once
    assert [state for state, _ in results] == ["pending", "sent"]


def test_no_trace_at_the_gateway_sends_again_on_the_same_account(
    lookup_gateway, location, now, monkeypatch
) -> None:
    silent_then([unknown_outcome()], monkeypatch)
    box, d = make(location, now)
    [job] = box.enqueue(jobs(R, via=("looked", "backup")), 600)
    d.step()
    now.t = box.jobs()[0].next_at
    d.step()  # asked: no trace
    [j] = box.jobs()
    assert (j.state, j.doubt, j.next_at) == ("pending", False, now.t)
    d.step()
    [j] = box.jobs()
    assert (j.state, j.account, j.attempts) == ("sent", "looked", 2)
    assert lookup_gateway.sent == [job.reference]


def failing_look_ups(monkeypatch: pytest.MonkeyPatch, failures: float) -> list[float]:
    """dispatch's look-up fails `failures` times, then asks the real one; the times asked."""
    real, asked = dispatch.lookup, []

    def flaky(account, references, *a, **kw):  # type: ignore[no-untyped-def]
        asked.append(time.time())
        if len(asked) <= failures:
            raise ProviderError(Category.UNAVAILABLE, "no answer from gw.invalid within 10s")
        return real(account, references, *a, **kw)

    monkeypatch.setattr(dispatch, "lookup", flaky)
    return asked


def step_until_settled(d: Dispatcher, box: SqlOutbox, now: ManualClock, steps: int = 40) -> Job:
    """Pass after pass, the clock moved to the job's next turn, until it is settled."""
    for _ in range(steps):
        [j] = box.jobs()
        if j.state not in ("pending", "inflight"):
            return j
        now.t = max(now.t, j.next_at)
        d.step()
    raise AssertionError(f"not settled after {steps} passes: {box.jobs()}")


def test_a_look_up_that_fails_is_asked_again_and_the_text_sent_once(
    fake_gateways, lookup_gateway, location, now, monkeypatch
) -> None:
    """Decision 12: on a route with no other account, a gateway that hangs through a few
    look-ups is asked again, with backoff, and the text goes again only on its "no trace"."""
    silent_then([unknown_outcome()], monkeypatch)  # no answer, and the gateway never took it
    asked = failing_look_ups(monkeypatch, 3)
    box, d = make(location, now)
    box.enqueue(jobs(R, via=("looked",)), 600)
    j = step_until_settled(d, box, now)
    assert (j.state, j.account, j.unsure) == ("sent", "looked", 0)
    assert len(asked) == 4
    assert lookup_gateway.sent == [j.reference]


def test_a_look_up_that_keeps_failing_moves_the_text_on_once(
    fake_gateways, lookup_gateway, location, now, monkeypatch
) -> None:
    """A gateway down behind a load balancer answers 502 to the send and to every question
    (the outside probe: no page for 120 s, and none until max_age): after tries_per_account
    failed look-ups the text goes through the next account, once, and the first is not used
    for it again."""
    backup = fake_gateways("backup")
    silent_then([unknown_outcome()], monkeypatch)
    asked = failing_look_ups(monkeypatch, float("inf"))
    box, d = make(location, now)
    box.enqueue(jobs(R, via=("looked", "backup")), 600)
    j = step_until_settled(d, box, now)
    assert (j.state, j.account) == ("sent", "backup")
    assert len(asked) == d.policy.tries_per_account and len(backup.requests) == 1


def test_a_look_up_that_fails_until_max_age_is_unconfirmed(
    fake_gateways, lookup_gateway, location, now, monkeypatch
) -> None:
    backup = fake_gateways("backup")  # on no route here: never asked to send
    silent_then([unknown_outcome()], monkeypatch, took=lookup_gateway)
    failing_look_ups(monkeypatch, float("inf"))
    box, d = make(location, now, max_age=600)
    [job] = box.enqueue(jobs(R, via=("looked",)), 600)
    pauses: list[float] = []
    for _ in range(60):
        [j] = box.jobs()
        if j.state != "pending":
            break
        pauses.append(j.next_at - now.t)
        now.t = max(now.t, j.next_at)
        d.step()
    assert (j.state, backup.requests) == ("unconfirmed", [])
    assert "no answer from gw.invalid" in j.error
    assert now.t - job.created >= 600 - d.policy.reserve - ACCOUNTS["looked"].timeout
    assert pauses[2] < pauses[5], "the look-ups back off"


def test_an_unknown_outcome_without_look_up_moves_on_once(fake_gateways, location, now) -> None:
    gw, backup = fake_gateways("fake"), fake_gateways("backup")
    gw.answers = [unknown_outcome("unexpected answer: 101, 102")]
    box, d = make(location, now)
    box.enqueue(jobs(R, via=("primary", "backup")), 600)
    d.step()
    [j] = box.jobs()
    assert (j.state, j.account_index, j.next_at) == ("pending", 1, now.t)  # at once
    d.step()
    [j] = box.jobs()
    assert (j.state, j.account, len(gw.requests), len(backup.requests)) == ("sent", "backup", 1, 1)


def test_unconfirmed_is_a_state_of_its_own_logged_and_reported(
    fake_gateways, location, now, caplog
) -> None:
    gw, backup = fake_gateways("fake"), fake_gateways("backup")
    gw.answers = [unknown_outcome("unexpected answer: 101, 102")]
    backup.answers = [unknown_outcome()]
    results: list[tuple[str, Receipt | None]] = []
    box, d = make(location, now, on_result=lambda j, r, s: results.append((j.state, r)))
    box.enqueue(jobs(R, via=("primary", "backup")), 600)
    settle(d)
    [j] = box.jobs()
    assert (j.state, j.account, j.unsure) == ("unconfirmed", "backup", 0b11)
    assert (len(gw.requests), len(backup.requests)) == (1, 1)
    assert box.stats().unconfirmed == 1 and box.stats().dead == 0
    assert [state for state, _ in results] == ["pending", "unconfirmed"]
    [line] = [r for r in caplog.records if "state=unconfirmed" in r.getMessage()]
    assert line.levelname == "WARNING"
    now.t += 3600
    assert d.step() == 0  # never sent again


@pytest.mark.parametrize("category", ["sender", "auth", "credit"])
def test_account_refusals_are_tried_again_while_there_is_time_to_fix_them(
    fake_gateways, location, now, category
) -> None:
    """An account whose credit runs out is topped up in minutes: serve's max_age leaves time
    (a one-shot command's seconds do not: tests/test_delivery.py)."""
    gw = fake_gateways("fake")
    gw.answers = [ProviderError(category, "refused", code="-518")] * 2
    box, d = make(location, now, max_age=120)
    box.enqueue(jobs(R, via=("primary",)), 600)
    d.step()
    [j] = box.jobs()
    assert j.state == "pending" and j.next_at - now.t <= RetryPolicy().base_delay
    now.t = j.next_at
    d.step()
    now.t = box.jobs()[0].next_at
    d.step()
    assert box.jobs()[0].state == "sent" and len(gw.requests) == 3
    gw.answers = [ProviderError(category, "refused", code="-518")]
    box.enqueue(jobs(NUMBERS[1], via=("primary",)), 600)
    now.t += 61  # less than account_pause left of its max_age: it ends now
    d.step()
    assert (box.jobs()[1].state, len(gw.requests)) == ("dead", 4)


def test_a_batch_refused_for_one_number_is_split(fake_gateways, location, now) -> None:
    gw = fake_gateways("fake", max_recipients=50)
    numbers = [f"+4477009003{i:02d}" for i in range(50)]
    bad = numbers[11]

    def refuse_bad(sub):  # type: ignore[no-untyped-def]
        if any(r.address == bad for r in sub.recipients):
            raise ProviderError(Category.RECIPIENT, "Invalid MCC. Please check the number.", code="14")
        return [Receipt(r, message_id=r.reference) for r in sub.recipients]

    gw.answers = [refuse_bad] * 20
    box, d = make(location, now)
    box.enqueue(jobs(*numbers), 600)
    assert d.step() == 1
    states = {j.recipient: (j.state, j.error) for j in box.jobs()}
    assert states.pop(bad) == ("dead", "recipient: 14 Invalid MCC. Please check the number.")
    assert set(states.values()) == {("sent", "")}


def test_serve_sends_a_default_validity_where_the_gateway_takes_one(location, now) -> None:
    _, d = make(location, now)
    fastsms = Account("fastsms", "t", options={"from": "Alerts"}, name="f")
    mine = Account("fastsms", "t", options={"from": "Alerts", "validity": "600"}, name="g")
    blind = Account("intellisms", "u", "p", name="i")
    d = Dispatcher(d.outbox, {"f": fastsms, "g": mine, "i": blind}, now=now)
    assert d.accounts["f"].validity == DEFAULT_VALIDITY == 3600
    assert d.accounts["g"].validity == 600
    assert d.accounts["i"].validity is None  # IntelliSoftware takes none


def test_all_accounts_down_then_back_delivers_once(fake_gateways, location, now) -> None:
    gw, backup = fake_gateways("fake"), fake_gateways("backup")
    gw.answers = [unavailable()] * 4
    backup.answers = [ProviderError(Category.CREDIT, "no credit", code="5")] * 2
    box, d = make(location, now)
    box.enqueue(jobs(R, via=("primary", "backup")), 600)
    accounts_tried = []
    for _ in range(20):
        if d.step() == 0:
            [j] = box.jobs()
            if j.state != "pending":
                break
            now.t = j.next_at
        accounts_tried.append(box.jobs()[0].account)
    [j] = box.jobs()
    assert j.state == "sent"
    assert len(gw.requests) == 5 and len(backup.requests) == 2
    assert gw.recipients_sent().count(R) == 5  # every one refused but the last
    assert accounts_tried[-1] == "primary"


@pytest.mark.parametrize("category", ["recipient", "request"])
def test_permanent_errors_are_dead_letters_at_once(fake_gateways, location, now, category) -> None:
    gw, backup = fake_gateways("fake"), fake_gateways("backup")
    gw.answers = [ProviderError(category, "Invalid destination address", code="206")]
    box, d = make(location, now)
    box.enqueue(jobs(R, via=("primary", "backup")), 600)
    settle(d)
    [dead] = box.dead_letters()
    assert dead.error == f"{category}: 206 Invalid destination address"
    assert dead.account == "primary" and dead.attempts == 1
    assert backup.requests == [] and box.stats().dead == 1


def test_per_recipient_errors_in_a_batch_settle_each_job(fake_gateways, location, now) -> None:
    gw = fake_gateways("fake", max_recipients=10)
    bad = ProviderError(Category.RECIPIENT, "unroutable", code="14")
    gw.answers = [lambda s: [Receipt(s.recipients[0]), Receipt(s.recipients[1], error=bad)]]
    box, d = make(location, now)
    box.enqueue(jobs(*NUMBERS[:2]), 600)
    settle(d)
    assert [(j.state, j.error) for j in box.jobs()] == [
        ("sent", ""), ("dead", "recipient: 14 unroutable")]


def test_max_age_ends_retries_with_the_last_reason(fake_gateways, location, now) -> None:
    gw = fake_gateways("fake")
    gw.answers = [unavailable()] * 100
    results: list[tuple[str, Receipt | None]] = []
    box, d = make(location, now, max_age=600, on_result=lambda j, r, s: results.append((j.state, r)))
    box.enqueue(jobs(R), 600)
    for _ in range(50):
        if not d.step():
            [j] = box.jobs()
            if j.state != "pending":
                break
            now.t = j.next_at
    [j] = box.jobs()
    assert j.state == "dead" and j.error == "unavailable: 503 fake.invalid answered HTTP 503"
    assert now.t - j.created < 600
    assert results[-1][1] is not None  # died on a gateway answer


def test_a_job_waiting_past_max_age_dies_without_a_request(fake_gateways, location, now) -> None:
    gw = fake_gateways("fake")
    results: list[tuple[str, Receipt | None]] = []
    box, d = make(location, now, max_age=600, on_result=lambda j, r, s: results.append((j.state, r)))
    box.enqueue(jobs(R), 600)
    now.t += 601  # the receiver was down for longer than max_age
    assert d.step() == 0
    [j] = box.dead_letters()
    assert j.error == "expired after max_age (10m): never sent"
    assert gw.requests == [] and results == [("dead", None)]


def test_unknown_account_is_a_dead_letter(fake_gateways, location, now) -> None:
    box, d = make(location, now)
    box.enqueue(jobs(R, via=("gone",)), 600)
    d.step()
    assert box.dead_letters()[0].error == "request: unknown account 'gone'"


def test_rate_limit_folds_alerts_into_summaries(fake_gateways, location, now) -> None:
    gw = fake_gateways("fake", max_recipients=10)
    other = NUMBERS[1]
    box, d = make(location, now, per_recipient=(2, 3600))
    burst = [*jobs(R, text="a1", key="Up"), *jobs(R, text="a2", key="Up")]
    burst += [j for i in range(3) for j in jobs(R, text=f"d{i}", key="DiskFull")]
    burst += [j for i in range(4) for j in jobs(R, text=f"h{i}", key="HighLatency")]
    burst += jobs(other, text="d0", key="DiskFull")
    box.enqueue(burst, 600)
    settle(d)
    texts = [s.text for _, s in gw.requests if s.recipients[0].address == R]
    assert texts == ["a1", "a2", "+7 more alerts: HighLatency x4, DiskFull x3 (limit 2/1h)"]
    assert other in gw.recipients_sent()  # other recipients are not limited
    dropped = box.jobs("dropped")
    assert len(dropped) == 7 and all("folded into a summary" in j.error for j in dropped)
    # more alerts inside the window fold into the one summary due at its end
    now.t += 60
    box.enqueue([*jobs(R, text="late1", key="DiskFull"), *jobs(R, text="late2")], 600)
    settle(d)
    assert len(gw.requests) == 4  # nothing new went out
    now.t += 3600
    settle(d)
    assert gw.requests[-1][1].text == "+2 more alerts: DiskFull x2 (limit 2/1h)"
    now.t += 1
    box.enqueue(jobs(R, text="after the window"), 600)
    settle(d)
    assert gw.requests[-1][1].text == "after the window"


def test_a_window_without_further_alerts_sends_one_summary(fake_gateways, location, now) -> None:
    gw = fake_gateways("fake", max_recipients=10)
    box, d = make(location, now, per_recipient=(1, 60))
    box.enqueue([*jobs(R, text="a"), *jobs(R, text="b")], 600)
    settle(d)
    now.t += 61
    settle(d)
    assert [s.text for _, s in gw.requests] == ["a", "+1 more alert: DiskFull x1 (limit 1/1m)"]
    assert box.jobs()[-1].state == "dropped"  # the empty end-of-window summary


def test_summary_text() -> None:
    assert summary_text({"DiskFull": 3, "HighLatency": 4}, (20, 3600)) == (
        "+7 more alerts: HighLatency x4, DiskFull x3 (limit 20/1h)")


def test_threads_deliver_in_the_background(fake_gateways, location) -> None:
    gw = fake_gateways("fake", max_recipients=3)
    seen: list[tuple[int, str, float]] = []
    box = open_outbox(location)
    d = Dispatcher(box, ACCOUNTS, workers=3,
                   on_result=lambda j, r, s: seen.append((j.id, j.state, s)))
    d.start()
    try:
        numbers = [f"+4477009002{i:02d}" for i in range(20)]
        box.enqueue(jobs(*numbers), 600)
        d.wake()
        assert d.wait_idle(10)
    finally:
        d.drain(5)
    assert sorted(gw.recipients_sent()) == numbers
    assert len(gw.requests) >= 7 and all(len(s.recipients) <= 3 for _, s in gw.requests)
    assert sorted(i for i, _, _ in seen) == list(range(1, 21))
    assert {state for _, state, _ in seen} == {"sent"}


def test_start_recovers_before_sending(fake_gateways, location) -> None:
    gw = fake_gateways("fake")
    now = ManualClock(time.time())
    crash_in_flight(location, now, NUMBERS[:2], ("primary",))
    box = open_outbox(location)
    d = Dispatcher(box, ACCOUNTS, workers=2)
    d.start()
    try:
        assert d.wait_idle(10)
    finally:
        d.drain(5)
    assert d.recovery.blind == 2 and sorted(gw.recipients_sent()) == NUMBERS[:2]


def test_start_asks_the_gateway_only_once_the_accounts_timeout_has_passed(
    fake_gateways, lookup_gateway, location
) -> None:
    """A gateway may take a request after the process that sent it died: asked at once, it
    would have no trace yet. The blind ones cannot be asked, so they go at once."""
    gw = fake_gateways("fake")
    now = ManualClock(time.time())
    crash_in_flight(location, now, NUMBERS[:2], ("looked",))
    box, d = make(location, now)
    box.enqueue(jobs(NUMBERS[2]), 600)  # and one through a gateway that cannot be asked
    box.lease = -1.0  # then it dies too
    d._claim(d._plan()[0])
    box = open_outbox(location)
    looked = Account("lookupgw", "u", "p", options={"timeout": "0.5"}, name="looked")
    d = Dispatcher(box, {**ACCOUNTS, "looked": looked}, workers=2)
    started = time.monotonic()
    d.start()
    try:
        assert d.recovery.blind == 1 and lookup_gateway.asked == []
        assert d.wait_idle(10)
        assert time.monotonic() - started >= 0.5
    finally:
        d.drain(5)
    assert set(lookup_gateway.asked[0]) == {j.reference for j in box.jobs()[:2]}
    assert (d.recovery.found, d.recovery.resent, d.recovery.blind) == (0, 2, 1)
    assert gw.recipients_sent() == NUMBERS[2:3] and len(lookup_gateway.sent) == 2


def test_a_recovery_the_outbox_cannot_record_is_tried_again(
    lookup_gateway, location, monkeypatch
) -> None:
    now = ManualClock(time.time())
    crash_in_flight(location, now, NUMBERS[:2], ("looked",))
    box = open_outbox(location)
    failures = [OutboxError("database is locked")]
    real_save = box.save

    def save(changed=(), new=()):  # type: ignore[no-untyped-def]
        if failures and any(j.state != "inflight" for j in changed):
            raise failures.pop()
        real_save(changed, new)

    monkeypatch.setattr(box, "save", save)
    looked = Account("lookupgw", "u", "p", options={"timeout": "0.1"}, name="looked")
    d = Dispatcher(box, {**ACCOUNTS, "looked": looked}, workers=2)
    d.start()
    try:
        assert d.wait_idle(10)
    finally:
        d.drain(5)
    assert not failures and len(lookup_gateway.asked) == 2  # asked again after the failure
    assert d.recovery.resent == 2 and len(lookup_gateway.sent) == 2


def test_outcomes_the_outbox_cannot_record_are_saved_again_after_the_clocks_pauses(
    fake_gateways, location, now, monkeypatch
) -> None:
    fake_gateways("fake")
    box, d = make(location, now, sleep=now.sleep)
    box.enqueue(jobs(R), 600)
    failures = [OutboxError("database is locked")] * 2
    real_save = box.save

    def save(changed=(), new=()):  # type: ignore[no-untyped-def]
        if failures and any(j.state == "sent" for j in changed):
            raise failures.pop()
        real_save(changed, new)

    monkeypatch.setattr(box, "save", save)
    d.step()
    assert now.slept == [0.1, 0.5]  # the dispatcher's pauses pass on its clock, not the wall's
    assert [j.state for j in box.jobs()] == ["sent"]


def refusing_saves(box: SqlOutbox, monkeypatch: pytest.MonkeyPatch, state: str) -> list[int]:
    """The outbox refuses every save of a job in `state` (a full disk) until the list it
    returns is given a value; the refused saves are counted in it."""
    refused: list[int] = []
    real_save = box.save

    def save(changed=(), new=()):  # type: ignore[no-untyped-def]
        if not refused or refused[-1] != -1:
            if any(j.state == state for j in changed):
                refused.append(len(changed))
                raise OutboxError("database or disk is full")
        real_save(changed, new)

    monkeypatch.setattr(box, "save", save)
    return refused


def test_outcomes_the_outbox_refuses_for_long_are_kept_and_recorded_when_it_takes_them(
    fake_gateways, location, now, monkeypatch
) -> None:
    """Probe 3: sends that finished while the disk was full stayed in flight forever, and a
    clean restart sent them again."""
    gw = fake_gateways("fake")
    box, d = make(location, now, sleep=now.sleep)
    box.enqueue(jobs(R), 600)
    refused = refusing_saves(box, monkeypatch, "sent")
    d.step()
    assert [j.state for j in box.jobs()] == ["inflight"] and len(refused) == 4
    d.step()  # still full: kept, nothing sent again
    assert [j.state for j in box.jobs()] == ["inflight"] and len(gw.requests) == 1
    refused.append(-1)  # space again
    d.step()
    assert [j.state for j in box.jobs()] == ["sent"] and len(gw.requests) == 1


def test_drain_records_the_outcomes_kept_in_memory(fake_gateways, location, monkeypatch
                                                   ) -> None:
    gw = fake_gateways("fake")
    box = open_outbox(location)
    refused = refusing_saves(box, monkeypatch, "sent")
    d = Dispatcher(box, ACCOUNTS, workers=1, sleep=lambda s: None)
    d.start()
    box.enqueue(jobs(R), 600)
    d.wake()
    deadline = time.monotonic() + 10
    while len(refused) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    refused.append(-1)
    d.drain(5)
    assert [j.state for j in box.jobs()] == ["sent"] and len(gw.requests) == 1


def test_drain_puts_requests_claimed_but_never_sent_back_to_pending(
    fake_gateways, location
) -> None:
    """Probe 19: requests claimed ahead of a free sender were left in flight by a SIGTERM and
    sent blindly at the next start, as after a crash."""
    gw = fake_gateways("fake", max_recipients=1)
    release = threading.Event()
    started = threading.Event()

    def slow(sub):  # type: ignore[no-untyped-def]
        started.set()
        release.wait(10)
        return [Receipt(r, message_id="slow-1") for r in sub.recipients]

    gw.answers = [slow]
    box = open_outbox(location)
    d = Dispatcher(box, ACCOUNTS, workers=1)
    box.enqueue(jobs(*NUMBERS[:3]), 600)
    d.start()
    assert started.wait(10)
    threading.Timer(0.5, release.set).start()
    d.drain(5)
    states = sorted((j.state, j.attempts) for j in box.jobs())
    assert states == [("pending", 0), ("pending", 0), ("sent", 1)], states
    assert len(gw.requests) == 1


def test_an_account_that_fails_gets_one_probe_at_a_time_and_its_jobs_wait(
        fake_gateways, path, now) -> None:
    gw = fake_gateways("fake", max_recipients=5)
    gw.answers = [unavailable(), unavailable()]
    box, d = make(path, now)
    box.enqueue(jobs(NUMBERS[0]), 600)
    assert d.step() == 1  # fails: the breaker opens
    box.enqueue(jobs(*NUMBERS[1:3]) + jobs(NUMBERS[3], text="FIRING Other"), 600)
    assert d.step() == 0  # no request while the account rests: the new jobs wait for it
    assert len(gw.requests) == 1
    waiting = [j for j in box.jobs() if j.id != 1]
    assert all(j.state == "pending" and j.attempts == 0 and j.next_at > now.t for j in waiting)
    assert d.step() == 0  # nothing re-read, nothing sent
    now.t = max(j.next_at for j in box.jobs())
    assert d.step() == 1  # the probe: one request, though two texts are due
    assert len(gw.requests) == 2
    now.t = max(j.next_at for j in box.jobs() if j.state == "pending")
    settle(d)
    assert all(j.state == "sent" for j in box.jobs())
    sent = [(s.text, sorted(r.address for r in s.recipients)) for _, s in gw.requests]
    # the probe carried every due job with its text; once one worked, the waiting jobs went
    # batched by text, each text in one request
    assert sent == [("FIRING DiskFull", NUMBERS[:1]), ("FIRING DiskFull", NUMBERS[:3]),
                    ("FIRING DiskFull", NUMBERS[:3]), ("FIRING Other", NUMBERS[3:4])]


def test_when_the_probe_works_every_waiting_job_goes_at_once(fake_gateways, path, now) -> None:
    gw = fake_gateways("fake", max_recipients=5)
    gw.answers = [unavailable()]
    box, d = make(path, now)
    box.enqueue(jobs(NUMBERS[0], text="FIRING A"), 600)
    d.step()  # fails: open
    box.enqueue(jobs(*NUMBERS[1:4], text="FIRING B"), 600)
    d.step()  # held
    [first] = [j for j in box.jobs() if j.id == 1]
    now.t = first.next_at  # the failed job's own retry is the probe; the others wait for it
    assert d.step() == 2
    assert [s.text for _, s in gw.requests] == ["FIRING A", "FIRING A", "FIRING B"]
    # the probe worked: the held jobs went at once after it, batched in one request
    assert sorted(r.address for r in gw.requests[-1][1].recipients) == NUMBERS[1:4]
    assert all(j.state == "sent" for j in box.jobs())


def test_an_open_breaker_never_makes_a_route_with_a_backup_wait(fake_gateways, path,
                                                                  now) -> None:
    gw, backup = fake_gateways("fake"), fake_gateways("backup")
    gw.answers = [unavailable()] * 10
    box, d = make(path, now)
    box.enqueue(jobs(NUMBERS[0], via=("primary", "backup")), 600)
    d.step()  # primary fails: its breaker opens, the job waits for its second try there
    box.enqueue(jobs(NUMBERS[1], via=("primary", "backup"), text="FIRING Other"), 600)
    assert d.step() == 0  # no time passes: the second job moves on without a request
    assert d.step() == 1
    second = box.jobs()[1]
    assert (second.state, second.account) == ("sent", "backup")
    assert len(gw.requests) == 1  # the second job never went to the failing primary
    assert backup.recipients_sent() == [NUMBERS[1]]


def test_the_breakers_decisions() -> None:
    from sms_notify.policy import Breaker

    policy = RetryPolicy(jitter=0.0, probe_max=5.0)
    b = Breaker()
    assert b.admit(0.0) and not b.open
    b.record(True, False, 0.0, policy, 0.5)
    assert b.open and b.until == policy.base_delay
    assert not b.admit(0.1)  # resting
    assert b.admit(0.5) and not b.admit(0.6)  # the probe, and only one
    b.record(True, False, 0.7, policy, 0.5)  # a request sent before it opened: adds nothing
    assert b.failures == 1 and b.probing
    b.record(True, True, 1.0, policy, 0.5)  # the probe failed: a longer rest
    assert b.failures == 2 and b.until == 1.0 + 2 * policy.base_delay and not b.probing
    for _ in range(10):
        b.record(True, True, 1.0, policy, 0.5)
    assert b.until == 1.0 + policy.probe_max  # never longer than probe_max
    b.record(False, False, 2.0, policy, 0.5)  # any success closes it
    assert not b.open and b.admit(2.0) and b.admit(2.0)
