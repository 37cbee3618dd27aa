"""FastSMS on the wire: the form each call posts to /api, and what its answers become."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import responses
from sms_notify.plugins import fastsms

from sms_notify import manager
from sms_notify.cli import main
from sms_notify.delivery import balance, deliver, status, submit
from sms_notify.errors import Category, ProviderError
from sms_notify.feeds import Feeds
from sms_notify.model import Push, Receipt, Recipient, Reply, Submission
from tests.providers_helpers import ENDPOINT, FAST, FAST_TRIES, NUMBERS, account, form, path, query

API = f"{ENDPOINT}/api"
URL = f"fastsms://TOKEN@447700900123?from=Alerts&endpoint={ENDPOINT}"

# Written from FastSMS's document (docs/gateways.md, FastSMS), independently of the plugin.
EXPECTED: dict[int, str] = {
    -100: "credit", -101: "request", -200: "recipient",
    -300: "unavailable", -301: "unavailable", -302: "unavailable", -303: "request",
    -400: "recipient", -401: "recipient", -402: "sender", -403: "sender", -404: "request",
    -405: "request", -406: "recipient", -407: "request", -408: "request", -409: "request",
    -410: "request", -411: "rate_limited", -412: "recipient", -414: "request",
    -501: "auth", -502: "request", -503: "request", -504: "request", -505: "request",
    -506: "sender", -507: "request", -508: "request", -509: "request", -510: "request",
    -511: "unavailable", -512: "auth", -513: "unavailable", -514: "auth", -515: "unavailable",
    -516: "request", -517: "unavailable", -518: "sender", -519: "request", -520: "request",
    -521: "request", -522: "unavailable", -523: "request",
    -601: "request", -701: "request", -702: "request", -703: "request",
}


def sent_form(mock: responses.RequestsMock, index: int = 0) -> dict[str, str]:
    call = mock.calls[index]
    assert call.request.method == "POST"
    assert path(call) == "/api"
    assert query(call) == {}, "the token must travel in the body, not the URL"
    return form(call)


def test_one_recipient(gateway, clock) -> None:
    gateway.add(responses.POST, API, body="73786923")
    receipts = deliver([account(URL)], "Disk full on db1", clock=clock)
    assert sent_form(gateway) == {
        "Token": "TOKEN", "ShowErrorMessage": "1", "Action": "Send", "Body": "Disk full on db1",
        "SourceAddress": "Alerts", "SourceTON": "5", "DestinationAddress": "447700900123",
    }
    assert [(r.recipient.address, r.message_id, r.parts, r.ok) for r in receipts] == [
        ("+447700900123", "73786923", 1, True)
    ]


def test_numeric_sender_goes_without_plus_as_ton_1(gateway, clock) -> None:
    gateway.add(responses.POST, API, body="1")
    deliver([account(f"fastsms://TOKEN@447700900123?from=%2B447700900999&endpoint={ENDPOINT}")],
            "hi", clock=clock)
    sent = sent_form(gateway)
    assert (sent["SourceAddress"], sent["SourceTON"]) == ("447700900999", "1")


def test_many_recipients_in_one_request_with_a_result_each(gateway, clock) -> None:
    gateway.add(responses.POST, API, body="101,-401,103\nInvalid Destination Address")
    receipts = deliver([account(f"fastsms://TOKEN@?from=Alerts&endpoint={ENDPOINT}")], "hi",
                       NUMBERS[:3], clock=clock)
    assert len(gateway.calls) == 1
    assert sent_form(gateway)["DestinationAddress"] == "447700900100,447700900101,447700900102"
    assert [r.message_id for r in receipts] == ["101", None, "103"]
    bad = receipts[1].error
    assert bad is not None and (bad.category, bad.code) == (Category.RECIPIENT, "-401")


def test_recipients_beyond_the_limit_go_in_more_requests(gateway, clock) -> None:
    numbers = [f"+44770090{i:04d}" for i in range(1200)]
    for size in (500, 500, 200):
        gateway.add(responses.POST, API, body=",".join(str(1000 + i) for i in range(size)))
    receipts = deliver([account(f"fastsms://TOKEN@?from=A&endpoint={ENDPOINT}")], "hi", numbers,
                       clock=clock)
    sizes = [len(sent_form(gateway, i)["DestinationAddress"].split(",")) for i in range(3)]
    assert sizes == [500, 500, 200]
    assert all(r.ok for r in receipts) and len(receipts) == 1200


def test_long_text_goes_in_three_parts_at_most(gateway, clock) -> None:
    gateway.add(responses.POST, API, body="555")
    text = "x" * 400
    receipts = deliver([account(URL)], text, max_segments=3, clock=clock)
    assert sent_form(gateway)["Body"] == text
    assert receipts[0].parts == 3

    gateway.add(responses.POST, API, body="556")
    deliver([account(URL)], "y" * 600, max_segments=5, clock=clock)
    body = sent_form(gateway, 1)["Body"]
    assert len(body) == 459 and body.endswith("...")


def test_unicode_is_transliterated_because_the_api_is_gsm_only(gateway, clock) -> None:
    gateway.add(responses.POST, API, body="77")
    deliver([account(URL)], "Disk full \u2014 \u6771\u4eac \u00dcn\u00efc\u00f6d\u00e9", clock=clock)
    assert sent_form(gateway)["Body"] == "Disk full - ?? \u00dcnic\u00f6d\u00e9"


@pytest.mark.parametrize(("option", "title"), [("list", "List"), ("group", "Group")])
def test_named_lists_and_groups(gateway, clock, option: str, title: str) -> None:
    gateway.add(responses.POST, API, body="9001")
    receipts = deliver(
        [account(f"fastsms://TOKEN@?{option}=On%20call&from=Alerts&endpoint={ENDPOINT}")], "hi",
        clock=clock,
    )
    assert sent_form(gateway) == {
        "Token": "TOKEN", "ShowErrorMessage": "1", "Action": "Send", "Body": "hi",
        "SourceAddress": "Alerts", "SourceTON": "5",
        "DestinationAddress": title, f"{title}Name": "On call", "GetBGSendID": "1",
    }
    assert [(r.recipient.kind, r.recipient.address, r.message_id) for r in receipts] == [
        (option, "On call", "9001")
    ]


def test_one_request_carries_one_list_and_nothing_else(gateway) -> None:
    """The core sends each list alone; a request that mixes them is refused before it leaves."""
    acct = account(f"fastsms://TOKEN@?from=A&endpoint={ENDPOINT}")
    for recipients in ([Recipient("L1", kind="list"), Recipient("G1", kind="group")],
                       [Recipient("L1", kind="list"), Recipient(NUMBERS[0])]):
        submission = Submission("hi", recipients)
        with pytest.raises(ProviderError) as caught:
            fastsms.sms_notify_send(account=acct, submission=submission)
        assert caught.value.category is Category.REQUEST
        assert "one list or group per request" in caught.value.describe()
    assert not gateway.calls


def test_a_list_and_a_group_go_in_a_request_each(gateway, clock) -> None:
    gateway.add(responses.POST, API, body="9001,9002")
    gateway.add(responses.POST, API, body="-520\nUnknown Group")
    receipts = deliver([account(f"fastsms://TOKEN@?list=L1&group=G1&from=A&endpoint={ENDPOINT}")],
                       "hi", clock=clock)
    assert [sent_form(gateway, i)["DestinationAddress"] for i in range(2)] == ["List", "Group"]
    assert receipts[0].message_id == "9001,9002"
    assert receipts[1].error is not None and receipts[1].error.describe() == "request: -520 Unknown Group"
    assert len(gateway.calls) == 2, "a failed group must not resend the list"


def test_balance(gateway) -> None:
    gateway.add(responses.POST, API, body="1234.50")
    assert balance(account(URL)).credits == 1234.5
    assert sent_form(gateway) == {"Token": "TOKEN", "ShowErrorMessage": "1", "Action": "CheckCredits"}


def test_balance_with_bad_token(gateway) -> None:
    gateway.add(responses.POST, API, body="-501\nUnknown Username/Password")
    with pytest.raises(ProviderError) as caught:
        balance(account(URL))
    assert caught.value.describe() == "auth: -501 Unknown Username/Password"


@pytest.mark.parametrize(
    ("answer", "state", "final"),
    [("Delivered", "delivered", True), ("Undeliverable", "failed", True), ("Sent", "sent", False),
     ("Mystery", "unknown", False)],
)
def test_status(gateway, answer: str, state: str, final: bool) -> None:
    gateway.add(responses.POST, API, body=answer)
    result = status(account(URL), "73786923")
    assert sent_form(gateway) == {
        "Token": "TOKEN", "ShowErrorMessage": "1", "Action": "CheckMessageStatus",
        "MessageID": "73786923",
    }
    assert (result.message_id, result.state, result.final, result.detail) == (
        "73786923", state, final, answer
    )


def test_status_of_an_unknown_id(gateway) -> None:
    gateway.add(responses.POST, API, body="-503\nUnknown Message ID")
    with pytest.raises(ProviderError) as caught:
        status(account(URL), "1")
    assert (caught.value.category, caught.value.code) == (Category.REQUEST, "-503")


def test_every_documented_code_is_mapped() -> None:
    assert set(fastsms.ERRORS) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(fastsms.ERRORS, reverse=True))
def test_error_code_category(gateway, clock, code: int) -> None:
    text = fastsms.ERRORS[code][1]
    gateway.add(responses.POST, API, body=f"{code}\n{text}")
    receipts = submit(account(URL), [Recipient("+447700900123", "r1")], "hi",
                      clock=clock)
    error = receipts[0].error
    assert error is not None
    assert (str(error.category), error.code, error.text) == (EXPECTED[code], str(code), text)
    assert len(gateway.calls) == 1


def test_a_transient_error_then_success(gateway, clock) -> None:
    gateway.add(responses.POST, API, body="-300\nGeneral Database Error")
    gateway.add(responses.POST, API, status=503, body="busy")
    gateway.add(responses.POST, API, body="42")
    receipts = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    assert receipts[0].message_id == "42"
    assert len(gateway.calls) == 3 and len(clock.slept) == 2
    assert sent_form(gateway, 0) == sent_form(gateway, 2)


@pytest.mark.parametrize("answer", ["<html><body>Bad gateway</body></html>", "", "OK",
                                    "101, 102"])
def test_an_answer_that_cannot_be_read_is_not_sent_again(gateway, clock, answer: str) -> None:
    """Issue 13: `101, 102` went out three times. The gateway answered, so it may have sent the
    text; FastSMS cannot be asked, so the text is unconfirmed, and the answer is shown."""
    gateway.add(responses.POST, API, body=answer)
    receipts = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    error = receipts[0].error
    assert error is not None and error.unknown_outcome and receipts[0].unconfirmed
    assert error.text == f"unexpected answer: {answer or '(empty)'}"
    assert len(gateway.calls) == 1


@pytest.mark.parametrize("status", [502, 504])
def test_a_proxys_502_or_504_is_not_sent_again_through_the_account(gateway, clock,
                                                                   status: int) -> None:
    """A proxy in front of the gateway passed the request on and got no usable answer: the
    gateway may have taken the text (the outside probe: 3 texts per recipient, two through the
    proxied account). FastSMS cannot be asked, so the text moves on to the next account once."""
    gateway.add(responses.POST, API, status=status, body=f"<html>{status} from the proxy</html>")
    gateway.add(responses.POST, API, body="42")  # would be the second text through FastSMS
    gateway.add(responses.POST, "http://127.0.0.1:8026/api", body="73786923")
    backup = "fastsms://TOKEN2@447700900123?from=Alerts&endpoint=http://127.0.0.1:8026"
    receipts = deliver([account(URL), account(backup)], "hi", policy=FAST, clock=clock)
    assert receipts[0].ok and receipts[0].message_id == "73786923"
    assert [call.request.url for call in gateway.calls] == [API, "http://127.0.0.1:8026/api"]
    gateway.reset()
    gateway.add(responses.POST, API, status=status, body=f"<html>{status} from the proxy</html>")
    alone = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    error = alone[0].error
    assert alone[0].unconfirmed and error is not None and error.unknown_outcome
    assert f"answered HTTP {status} (a proxy that passed the request on" in error.text
    assert len(gateway.calls) == 1


def test_a_garbled_answer_moves_on_to_the_next_account_once(gateway, clock) -> None:
    gateway.add(responses.POST, API, body="101, 102")
    gateway.add(responses.POST, "http://127.0.0.1:8026/api", body="73786923")
    backup = f"fastsms://TOKEN2@447700900123?from=Alerts&endpoint=http://127.0.0.1:8026"
    receipts = deliver([account(URL), account(backup)], "hi", policy=FAST, clock=clock)
    assert receipts[0].ok and receipts[0].message_id == "73786923"
    assert len(gateway.calls) == 2


@pytest.mark.parametrize(("status", "body", "category"), [
    (404, "404", "refused"), (400, "Bad Request", "refused"), (401, "", "auth"),
    (403, "Forbidden", "auth"), (408, "", "unavailable")])
def test_a_status_that_is_not_2xx_is_never_read_as_an_answer(
    gateway, clock, status: int, body: str, category: str
) -> None:
    """Issue 13: a 404 page whose body is `404` was message id 404."""
    gateway.add(responses.POST, API, status=status, body=body)
    [receipt] = submit(account(URL), [Recipient("+447700900123", "r1")], "hi", clock=clock)
    assert receipt.error is not None and receipt.message_id is None
    assert receipt.error.describe() == (
        f"{category}: {status} 127.0.0.1:8025 answered HTTP {status}: {body or '(empty)'}")


def test_a_partial_failure_of_a_whole_request_is_an_unknown_outcome(gateway, clock) -> None:
    """-400 "Some numbers in list failed": the others went out, so nothing is sent again."""
    gateway.add(responses.POST, API, body="-400\nSome numbers in list failed")
    receipts = deliver([account(URL)], "hi", NUMBERS[:2], policy=FAST, clock=clock)
    assert all(r.unconfirmed for r in receipts) and len(gateway.calls) == 1


def test_a_wrong_number_of_results_is_an_unknown_outcome(gateway, clock) -> None:
    gateway.add(responses.POST, API, body="101,102")  # for three numbers
    receipts = deliver([account(URL)], "hi", NUMBERS[:2], policy=FAST, clock=clock)
    assert all(r.unconfirmed for r in receipts) and len(gateway.calls) == 1


@pytest.mark.parametrize(("validity", "sent"), [("30m", "1800"), ("1d", "86400"), ("90", "90")])
def test_validity_is_sent_as_validity_period_in_seconds(
    gateway, clock, validity: str, sent: str
) -> None:
    gateway.add(responses.POST, API, body="1")
    deliver([account(f"{URL}&validity={validity}")], "hi", clock=clock)
    assert sent_form(gateway)["ValidityPeriod"] == sent


def test_a_sender_refusal_fails_over_to_the_next_account(gateway, clock) -> None:
    gateway.add(responses.POST, API, body="-518\nBlank or Invalid Source Address")
    gateway.add(responses.POST, "http://127.0.0.1:8026/api", body="73786923")
    backup = "fastsms://TOKEN2@?from=Backup&endpoint=http://127.0.0.1:8026"
    receipts = deliver([account(URL), account(backup)], "hi", clock=clock)
    assert receipts[0].ok and form(gateway.calls[1])["SourceAddress"] == "Backup"


def test_the_token_may_come_as_a_query_argument(gateway, clock) -> None:
    gateway.add(responses.POST, API, body="1")
    deliver([account(f"fastsms://?token=TOKEN&source=Alerts&to=447700900123&endpoint={ENDPOINT}")],
            "hi", clock=clock)
    sent = sent_form(gateway)
    assert (sent["Token"], sent["SourceAddress"]) == ("TOKEN", "Alerts")


def test_cli_send_prints_each_message_id(gateway, capsys) -> None:
    gateway.add(responses.POST, "http://127.0.0.1:8026/api", body="73786923,73786924")
    url = "fastsms://TOKEN@447700900123/447700900124?from=Alerts&endpoint=http://127.0.0.1:8026"
    code = main(["send", url, "-m", "Disk full on db1"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines() == [
        "+447700900123: sent, 1 part, id 73786923 (via fastsms@127.0.0.1:8026)",
        "+447700900124: sent, 1 part, id 73786924 (via fastsms@127.0.0.1:8026)",
    ]
    assert form(gateway.calls[0])["DestinationAddress"] == "447700900123,447700900124"


def test_cli_send_with_a_wrong_token_prints_the_gateway_error(gateway, capsys) -> None:
    gateway.add(responses.POST, "http://127.0.0.1:8026/api", body="-501\nUnknown Username/Password")
    url = "fastsms://S3CRET@447700900123/447700900124?from=Alerts&endpoint=http://127.0.0.1:8026"
    code = main(["send", url, "-m", "Disk full on db1"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.splitlines() == [
        f"+44770090012{i}: failed: auth: -501 Unknown Username/Password (via fastsms@127.0.0.1:8026)"
        for i in (3, 4)
    ]
    assert "S3CRET" not in captured.out + captured.err
    assert len(gateway.calls) == 1


# --- closing the loop: what became of a text, forwarded replies ------------------------------

def texts(*ids: str) -> list[Receipt]:
    """What sends returned, as the core hands them to the receipts hook."""
    return [Receipt(Recipient(NUMBERS[i], f"ref{i}"), message_id=m) for i, m in enumerate(ids)]


def test_receipts_ask_each_message_id_and_report_the_final_words(gateway) -> None:
    for word in ("Delivered", "Undeliverable", "Sent", "-503\nUnknown Message ID", "Pending"):
        gateway.add(responses.POST, API, body=word)
    reports = manager.gateway("fastsms").receipts(account(URL), texts("1", "2", "3", "4", "5"),
                                                  Feeds().feed("fastsms"))
    assert [(r.message_id, r.state) for r in reports] == [
        ("1", "delivered"), ("2", "undelivered"), ("4", "unknown")]
    assert [sent_form(gateway, i) for i in range(5)] == [
        {"Token": "TOKEN", "ShowErrorMessage": "1", "Action": "CheckMessageStatus",
         "MessageID": m} for m in "12345"]


def test_receipts_ask_a_message_id_once_and_raise_a_whole_request_error(gateway) -> None:
    gateway.add(responses.POST, API, body="-501\nUnknown Username/Password")
    with pytest.raises(ProviderError) as error:
        manager.gateway("fastsms").receipts(account(URL), texts("7", "7"), Feeds().feed("f"))
    assert error.value.category is Category.AUTH
    assert len(gateway.calls) == 1


def test_a_forwarded_reply_is_read_with_its_uk_time() -> None:
    push = Push("POST", {"source": "447700900123", "dest": "447700900999", "msg": "ACK 30m",
                         "id": "4100001", "receivedts": "2026-07-01 14:05:00"})
    (reply,) = manager.gateway("fastsms").reply_push(account(URL), push)
    assert reply == Reply("447700900123", "ACK 30m", id="4100001", to="447700900999",
                          received=datetime(2026, 7, 1, 13, 5, tzinfo=UTC).timestamp())


def test_a_request_that_is_no_forwarded_reply_is_the_requests_error() -> None:
    with pytest.raises(ProviderError) as error:
        manager.gateway("fastsms").reply_push(account(URL), Push("GET", {"msg": "ACK"}))
    assert error.value.category is Category.REQUEST
    assert "source and msg" in error.value.text
