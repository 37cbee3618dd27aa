"""The core's policy: batching, retries of transient errors only, failover, one text each."""

from __future__ import annotations

import pytest

from sms_notify.delivery import RetryPolicy, balance, deliver, has_recipient, status
from sms_notify.errors import Category, ProviderError
from sms_notify.manager import providers
from sms_notify.model import Account, Receipt, Submission
from sms_notify.urls import parse

NUMBERS = [f"+4477009001{i:02d}" for i in range(5)]


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
    policy = RetryPolicy(attempts=3, base_delay=1.0, jitter=0.5)
    receipts = deliver([account("fake://u:p@")], "hi", NUMBERS[:1], policy=policy, clock=clock)
    assert receipts[0].ok
    assert len(gw.requests) == 3
    assert 0.5 <= clock.slept[0] <= 1.0 and 1.0 <= clock.slept[1] <= 2.0


@pytest.mark.parametrize("category", ["auth", "credit", "recipient", "request"])
def test_permanent_errors_are_not_retried(fake_gateways, clock, category: str) -> None:
    gw = fake_gateways("fake")
    gw.answers = [ProviderError(category, "no", code="E1")]
    receipts = deliver([account("fake://u:p@")], "hi", NUMBERS[:1], clock=clock)
    assert len(gw.requests) == 1
    assert receipts[0].error is not None
    assert receipts[0].error.describe() == f"{category}: E1 no"
    assert clock.slept == []


def test_retries_stop_at_the_budget(fake_gateways, clock) -> None:
    gw = fake_gateways("fake")
    gw.answers = [ProviderError("unavailable", "down")] * 10
    policy = RetryPolicy(budget=2.0, attempts=10, base_delay=1.0, jitter=0.0)
    receipts = deliver([account("fake://u:p@")], "hi", NUMBERS[:1], policy=policy, clock=clock)
    assert not receipts[0].ok
    assert sum(clock.slept) < 2.0
    assert len(gw.requests) == 2


@pytest.mark.parametrize("category", ["auth", "credit", "rate_limited", "unavailable"])
def test_fails_over_to_the_next_account(fake_gateways, clock, category: str) -> None:
    first, second = fake_gateways("fake"), fake_gateways("backup")
    first.answers = [ProviderError(category, "primary trouble")] * 5
    receipts = deliver(
        [account("fake://u:p@"), account("backup://u:p@")], "hi", NUMBERS[:2],
        policy=RetryPolicy(attempts=2), clock=clock,
    )
    assert all(r.ok and r.account == "backup" for r in receipts)
    assert second.recipients_sent() == NUMBERS[:2]


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


def test_text_is_made_gsm_friendly_and_shortened(fake_gateways, clock) -> None:
    gw = fake_gateways("fake")
    deliver([account("fake://u:p@")], "“Disk” full " + "x" * 400, NUMBERS[:1], clock=clock)
    text = gw.requests[0][1].text
    assert text.startswith('"Disk" full') and text.endswith("...") and len(text) == 160


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
    gw = fake_gateways("fake", max_recipients=10)
    # URLs refuse such a sender when parsed; an Account built in code meets the same rule here.
    bad = Account("fake", "u", "p", options={"from": "Much-Too-Long-Sender"})
    receipts = deliver([bad], "hi", NUMBERS[:2], clock=clock)
    assert gw.requests == []
    assert [r.error.category for r in receipts] == [Category.REQUEST] * 2  # type: ignore[union-attr]
    assert "Much-Too-Long-Sender" in receipts[0].error.describe()  # type: ignore[union-attr]


def test_each_gateway_list_goes_in_its_own_request(fake_gateways, clock) -> None:
    gw = fake_gateways("fake", max_recipients=10)
    receipts = deliver([account("fake://u:p@?list=oncall")], "hi", NUMBERS[:2], clock=clock)
    numbers, lists = gw.requests
    assert [r.address for r in numbers[1].recipients] == NUMBERS[:2]
    assert [(r.address, r.kind) for r in lists[1].recipients] == [("oncall", "list")]
    assert all(r.ok for r in receipts)
