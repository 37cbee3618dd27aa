"""IntelliSoftware on the wire: the forms posted to sendmsg.aspx and getbalance.aspx, and what
their line answers become."""

from __future__ import annotations

import pytest
import responses
from sms_notify.plugins import intellisms

from sms_notify.cli import main
from sms_notify.delivery import balance, check_login, deliver, status, submit
from sms_notify.errors import Category, ProviderError
from sms_notify.model import Recipient, check_sender
from tests.providers_helpers import ENDPOINT, FAST, NUMBERS, account, form, path, query

SEND = f"{ENDPOINT}/smsgateway/sendmsg.aspx"
BALANCE = f"{ENDPOINT}/smsgateway/getbalance.aspx"
URL = f"intellisms://USER:PA%40SS@447700900123?from=Alerts&endpoint={ENDPOINT}"
ID = "10011000000000000001"

# Written from IntelliSoftware's document (docs/gateways.md), independently of the plugin.
EXPECTED: dict[str, str] = {
    "LOGIN_INVALID": "auth", "AUTH_PARAMETER_MISSING": "auth", "AUTH_PARAMETER_INVALID": "auth",
    "NO_USERNAME": "auth", "NO_PASSWORD": "auth",
    "INSUFFICIENT_CREDIT": "credit",
    "INVALID_NUMBER": "recipient",
    "NO_TO": "request", "NO_TEXT": "request", "NO_MSGID": "request",
    "INVALID_REQUEST": "request", "PARAMETER_MISSING": "request", "PARAMETER_INVALID": "request",
    "TOO_MANY_NUMBERS": "request", "MSGID_INVALID": "request", "ACCOUNT_EXISTS": "request",
    "CONNECTION_NOT_SECURE": "request",
    "DAILY_ALLOWANCE_EXCEEDED": "rate_limited",
    "GATEWAY_ERROR": "unavailable", "INTERNAL_ERROR": "unavailable",
}


def sent_form(mock: responses.RequestsMock, index: int = 0, where: str = "sendmsg") -> dict[str, str]:
    call = mock.calls[index]
    assert call.request.method == "POST"
    assert path(call) == f"/smsgateway/{where}.aspx"
    assert query(call) == {}, "credentials must travel in the body, not the URL"
    return form(call)


def test_one_recipient(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, body=f"ID:{ID}")
    receipts = deliver([account(URL)], "Disk full on db1", clock=clock)
    assert sent_form(gateway) == {
        "username": "USER", "password": "PA@SS", "to": "447700900123", "from": "Alerts",
        "text": "Disk full on db1", "maxconcat": "1",
    }
    assert [(r.recipient.address, r.message_id, r.ok) for r in receipts] == [
        ("+447700900123", ID, True)
    ]


def test_many_recipients_one_line_each(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, body=(
        f"447700900100,ID:{ID}\r\n447700900101,ERR:INVALID_NUMBER\r\n447700900102,ID:{ID}\r\n"
    ))
    receipts = deliver([account(f"intellisms://USER:PASS@?endpoint={ENDPOINT}")], "hi",
                       NUMBERS[:3], clock=clock)
    assert sent_form(gateway) == {
        "username": "USER", "password": "PASS", "to": "447700900100,447700900101,447700900102",
        "text": "hi", "maxconcat": "1",
    }
    assert [r.message_id for r in receipts] == [ID, None, ID]
    error = receipts[1].error
    assert error is not None and error.describe() == (
        "recipient: INVALID_NUMBER Unable to route to the destination phone number"
    )


def test_answer_lines_are_matched_by_number_not_by_order(gateway, clock) -> None:
    # Reordered, one number echoed in another form, one line missing (a duplicate removed).
    gateway.add(responses.POST, SEND, body=(
        "447700900102,ERR:INVALID_NUMBER\n+447700900100,ID:77\n0447700900101,ID:77"
    ))
    receipts = deliver([account(f"intellisms://USER:PASS@?endpoint={ENDPOINT}")], "hi",
                       NUMBERS[:4], clock=clock)
    assert [(r.recipient.address, r.message_id) for r in receipts] == [
        (NUMBERS[0], "77"), (NUMBERS[1], "77"), (NUMBERS[2], None), (NUMBERS[3], "77"),
    ]
    assert receipts[2].error is not None and receipts[2].error.code == "INVALID_NUMBER"


def test_250_recipients_go_in_three_requests_of_at_most_100(gateway, clock) -> None:
    numbers = [f"+44770090{i:04d}" for i in range(250)]
    for chunk in (numbers[:100], numbers[100:200], numbers[200:]):
        gateway.add(responses.POST, SEND, body="\n".join(f"{n[1:]},ID:{ID}" for n in chunk))
    receipts = deliver([account(f"intellisms://USER:PASS@?endpoint={ENDPOINT}")], "hi", numbers,
                       clock=clock)
    sent = [sent_form(gateway, i)["to"] for i in range(3)]
    assert sent == [",".join(n[1:] for n in c) for c in (numbers[:100], numbers[100:200], numbers[200:])]
    assert all(r.ok and r.message_id == ID for r in receipts) and len(receipts) == 250


def test_long_text_asks_for_as_many_parts_as_allowed(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, body=f"ID:{ID}")
    text = "x" * 300
    receipts = deliver([account(URL)], text, max_segments=2, clock=clock)
    assert (sent_form(gateway)["text"], sent_form(gateway)["maxconcat"]) == (text, "2")
    assert receipts[0].parts == 2


def test_long_text_is_cut_to_one_part_by_default(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, body=f"ID:{ID}")
    deliver([account(URL)], "x" * 300, clock=clock)
    sent = sent_form(gateway)
    assert (sent["text"], sent["maxconcat"]) == ("x" * 157 + "...", "1")


def test_max_segments_in_the_url_reaches_maxconcat(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, body=f"ID:{ID}")
    deliver([account(URL + "&max_segments=3")], "x" * 400, clock=clock)
    assert (sent_form(gateway)["text"], sent_form(gateway)["maxconcat"]) == ("x" * 400, "3")


def test_unicode_goes_as_type_2_with_ucs2_hex(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, body=f"ID:{ID}")
    deliver([account(URL)], "\u041f\u0440\u0438\u0432\u0435\u0442 \u20ac", clock=clock)
    assert sent_form(gateway) == {
        "username": "USER", "password": "PA@SS", "to": "447700900123", "from": "Alerts",
        "type": "2", "hex": "041f04400438043204350442002020ac", "maxconcat": "1",
    }


def test_long_unicode_counts_ucs2_parts(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, body=f"ID:{ID}")
    text = "\u0416" * 100
    deliver([account(URL)], text, max_segments=2, clock=clock)
    sent = sent_form(gateway)
    assert (sent["hex"], sent["maxconcat"]) == ("0416" * 100, "2")


def test_numeric_sender_goes_as_international_digits(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, body=f"ID:{ID}")
    deliver([account(f"intellisms://U:P@447700900123?from=%2B447700900999&endpoint={ENDPOINT}")],
            "hi", clock=clock)
    assert sent_form(gateway)["from"] == "447700900999"


def test_sender_rules() -> None:
    provider = intellisms.PROVIDER
    check_sender(provider, "Alerts")
    check_sender(provider, "+447700900123")
    for bad in ("TwelveLetter", "1234567890123456"):
        with pytest.raises(ProviderError):
            check_sender(provider, bad)


def test_balance(gateway) -> None:
    gateway.add(responses.POST, BALANCE, body="BALANCE:100")
    assert balance(account(URL)).credits == 100
    assert sent_form(gateway, where="getbalance") == {"username": "USER", "password": "PA@SS"}


def test_balance_and_login_with_wrong_credentials(gateway) -> None:
    gateway.add(responses.POST, BALANCE, body="ERR:LOGIN_INVALID")
    for ask in (balance, check_login):
        with pytest.raises(ProviderError) as caught:
            ask(account(URL))
        assert caught.value.describe() == "auth: LOGIN_INVALID Username or Password is invalid"
    assert len(gateway.calls) == 2


def test_login_check(gateway) -> None:
    gateway.add(responses.POST, BALANCE, body="BALANCE:0")
    assert check_login(account(URL)) is True


def test_status_is_not_offered_and_asks_nothing(gateway, capsys) -> None:
    assert "status" not in intellisms.PROVIDER.capabilities
    with pytest.raises(ProviderError) as caught:
        status(account(URL), ID)
    assert caught.value.category is Category.REQUEST
    assert main(["status", URL, ID]) == 1
    assert capsys.readouterr().out == f"{ID}: request: IntelliSoftware offers no status look-up\n"
    assert len(gateway.calls) == 0


def test_every_documented_code_is_mapped() -> None:
    assert set(intellisms.ERRORS) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(intellisms.ERRORS))
def test_error_code_category_and_retry(gateway, clock, code: str) -> None:
    gateway.add(responses.POST, SEND, body=f"ERR:{code}")
    receipts = submit(account(URL), [Recipient("+447700900123", "r1")], "hi",
                      clock=clock)
    error = receipts[0].error
    assert error is not None
    assert (str(error.category), error.code) == (EXPECTED[code], code)
    assert len(gateway.calls) == 1


@pytest.mark.parametrize(("code", "category"), [("NO_FROM", "request"), ("SOMETHING_NEW", "refused")])
def test_undocumented_codes(gateway, clock, code, category) -> None:
    gateway.add(responses.POST, SEND, body=f"ERR:{code}")
    receipts = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    assert receipts[0].error is not None and str(receipts[0].error.category) == category
    assert len(gateway.calls) == 1


@pytest.mark.parametrize("code", sorted(intellisms.ERRORS))
def test_per_recipient_codes_map_too(gateway, clock, code: str) -> None:
    gateway.add(responses.POST, SEND, body=f"447700900100,ID:{ID}\n447700900101,ERR:{code}")
    receipts = submit(account(URL), [Recipient(NUMBERS[0], "a"), Recipient(NUMBERS[1], "b")], "hi", clock=clock)
    assert receipts[0].message_id == ID
    assert receipts[1].error is not None and str(receipts[1].error.category) == EXPECTED[code]
    assert len(gateway.calls) == 1, "a per-recipient answer means the request went through"


def test_a_transient_error_is_retried_then_succeeds(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, body="ERR:GATEWAY_ERROR")
    gateway.add(responses.POST, SEND, body=f"ID:{ID}")
    receipts = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    assert receipts[0].message_id == ID
    assert len(gateway.calls) == 2 and len(clock.slept) == 1
    assert sent_form(gateway, 0) == sent_form(gateway, 1)


@pytest.mark.parametrize(
    "answer", ["<html><head><title>Runtime Error</title></head></html>", "", "OK", "44,ID"]
)
def test_an_answer_that_cannot_be_read_is_unconfirmed_not_resent(
    gateway, clock, answer: str
) -> None:
    """IntelliSoftware cannot be asked whether it took a text: unconfirmed, sent once."""
    gateway.add(responses.POST, SEND, body=answer)
    receipts = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    error = receipts[0].error
    assert error is not None and error.unknown_outcome and receipts[0].unconfirmed
    assert error.text == f"unexpected answer: {answer or '(empty)'}"
    assert "PA@SS" not in error.describe()
    assert len(gateway.calls) == 1


def test_garbage_balance_is_retried_then_named(gateway, instant) -> None:
    gateway.add(responses.POST, BALANCE, body="BALANCE:lots")
    with pytest.raises(ProviderError) as caught:
        balance(account(URL))
    assert caught.value.describe() == "unavailable: unexpected answer: BALANCE:lots"
    assert len(gateway.calls) > 1  # a query is asked again until its budget runs out
