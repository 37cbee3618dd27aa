"""server2sms on the wire: the JSON each method receives, and what its StatusCodes become."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from sms_notify.plugins import server2sms

from sms_notify import manager
from sms_notify.cli import main
from sms_notify.delivery import balance, check_login, deliver, lookup, status, submit
from sms_notify.errors import Category, ProviderError
from sms_notify.feeds import Feeds
from sms_notify.model import DeliveryReport, Push, Receipt, Recipient, check_sender
from tests.providers_helpers import ENDPOINT, FAST, FAST_TRIES, NUMBERS, account, json_body, path, query

SEND = f"{ENDPOINT}/SendTextSMS"
CREDITS = f"{ENDPOINT}/CheckCredits"
INQUIRE = f"{ENDPOINT}/InquireDeliveryNotifications"
URL = f"server2sms://USER:PA%3ASS@447700900123?from=Alerts&endpoint={ENDPOINT}"
OK = {"StatusCode": "1", "StatusInfo": "OK"}

# Written from the ASPSMS StatusCode table (docs/gateways.md, server2sms), independently of
# the plugin.
EXPECTED: dict[str, str] = {
    "2": "unavailable", "3": "auth", "4": "request", "5": "credit", "6": "unavailable",
    "7": "unavailable", "8": "auth", "9": "auth", "10": "sender", "11": "request",
    "12": "request", "13": "request", "14": "recipient", "15": "recipient", "16": "request",
    "17": "request", "18": "request", "19": "request", "20": "request", "21": "request",
    "22": "request", "23": "request", "24": "unavailable", "25": "auth",
    "28": "request", "29": "sender", "30": "sender", "31": "request", "32": "request",
    "33": "request", "34": "request", "35": "request", "36": "request", "37": "request",
    "38": "request", "39": "request",
}


def sent(mock: responses.RequestsMock, index: int = 0, method: str = "SendTextSMS") -> Any:
    call = mock.calls[index]
    assert call.request.method == "POST"
    assert path(call) == f"/{method}"
    assert query(call) == {}
    assert call.request.headers["Content-Type"] == "application/json"
    return json_body(call)


def notification(ref: str, status_code: str, description: str, submitted: str = "") -> dict[str, str]:
    return {
        "TransactionReferenceNumber": ref, "DeliveryStatus": status_code,
        "DeliveryStatusDescription": description, "SubmissionDate": submitted,
        "NotificationDate": "", "Reasoncode": "", "ReasoncodeDescription": "",
    }


def test_one_recipient_with_its_transaction_reference(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, json=OK)
    receipts = deliver([account(URL)], "Disk full on db1", clock=clock)
    ref = receipts[0].recipient.reference
    assert len(ref) == 12 and ref.isalnum()
    assert sent(gateway) == {
        "UserName": "USER", "Password": "PA:SS", "Originator": "Alerts",
        "Recipients": [f"+447700900123:{ref}"], "MessageText": "Disk full on db1",
        "ForceGSM7bit": True,
    }
    assert [(r.recipient.address, r.message_id, r.ok) for r in receipts] == [
        ("+447700900123", ref, True)
    ]


def test_many_recipients_in_one_request(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, json=OK)
    receipts = deliver([account(f"server2sms://USER:PASS@?endpoint={ENDPOINT}")], "hi", NUMBERS,
                       clock=clock)
    body = sent(gateway)
    assert "Originator" not in body
    assert body["Recipients"] == [f"{r.recipient.address}:{r.recipient.reference}" for r in receipts]
    assert [r.recipient.address for r in receipts] == NUMBERS
    assert len({r.message_id for r in receipts}) == len(NUMBERS)


def test_recipients_beyond_1000_go_in_more_requests(gateway, clock) -> None:
    numbers = [f"+4477009{i:05d}" for i in range(2500)]
    for _ in range(3):
        gateway.add(responses.POST, SEND, json=OK)
    receipts = deliver([account(f"server2sms://USER:PASS@?endpoint={ENDPOINT}")], "hi", numbers,
                       clock=clock)
    assert [len(sent(gateway, i)["Recipients"]) for i in range(3)] == [1000, 1000, 500]
    assert all(r.ok for r in receipts) and len(receipts) == 2500


def test_unicode_is_left_to_the_gateway(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, json=OK)
    text = "Z\u00fcrich: \u0441\u0435\u0440\u0432\u0435\u0440 down"
    deliver([account(URL)], text, clock=clock)
    body = sent(gateway)
    assert (body["MessageText"], body["ForceGSM7bit"]) == (text, False)


def test_long_text_goes_whole(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, json=OK)
    text = "x" * 600
    receipts = deliver([account(URL)], text, max_segments=4, clock=clock)
    assert sent(gateway)["MessageText"] == text
    assert receipts[0].parts == 4


def test_sender_rules() -> None:
    check_sender(server2sms.PROVIDER, "Alerts")
    check_sender(server2sms.PROVIDER, "+41760000000")
    with pytest.raises(ProviderError):
        check_sender(server2sms.PROVIDER, "TwelveLetter")


def test_balance(gateway, instant) -> None:
    gateway.add(responses.POST, CREDITS, json={"Credits": "123.45", **OK})
    assert balance(account(URL)).credits == 123.45
    assert sent(gateway, method="CheckCredits") == {"UserName": "USER", "Password": "PA:SS"}


def test_balance_and_login_with_wrong_credentials(gateway, instant) -> None:
    gateway.add(responses.POST, CREDITS, json={"Credits": "", "StatusCode": "3",
                                               "StatusInfo": "Authorization failed."})
    for ask in (balance, check_login):
        with pytest.raises(ProviderError) as caught:
            ask(account(URL))
        assert caught.value.describe() == "auth: 3 Authorization failed."
    assert len(gateway.calls) == 2


@pytest.mark.parametrize(
    ("code", "description", "state", "final"),
    [("0", "Delivered", "delivered", True), ("1", "Buffered", "sent", False),
     ("2", "Not delivered", "failed", True), ("-1", "Not yet submitted or rejected", "queued", False)],
)
@pytest.mark.parametrize("ok", ["0", "1"])
def test_status(gateway, instant, code, description, state, final, ok) -> None:
    gateway.add(responses.POST, INQUIRE, json={
        "StatusCode": ok, "StatusInfo": "OK",
        "DeliveryNotifications": [notification("a1b2c3", code, description, "2024-05-01T10:00:00Z")],
    })
    result = status(account(URL), "a1b2c3")
    assert sent(gateway, method="InquireDeliveryNotifications") == {
        "UserName": "USER", "Password": "PA:SS", "TransactionReferenceNumbers": "a1b2c3",
    }
    assert (result.message_id, result.state, result.final, result.detail) == (
        "a1b2c3", state, final, description
    )


def test_status_of_an_unknown_reference(gateway, instant, capsys) -> None:
    gateway.add(responses.POST, INQUIRE, json={"StatusCode": "1", "StatusInfo": "OK",
                                               "DeliveryNotifications": []})
    assert main(["status", URL, "nope"]) == 1
    assert capsys.readouterr().out == "nope: request: no delivery notification for nope\n"
    assert len(gateway.calls) == 1


def test_lookup_tells_which_references_the_gateway_has(gateway, instant) -> None:
    gateway.add(responses.POST, INQUIRE, json={
        "StatusCode": "0", "StatusInfo": "OK", "DeliveryNotifications": [
            notification("r1", "0", "Delivered", "2024-05-01T10:00:00Z"),
            notification("r2", "-1", "Not yet submitted or rejected", "2024-05-01T10:00:01Z"),
            notification("r3", "-1", "Not yet submitted or rejected"),
        ],
    })
    assert "lookup" in server2sms.PROVIDER.capabilities
    assert lookup(account(URL), ["r1", "r2", "r3", "r4"]) == {
        "r1": True, "r2": True, "r3": False, "r4": False,
    }
    assert sent(gateway, method="InquireDeliveryNotifications")["TransactionReferenceNumbers"] == (
        "r1;r2;r3;r4"
    )


def test_every_documented_code_is_mapped() -> None:
    assert set(server2sms.ERRORS) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(server2sms.ERRORS))
def test_error_code_category(gateway, clock, code: str) -> None:
    info = server2sms.ERRORS[code][1]
    gateway.add(responses.POST, SEND, json={"StatusCode": code, "StatusInfo": info})
    receipts = submit(account(URL), [Recipient("+447700900123", "r1")], "hi",
                      clock=clock)
    error = receipts[0].error
    assert error is not None
    assert (str(error.category), error.code, error.text) == (EXPECTED[code], code, info)
    assert len(gateway.calls) == 1


def test_numeric_status_codes_are_read_too(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, json={"StatusCode": 5, "StatusInfo": ""})
    receipts = deliver([account(URL)], "hi", clock=clock)
    assert receipts[0].error is not None
    assert receipts[0].error.describe() == (
        "credit: 5 Not enough credits available. Please recharge your account to proceed."
    )


def test_zero_is_not_success_for_a_send(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, json={"StatusCode": "0", "StatusInfo": "?"})
    receipts = deliver([account(URL)], "hi", clock=clock)
    assert receipts[0].error is not None and receipts[0].error.category is Category.REFUSED


def test_a_transient_error_is_retried_with_the_same_references(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, json={"StatusCode": "24",
                                            "StatusInfo": "Service temporarely not available."})
    gateway.add(responses.POST, SEND, json=OK)
    receipts = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    assert receipts[0].ok
    assert len(gateway.calls) == 2 and len(clock.slept) == 1
    assert sent(gateway, 0) == sent(gateway, 1)


@pytest.mark.parametrize(
    "answer",
    ["<html><body>502 Bad Gateway</body></html>", "", '{"Status": "OK"}', '["1"]', "null"],
)
def test_an_answer_that_cannot_be_read_is_looked_up_not_resent(
    gateway, clock, answer: str
) -> None:
    """The gateway answered, so it may have the text: asked after the account's timeout, it
    has it, and nothing is sent again."""
    gateway.add(responses.POST, SEND, body=answer, content_type="application/json")

    def has_it(request):  # type: ignore[no-untyped-def]
        import json

        refs = json.loads(request.body)["TransactionReferenceNumbers"].split(";")
        return 200, {}, json.dumps({**OK, "DeliveryNotifications": [
            notification(ref, "1", "Buffered", "2024-05-01T10:00:00Z") for ref in refs]})

    gateway.add_callback(responses.POST, INQUIRE, callback=has_it)
    acct = account(f"server2sms://USER:PA%3ASS@?from=Alerts&timeout=4&endpoint={ENDPOINT}")
    receipts = deliver([acct], "hi", ["+447700900123"], clock=clock)
    ref = sent(gateway)["Recipients"][0].partition(":")[2]
    assert gateway.calls[1].request.url == INQUIRE
    assert sent(gateway, 1, "InquireDeliveryNotifications")["TransactionReferenceNumbers"] == ref
    assert clock.slept == [4.0]  # the account's timeout, then the look-up
    assert len(gateway.calls) == 2 and receipts[0].ok and receipts[0].message_id == ref


def test_a_send_that_got_no_answer_is_sent_again_only_without_a_trace(gateway, clock) -> None:
    """Issue 13: a slow server2sms that answered after timeout=2 turned 10 alerts into 45 texts."""
    import requests

    gateway.add(responses.POST, SEND, body=requests.ReadTimeout("slow"))
    gateway.add(responses.POST, INQUIRE, json={**OK, "DeliveryNotifications": [
        notification("x", "-1", "Not yet submitted or rejected")]})
    gateway.add(responses.POST, SEND, json=OK)
    acct = account(f"server2sms://USER:PA%3ASS@?from=Alerts&timeout=2&endpoint={ENDPOINT}")
    [receipt] = deliver([acct], "hi", ["+447700900123"], clock=clock)
    assert receipt.ok and [c.request.url for c in gateway.calls] == [SEND, INQUIRE, SEND]
    assert sent(gateway, 0) == sent(gateway, 2)  # the same reference, once it had no trace
    assert clock.slept == [2.0]


def test_a_request_refused_for_one_bad_number_is_split(gateway, clock) -> None:
    """14 refuses a whole request of up to 1,000 for one number: the others still get it."""
    numbers = [f"+4477009004{i:02d}" for i in range(50)]
    bad = numbers[20]
    refused = {"StatusCode": "14", "StatusInfo": "Invalid MCC. Please check the number."}

    def answer(request):  # type: ignore[no-untyped-def]
        import json

        recipients = json.loads(request.body)["Recipients"]
        return 200, {}, json.dumps(refused if any(r.startswith(bad) for r in recipients) else OK)

    gateway.add_callback(responses.POST, SEND, callback=answer)
    acct = account(f"server2sms://USER:PA%3ASS@?from=Alerts&endpoint={ENDPOINT}")
    receipts = deliver([acct], "hi", numbers, clock=clock)
    assert [r.recipient.address for r in receipts if not r.ok] == [bad]
    accepted = [r.partition(":")[0] for i in range(len(gateway.calls))
                if (body := sent(gateway, i))["Recipients"] and not any(
                    x.startswith(bad) for x in body["Recipients"]) for r in body["Recipients"]]
    assert sorted(accepted) == sorted(n for n in numbers if n != bad)  # each once
    assert len(gateway.calls) <= 13


def test_credits_that_are_not_a_number(gateway, instant) -> None:
    gateway.add(responses.POST, CREDITS, json={"Credits": "many", **OK})
    with pytest.raises(ProviderError) as caught:
        balance(account(URL))
    assert caught.value.category is Category.UNAVAILABLE
    assert "many" in caught.value.text


# --- closing the loop: notification URLs, what became of a text -----------------------------

PUSH_TO = "http://rx.example:9717/receipts/backup?auth=s%2Bx"
TAGS = "TRN=<TRN>&DST=<DST>&RSN=<RSN>&DSCTSUTC=<DSCTSUTC>"


def test_a_send_gives_the_notification_urls_with_the_gateways_tags(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, json=OK)
    submit(account(URL), [Recipient(NUMBERS[0], "ref0")], "hi", receipt_url=PUSH_TO)
    body = sent(gateway)
    assert body["URLDeliveryNotification"] == body["URLNonDeliveryNotification"] == \
        f"{PUSH_TO}&{TAGS}"
    assert "URLBufferedMessageNotification" not in body


def test_without_a_receipt_url_a_send_gives_none(gateway, clock) -> None:
    gateway.add(responses.POST, SEND, json=OK)
    submit(account(URL), [Recipient(NUMBERS[0], "ref0")], "hi")
    assert not [k for k in sent(gateway) if k.startswith("URL")]


def test_a_notification_url_over_200_characters_is_left_out(gateway, clock, caplog) -> None:
    """Code 18 would refuse the text itself: the report is the lesser loss."""
    gateway.add(responses.POST, SEND, json=OK)
    submit(account(URL), [Recipient(NUMBERS[0], "ref0")], "hi",
           receipt_url="https://rx.example/receipts/backup?auth=" + "s" * 150)
    assert not [k for k in sent(gateway) if k.startswith("URL")]
    assert "over the gateway's 200" in caplog.text and "s" * 150 not in caplog.text


def test_receipts_ask_every_reference_in_one_request(gateway) -> None:
    gateway.add(responses.POST, INQUIRE, json={**OK, "DeliveryNotifications": [
        {**notification("r0", "0", "Delivered"), "NotificationDate": "2026-03-01T09:31:00Z"},
        {**notification("r1", "2", "Not delivered"), "Reasoncode": "108"},
        notification("r2", "1", "Buffered"), notification("r3", "-1", "Not yet submitted")]})
    texts = [Receipt(Recipient(n, f"r{i}"), message_id=f"r{i}") for i, n in enumerate(NUMBERS)]
    reports = manager.gateway("server2sms").receipts(account(URL), texts[:4], Feeds().feed("s"))
    assert sent(gateway, method="InquireDeliveryNotifications")[
        "TransactionReferenceNumbers"] == "r0;r1;r2;r3"
    assert [(r.reference, r.state, r.at, r.detail) for r in reports] == [
        ("r0", "delivered", datetime(2026, 3, 1, 9, 31, tzinfo=UTC).timestamp(), "Delivered"),
        ("r1", "undelivered", None, "Not delivered; 108")]


@pytest.mark.parametrize(("status_code", "state"), [("0", "delivered"), ("2", "undelivered")])
def test_a_pushed_notification_is_read(status_code: str, state: str) -> None:
    push = Push("GET", {"TRN": "r0", "DST": status_code, "RSN": "000",
                        "DSCTSUTC": "2026-03-01T09:31:00Z"})
    assert manager.gateway("server2sms").receipt_push(account(URL), push) == [DeliveryReport(
        state, "r0", "r0", datetime(2026, 3, 1, 9, 31, tzinfo=UTC).timestamp(), "000")]


def test_a_buffered_notification_is_no_report_yet() -> None:
    push = Push("GET", {"TRN": "r0", "DST": "1", "RSN": "", "DSCTSUTC": ""})
    assert manager.gateway("server2sms").receipt_push(account(URL), push) == []


def test_a_request_that_is_no_notification_is_the_requests_error() -> None:
    with pytest.raises(ProviderError) as error:
        manager.gateway("server2sms").receipt_push(account(URL), Push("GET", {"DST": "0"}))
    assert error.value.category is Category.REQUEST
