"""The core's policy through deliver() (send, nagios, Apprise): batching, retries of transient
errors until the budget runs out, failover, unknown outcomes, one text each."""

from __future__ import annotations

import pytest

from sms_notify.delivery import (
    RetryPolicy, balance, deliver, has_recipient, prepare_text, status,
)
from sms_notify.errors import Category, ProviderError
from sms_notify.manager import providers
from sms_notify.model import Account, Provider, Receipt, Submission
from sms_notify.urls import parse

NUMBERS = [f"+4477009001{i:02d}" for i in range(5)]
LOOKUP = frozenset({"balance", "lookup"})  # a fake gateway that can be asked what it took


def account(url: str):  # type: ignore[no-untyped-def]
    return parse(url, providers())


def test_batches_to_the_gateway_limit(fake_gateways, clock) -> None:
    gw = fake_gateways("fake", max_recipients=2)
    receipts = deliver([account("fake://u:p@")], "hello", NUMBERS, clock=clock)
    assert [len(s.recipients) for _, s in gw.requests] == [2, 2, 1]
    assert [r.recipient.address for r in receipts] == NUMBERS
    assert all(r.ok and r.message_id for r in receipts)
    assert all(r.account == "fake" for r in receipts)


def test_duplicates_and_formats_of_one_number_send_once(fake_gateways, clock) -> None:
    gw = fake_gateways("fake", max_recipients=10)
    deliver([account("fake://u:p@+447700900100/447700900100")], "hi", ["00447700900100"], clock=clock)
    assert gw.recipients_sent() == ["+447700900100"]


def test_bad_number_fails_alone(fake_gateways, clock) -> None:
    gw = fake_gateways("fake", max_recipients=10)
    receipts = deliver([account("fake://u:p@")], "hi", ["abc", NUMBERS[0]], clock=clock)
    bad, good = receipts[0], receipts[1]
    assert bad.error is not None and bad.error.category is Category.RECIPIENT
    assert good.ok
    assert gw.recipients_sent() == [NUMBERS[0]]


def test_transient_errors_are_retried_with_growing_jittered_backoff(fake_gateways, clock) -> None:
    gw = fake_gateways("fake")
    gw.answers = [ProviderError("unavailable", "HTTP 503"), ProviderError("rate_limited", "slow down")]
    policy = RetryPolicy(base_delay=1.0, jitter=0.5)
    receipts = deliver([account("fake://u:p@")], "hi", NUMBERS[:1], policy=policy, clock=clock)
    assert receipts[0].ok
    assert len(gw.requests) == 3
    assert 0.5 <= clock.slept[0] <= 1.0 and 1.0 <= clock.slept[1] <= 2.0


@pytest.mark.parametrize("category", ["auth", "credit", "sender", "recipient", "request"])
def test_permanent_errors_are_not_retried(fake_gateways, clock, category: str) -> None:
    """auth, credit and sender belong to the account: with no other, a one-shot command's
    budget is too short to wait for someone to fix it (a round of refusals waits 60 s)."""
    gw = fake_gateways("fake")
    gw.answers = [ProviderError(category, "no", code="E1")]
    receipts = deliver([account("fake://u:p@")], "hi", NUMBERS[:1], clock=clock)
    assert len(gw.requests) == 1
    assert receipts[0].error is not None
    assert receipts[0].error.describe() == f"{category}: E1 no"
    assert clock.slept == []


def test_retries_stop_at_the_budget(fake_gateways, clock) -> None:
    """The last pause is cut short so that one more request fits before the deadline."""
    gw = fake_gateways("fake")
    gw.answers = [ProviderError("unavailable", "down")] * 10
    policy = RetryPolicy(budget=2.0, base_delay=1.0, jitter=0.0)
    receipts = deliver([account("fake://u:p@")], "hi", NUMBERS[:1], policy=policy, clock=clock)
    assert not receipts[0].ok and not receipts[0].unconfirmed
    assert clock.slept == [1.0, 0.5]  # 1 s, then 2 s cut to what leaves 0.5 s for a request
    assert len(gw.requests) == 3


def test_a_one_second_blip_does_not_lose_a_page(fake_gateways, clock) -> None:
    """Issue 13: six 503s in a row used to end it after three tries, 1.2 s into 25 s."""
    gw = fake_gateways("fake")
    start = clock.t
    gw.answers = [lambda sub: (_ for _ in ()).throw(ProviderError("unavailable", "HTTP 503"))
                  if clock.t < start + 1.0 else [Receipt(r, message_id="1") for r in sub.recipients]
                  ] * 20
    receipts = deliver([account("fake://u:p@")], "hi", NUMBERS[:1],
                       policy=RetryPolicy(budget=23.0), clock=clock)
    assert receipts[0].ok
    assert 2 <= len(gw.requests) <= 4 and clock.t - start < 5


def test_no_pause_is_longer_than_half_the_time_left(fake_gateways, clock) -> None:
    gw = fake_gateways("fake")
    gw.answers = [ProviderError("unavailable", "HTTP 503")] * 50
    start = clock.t
    deliver([account("fake://u:p@")], "hi", NUMBERS[:1], policy=RetryPolicy(budget=23.0),
            clock=clock)
    waited = 0.0
    for pause in clock.slept:
        assert pause <= (23.0 - waited) / 2 + 1e-9
        waited += pause
    assert clock.t - start < 23.0 and len(gw.requests) >= 9


def test_transient_errors_keep_trying_until_the_budget(fake_gateways, clock) -> None:
    gw = fake_gateways("fake")
    gw.answers = [ProviderError("unavailable", "HTTP 503")] * 6
    receipts = deliver([account("fake://u:p@")], "hi", NUMBERS[:1],
                       policy=RetryPolicy(budget=23.0), clock=clock)
    assert receipts[0].ok and len(gw.requests) == 7
    assert sum(clock.slept) < 23.0


@pytest.mark.parametrize("category", ["auth", "credit", "sender", "rate_limited", "unavailable"])
def test_fails_over_to_the_next_account(fake_gateways, clock, category: str) -> None:
    first, second = fake_gateways("fake"), fake_gateways("backup")
    first.answers = [ProviderError(category, "primary trouble")] * 5
    receipts = deliver(
        [account("fake://u:p@"), account("backup://u:p@")], "hi", NUMBERS[:2], clock=clock,
    )
    assert all(r.ok and r.account == "backup" for r in receipts)
    assert second.recipients_sent() == NUMBERS[:2]
    assert len(first.requests) == (2 if category in ("rate_limited", "unavailable") else 1)


def test_after_the_last_account_the_round_starts_again(fake_gateways, clock) -> None:
    """A primary that is down and a backup that refuses: the primary comes back first."""
    first, second = fake_gateways("fake"), fake_gateways("backup")
    first.answers = [ProviderError("unavailable", "HTTP 503")] * 2
    second.answers = [ProviderError("auth", "bad password")]
    receipts = deliver(
        [account("fake://u:p@"), account("backup://u:p@")], "hi", NUMBERS[:1], clock=clock,
    )
    assert receipts[0].ok and receipts[0].account == "fake"
    assert (len(first.requests), len(second.requests)) == (3, 1)


@pytest.mark.parametrize("category", ["recipient", "request"])
def test_recipient_and_request_errors_do_not_fail_over(fake_gateways, clock, category: str) -> None:
    first, second = fake_gateways("fake"), fake_gateways("backup")
    first.answers = [ProviderError(category, "bad")]
    receipts = deliver(
        [account("fake://u:p@"), account("backup://u:p@")], "hi", NUMBERS[:1], clock=clock
    )
    assert not receipts[0].ok and receipts[0].account == "fake"
    assert second.requests == []


def test_per_recipient_errors_fail_over_only_those_recipients(fake_gateways, clock) -> None:
    first, second = fake_gateways("fake", max_recipients=10), fake_gateways("backup")

    def partial(sub: Submission) -> list[Receipt]:
        return [
            Receipt(sub.recipients[0], message_id="1"),
            Receipt(sub.recipients[1], error=ProviderError("credit", "no credit for this one")),
            Receipt(sub.recipients[2], error=ProviderError("recipient", "blacklisted")),
        ]

    first.answers = [partial]
    receipts = deliver(
        [account("fake://u:p@"), account("backup://u:p@")], "hi", NUMBERS[:3], clock=clock
    )
    by_number = {r.recipient.address: r for r in receipts}
    assert by_number[NUMBERS[0]].account == "fake" and by_number[NUMBERS[0]].ok
    assert by_number[NUMBERS[1]].account == "backup" and by_number[NUMBERS[1]].ok
    assert by_number[NUMBERS[2]].error.category is Category.RECIPIENT  # type: ignore[union-attr]
    assert second.recipients_sent() == [NUMBERS[1]]  # one text per recipient, never two


def test_all_accounts_failing_reports_the_last_error(fake_gateways, clock) -> None:
    first, second = fake_gateways("fake"), fake_gateways("backup")
    first.answers = [ProviderError("auth", "bad token")]
    second.answers = [ProviderError("credit", "empty")]
    receipts = deliver(
        [account("fake://u:p@"), account("backup://u:p@")], "hi", NUMBERS[:1], clock=clock
    )
    assert receipts[0].error.describe() == "credit: empty"  # type: ignore[union-attr]
    assert clock.slept == []  # a round of refusals waits 60 s: more than the budget


def unknown(text: str = "unexpected answer: 101, 102") -> ProviderError:
    return ProviderError("unavailable", text, unknown_outcome=True)


def test_an_unknown_outcome_is_not_resent_on_the_same_account(fake_gateways, clock) -> None:
    """A blind gateway (no look-up) that answered something unreadable: the text moves on to
    the next account once, never back; one text per account at most."""
    first, second = fake_gateways("fake"), fake_gateways("backup")
    first.answers = [unknown()]
    second.answers = [ProviderError("unavailable", "HTTP 503")] * 10
    receipts = deliver(
        [account("fake://u:p@"), account("backup://u:p@")], "hi", NUMBERS[:1],
        policy=RetryPolicy(budget=10.0), clock=clock,
    )
    assert len(first.requests) == 1 and len(second.requests) > 2
    (receipt,) = receipts
    assert not receipt.ok and receipt.unconfirmed  # the first may have sent it


def test_an_unknown_outcome_on_the_last_account_is_unconfirmed(fake_gateways, clock) -> None:
    gw = fake_gateways("fake")
    gw.answers = [unknown()]
    (receipt,) = deliver([account("fake://u:p@")], "hi", NUMBERS[:1], clock=clock)
    assert receipt.unconfirmed and not receipt.ok
    assert len(gw.requests) == 1 and clock.slept == []
    assert "101, 102" in receipt.error.describe()  # type: ignore[union-attr]


def test_a_text_moves_on_after_an_unknown_outcome_only_once(fake_gateways, clock) -> None:
    first, second, third = fake_gateways("fake"), fake_gateways("backup"), fake_gateways("third")
    first.answers = [unknown()]
    second.answers = [unknown("no answer from gw.invalid within 10s")]
    (receipt,) = deliver(
        [account("fake://u:p@"), account("backup://u:p@"), account("third://u:p@")], "hi",
        NUMBERS[:1], clock=clock,
    )
    assert receipt.unconfirmed and receipt.account == "backup"
    assert (len(first.requests), len(second.requests), third.requests) == (1, 1, [])


def test_a_gateway_that_can_be_asked_is_asked_once_its_timeout_has_passed(
    fake_gateways, clock
) -> None:
    """It took the text but its answer never came: found by the look-up, not sent again."""
    gw = fake_gateways("fake", capabilities=LOOKUP)
    gw.answers = [gw.took_without_answer]
    (receipt,) = deliver([account("fake://u:p@?timeout=3")], "hi", NUMBERS[:1], clock=clock)
    assert receipt.ok and receipt.message_id == receipt.recipient.reference
    assert len(gw.requests) == 1 and clock.slept == [3.0]
    assert gw.asked == [[receipt.recipient.reference]]


def test_a_gateway_with_no_trace_gets_the_text_again(fake_gateways, clock) -> None:
    gw = fake_gateways("fake", capabilities=LOOKUP)
    gw.answers = [ProviderError("unavailable", "no answer", unknown_outcome=True)]
    (receipt,) = deliver([account("fake://u:p@")], "hi", NUMBERS[:1], clock=clock)
    assert receipt.ok and len(gw.requests) == 2 and len(gw.asked) == 1
    assert gw.recipients_sent() == NUMBERS[:1] * 2  # sent again only after "no trace"


def test_a_look_up_that_fails_is_asked_again_until_the_deadline(fake_gateways, clock,
                                                                 monkeypatch) -> None:
    """Decision 12: a failed look-up says nothing; with no other account it is asked again
    with backoff, and the text is unconfirmed only when time is up. With a backup, after
    tries_per_account failed look-ups the text moves on to it once."""
    from sms_notify import delivery

    first, second = fake_gateways("fake", capabilities=LOOKUP), fake_gateways("backup")
    first.answers = [first.took_without_answer]
    asked: list[float] = []

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(clock.now())
        raise ProviderError("unavailable", "HTTP 503")

    monkeypatch.setattr(delivery, "lookup", broken)
    (receipt,) = deliver([account("fake://u:p@")], "hi", NUMBERS[:1], clock=clock)
    assert receipt.unconfirmed and receipt.account == "fake"
    assert len(first.requests) == 1
    assert len(asked) > 3 and asked[-1] > 1000.0 + 25  # of the default 30 s budget
    first.answers, asked[:] = [first.took_without_answer], []
    (receipt,) = deliver([account("fake://u:p@"), account("backup://u:p@")], "hi", NUMBERS[:1],
                         clock=clock)
    assert receipt.ok and receipt.account == "backup"
    assert len(first.requests) == 2 and len(second.requests) == 1 and len(asked) == 2


def test_a_request_refused_whole_for_one_number_is_split_to_find_it(fake_gateways, clock) -> None:
    """server2sms 14 refuses a whole request for one bad number and sends nothing: the halves
    go again until the number is alone, and the others get their text."""
    gw = fake_gateways("fake", max_recipients=50)
    numbers = [f"+4477009002{i:02d}" for i in range(50)]
    bad = numbers[37]

    def refuse_bad(sub: Submission) -> list[Receipt]:
        if any(r.address == bad for r in sub.recipients):
            raise ProviderError("recipient", "Invalid MCC. Please check the number.", code="14")
        return [Receipt(r, message_id=r.reference) for r in sub.recipients]

    gw.answers = [refuse_bad] * 20
    receipts = deliver([account("fake://u:p@")], "hi", numbers, clock=clock)
    by_number = {r.recipient.address: r for r in receipts}
    assert [n for n, r in by_number.items() if not r.ok] == [bad]
    assert by_number[bad].error.code == "14"  # type: ignore[union-attr]
    delivered = [r.address for _, s in gw.requests for r in s.recipients
                 if bad not in [x.address for x in s.recipients]]
    assert sorted(delivered) == sorted(n for n in numbers if n != bad)  # each once
    assert len(gw.requests) <= 2 * 6 + 1  # a bisection, not one request per number
    assert clock.slept == []


def test_an_unknown_outcome_is_never_split(fake_gateways, clock) -> None:
    gw = fake_gateways("fake", max_recipients=10)
    gw.answers = [ProviderError("recipient", "some failed", unknown_outcome=True)]
    receipts = deliver([account("fake://u:p@")], "hi", NUMBERS[:4], clock=clock)
    assert len(gw.requests) == 1 and all(r.unconfirmed for r in receipts)


def test_a_gateway_list_with_an_unknown_outcome_is_not_sent_again(fake_gateways, clock) -> None:
    """Issue 13: a 24x phonebook send answered `Message Sent` went out three times. A list
    send carries no reference to look up, so it is unconfirmed at once."""
    gw = fake_gateways("fake", capabilities=LOOKUP)
    gw.answers = [unknown("unexpected answer: Message Sent")]
    (receipt,) = deliver([account("fake://u:p@?list=oncall")], "hi", clock=clock)
    assert receipt.unconfirmed and len(gw.requests) == 1 and gw.asked == []


def test_text_is_made_gsm_friendly_and_shortened(fake_gateways, clock) -> None:
    gw = fake_gateways("fake")
    deliver([account("fake://u:p@")], "“Disk” full " + "x" * 400, NUMBERS[:1], clock=clock)
    text = gw.requests[0][1].text
    assert text.startswith('"Disk" full') and text.endswith("...") and len(text) == 160


@pytest.mark.parametrize(("text", "sent"), [
    ("\U0001f525 disk full \U0001f44d\U0001f3fd", "? disk full ?"),  # an emoji is one `?`
    ("\u2764\ufe0f up", "? up"),  # its presentation selector adds none
    ("\U0001f468\u200d\U0001f4bb on call", "?? on call"),  # joined: a `?` each, no more
    ("\x1b[1mDOWN\x1b[0m \x07caf\u00e9 \u0151", "DOWN caf\u00e9 o"),  # controls go, accents too
])
def test_a_gsm_only_gateway_gets_a_question_mark_per_symbol_and_no_control(
        text: str, sent: str) -> None:
    provider = Provider(scheme="gsm", name="Gsm", base_url="https://gw.invalid", unicode=False)
    assert prepare_text(text, provider, 1) == sent


def test_what_a_gsm_only_gateway_receives(clock) -> None:  # type: ignore[no-untyped-def]
    import responses

    from sms_notify.testing import form
    from tests.providers_helpers import ENDPOINT

    with responses.RequestsMock() as gateway:
        gateway.add(responses.POST, f"{ENDPOINT}/api", body="73786923")
        deliver([account(f"fastsms://t@?from=A&endpoint={ENDPOINT}")],
                "\x1b[31mDOWN\x1b[0m db1 \U0001f525\u2764\ufe0f", NUMBERS[:1], clock=clock)
        assert form(gateway.calls[0])["Body"] == "DOWN db1 ??"


def test_max_segments_from_the_url_wins_up_to_the_provider_limit(fake_gateways, clock) -> None:
    gw = fake_gateways("fake")
    deliver([account("fake://u:p@?max_segments=9")], "x" * 1000, NUMBERS[:1], clock=clock)
    assert len(gw.requests[0][1].text) == 3 * 153  # the fake gateway takes 3 parts at most


def test_gateway_lists_go_through_their_own_account(fake_gateways, clock) -> None:
    gw = fake_gateways("fake")
    receipts = deliver([account("fake://u:p@?list=oncall")], "hi", clock=clock)
    (receipt,) = receipts
    assert receipt.recipient.kind == "list" and receipt.recipient.address == "oncall"
    assert gw.requests[0][1].recipients[0].kind == "list"


def test_a_list_any_provider_declares_is_a_recipient(fake_gateways) -> None:
    """`send` and `nagios` ask this before sending: a third-party plugin's own list option
    counts as much as FastSMS's ?list=."""
    fake_gateways("fake")
    assert has_recipient([account("fake://u:p@?roster=oncall")], [])
    assert not has_recipient([account("fake://u:p@?from=Alerts")], [])
    assert has_recipient([account("fake://u:p@?from=Alerts")], ["+447700900123"])


def test_a_plugin_bug_is_a_clear_error_not_a_crash(fake_gateways, clock) -> None:
    gw = fake_gateways("fake")
    gw.answers = [lambda sub: 1 / 0]  # type: ignore[list-item]
    receipts = deliver([account("fake://u:p@")], "hi", NUMBERS[:1], clock=clock)
    assert "plugin failed" in receipts[0].error.text  # type: ignore[union-attr]


def test_balance_and_missing_capability(fake_gateways) -> None:
    fake_gateways("fake")
    assert balance(account("fake://u:p@")).credits == 42.0
    with pytest.raises(ProviderError, match="offers no status look-up"):
        status(account("fake://u:p@"), "1")


def test_the_accounts_max_segments_wins_within_the_gateways_limit(fake_gateways, clock) -> None:
    gw = fake_gateways("fake")  # the fake gateway sends at most 3 parts
    long_text = "x" * 1000
    deliver([account("fake://u:p@?max_segments=2")], long_text, NUMBERS[:1], clock=clock)
    deliver([account("fake://u:p@?max_segments=9")], long_text, NUMBERS[:1], clock=clock)
    deliver([account("fake://u:p@")], long_text, NUMBERS[:1], max_segments=2, clock=clock)
    (_, two), (_, capped), (_, from_caller) = gw.requests
    assert (two.max_segments, len(two.text)) == (2, 306)
    assert (capped.max_segments, len(capped.text)) == (3, 459)
    assert from_caller.max_segments == 2


def test_a_bad_sender_fails_every_recipient_without_a_request(fake_gateways, clock) -> None:
    gw, backup = fake_gateways("fake", max_recipients=10), fake_gateways("backup")
    # URLs refuse such a sender when parsed; an Account built in code meets the same rule here.
    bad = Account("fake", "u", "p", options={"from": "Much-Too-Long-Sender"})
    receipts = deliver([bad], "hi", NUMBERS[:2], clock=clock)
    assert gw.requests == []
    assert [r.error.category for r in receipts] == [Category.SENDER] * 2  # type: ignore[union-attr]
    assert "Much-Too-Long-Sender" in receipts[0].error.describe()  # type: ignore[union-attr]
    # the sender is the account's: the next account, with its own, takes the text
    receipts = deliver([bad, account("backup://u:p@")], "hi", NUMBERS[:2], clock=clock)
    assert all(r.ok and r.account == "backup" for r in receipts) and gw.requests == []


def test_each_gateway_list_goes_in_its_own_request(fake_gateways, clock) -> None:
    gw = fake_gateways("fake", max_recipients=10)
    receipts = deliver([account("fake://u:p@?list=oncall")], "hi", NUMBERS[:2], clock=clock)
    numbers, lists = gw.requests
    assert [r.address for r in numbers[1].recipients] == NUMBERS[:2]
    assert [(r.address, r.kind) for r in lists[1].recipients] == [("oncall", "list")]
    assert all(r.ok for r in receipts)
