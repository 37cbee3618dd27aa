"""24x on the wire: the SOAP envelope each operation posts, and what its answers become."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
import responses
from sms_notify.plugins import sms24x

from sms_notify import manager
from sms_notify.cli import main
from sms_notify.delivery import balance, check_login, deliver, lookup, status, submit
from sms_notify.errors import Category, ConfigError, ProviderError
from sms_notify.manager import providers
from sms_notify.feeds import Feeds
from sms_notify.model import Account, Receipt, Recipient, Submission
from tests.fixtures.soap import XML, SoapRequest, soap_fault, soap_request, soap_result
from tests.providers_helpers import ENDPOINT, FAST, NUMBERS, account

NS = "http://tempuri.org/"
SERVICE = f"{ENDPOINT}/wssecure/service.asmx"
URL = f"sms24x://USER:PA%3ASS@447700900123?from=Alerts&endpoint={ENDPOINT}"
NOW = datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)
SEND_ORDER = ["UserName", "Password", "Mobiles", "MessageFrom", "MessageToSend",
              "DateTimeToSend", "UserField", "EmailAddressToSendReplies"]

# Written from 24x's document (docs/gateways.md, 24x), independently of the plugin's table
EXPECTED: dict[str, str] = {
    "01": "auth", "02": "sender", "03": "request", "04": "credit", "05": "request",
    "07": "request", "08": "request", "09": "request", "10": "request",
    "11": "request", "12": "request", "14": "auth",
}


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sms24x, "_now", lambda: NOW)


def answer(mock: responses.RequestsMock, operation: str, value: str, url: str = SERVICE) -> None:
    mock.add(responses.POST, url, body=soap_result(NS, operation, value), content_type=XML)


def sent(mock: responses.RequestsMock, index: int = 0, operation: str = "SendFullSMS"
         ) -> SoapRequest:
    """The request, checked against what every 24x call must look like."""
    request = soap_request(mock.calls[index])
    assert request.path == "/wssecure/service.asmx"
    assert request.content_type == "text/xml; charset=utf-8"
    assert request.action == f'"http://tempuri.org/{operation}"'
    assert (request.namespace, request.operation) == (NS, operation)
    assert request.child_namespaces == {NS}
    assert request.children[:2] == [("UserName", "USER"), ("Password", "PA:SS")]
    return request


def test_send_one_recipient_exact_envelope(gateway, clock) -> None:
    answer(gateway, "SendFullSMS", "52000001")
    receipts = deliver([account(URL)], "Disk full on db1", clock=clock)
    request = sent(gateway)
    assert request.children == [
        ("UserName", "USER"), ("Password", "PA:SS"), ("Mobiles", "07700900123"),
        ("MessageFrom", "Alerts"), ("MessageToSend", "Disk full on db1"),
        ("DateTimeToSend", "2026-03-01T09:30:15Z"),
        ("UserField", receipts[0].recipient.reference), ("EmailAddressToSendReplies", ""),
    ]
    assert [name for name, _ in request.children] == SEND_ORDER
    assert [(r.recipient.address, r.message_id, r.parts, r.ok) for r in receipts] == [
        ("+447700900123", "52000001", 1, True)
    ]
    assert gateway.calls[0].request.headers["User-Agent"].startswith("sms-notify/")


def test_numbers_comma_joined_uk_national_others_international(gateway, clock) -> None:
    answer(gateway, "SendFullSMS", "52000002")
    url = f"sms24x://USER:PA%3ASS@?from=%2B447700900999&endpoint={ENDPOINT}"
    receipts = deliver([account(url)], "hi", [NUMBERS[0], NUMBERS[1], "+353851234567"],
                       clock=clock)
    args = sent(gateway).args
    assert args["Mobiles"] == "07700900100,07700900101,353851234567"
    assert args["MessageFrom"] == "447700900999", "a numeric sender goes as digits"
    assert [r.message_id for r in receipts] == ["52000002"] * 3, "one id for the whole call"


def test_one_id_per_number_is_read_too(gateway, clock) -> None:
    answer(gateway, "SendFullSMS", "101,102")
    receipts = deliver([account(URL)], "hi", [NUMBERS[0]], clock=clock)
    assert [r.message_id for r in receipts] == ["101", "102"]


def test_a_wrong_number_of_ids_is_an_unknown_outcome(gateway, clock) -> None:
    answer(gateway, "SendFullSMS", "101,102,103")
    receipts = submit(account(URL), [Recipient(NUMBERS[0], "r1"), Recipient(NUMBERS[1], "r2")],
                      "hi", clock=clock)
    assert all(r.error and r.error.unknown_outcome for r in receipts)
    assert len(gateway.calls) == 1


def test_user_field_carries_the_requests_reference(gateway, clock) -> None:
    answer(gateway, "SendFullSMS", "7")
    recipients = [Recipient("+447700900100", "ref-one"), Recipient("+447700900101", "ref-two")]
    submit(account(URL.replace("447700900123", "")), recipients, "hi", clock=clock)
    assert sent(gateway).args["UserField"] == "ref-one"


def test_more_than_100_numbers_go_in_two_requests(gateway, clock) -> None:
    numbers = [f"+44770090{i:04d}" for i in range(150)]
    answer(gateway, "SendFullSMS", "1")
    answer(gateway, "SendFullSMS", "2")
    receipts = deliver([account(f"sms24x://U:P@?from=A&endpoint={ENDPOINT}")], "hi", numbers,
                       clock=clock)
    sizes = [len(soap_request(c).args["Mobiles"].split(",")) for c in gateway.calls]
    assert sizes == [100, 50]
    assert [r.message_id for r in receipts] == ["1"] * 100 + ["2"] * 50


def test_long_text_three_parts_and_unicode_as_gsm(gateway, clock) -> None:
    answer(gateway, "SendFullSMS", "9")
    receipts = deliver([account(URL)], "y" * 600 + " \u6771\u4eac", max_segments=5, clock=clock)
    text = sent(gateway).args["MessageToSend"]
    assert len(text) == 459 and text.endswith("...")
    assert receipts[0].parts == 3
    answer(gateway, "SendFullSMS", "10")
    deliver([account(URL)], "Z\u00fcrich \u2192 \u6771\u4eac", clock=clock)
    assert soap_request(gateway.calls[1]).args["MessageToSend"] == "Z\u00fcrich -> ??"


def test_characters_xml_cannot_carry_are_dropped(gateway) -> None:
    answer(gateway, "SendFullSMS", "11")
    submission = Submission("bell\x07 and <tags> & more", [Recipient("+447700900123")], "A")
    assert sms24x.sms_notify_send(account(URL), submission)[0].message_id == "11"
    assert sent(gateway).args["MessageToSend"] == "bell and <tags> & more"


def test_no_sender_is_refused_before_any_request(gateway, clock) -> None:
    """24x answers 02 to an empty MessageFrom: every alert would fail. A URL without from= is
    refused when parsed; an account built in code fails over without a request."""
    with pytest.raises(ConfigError, match="24x needs a sender"):
        account(f"sms24x://USER:PA%3ASS@447700900123?endpoint={ENDPOINT}")
    bare = Account("sms24x", "USER", "PA:SS", options={"endpoint": ENDPOINT})
    [receipt] = deliver([bare], "hi", ["+447700900123"], clock=clock)
    assert receipt.error is not None and receipt.error.category is Category.SENDER
    assert not gateway.calls


def test_a_sender_refusal_fails_over(gateway, clock) -> None:
    answer(gateway, "SendFullSMS", "02 - No sender specified")
    answer(gateway, "SendFullSMS", "52000077", url="http://127.0.0.1:8026/wssecure/service.asmx")
    backup = "sms24x://USER:PA%3ASS@?from=Backup&endpoint=http://127.0.0.1:8026"
    [receipt] = deliver([account(URL), account(backup)], "hi", clock=clock)
    assert receipt.ok and receipt.message_id == "52000077"
    assert sent(gateway, 1).args["MessageFrom"] == "Backup"


def test_phonebook_goes_by_send_to_phonebook(gateway, clock) -> None:
    answer(gateway, "SendToPhonebook", "52000009")
    url = f"sms24x://USER:PA%3ASS@?phonebook=On%20call&from=Alerts&endpoint={ENDPOINT}"
    receipts = deliver([account(url)], "all hands", clock=clock)
    request = sent(gateway, operation="SendToPhonebook")
    assert request.children == [
        ("UserName", "USER"), ("Password", "PA:SS"), ("PhonebookName", "On call"),
        ("MessageFrom", "Alerts"), ("MessageToSend", "all hands"),
        ("DateTimeToSend", "2026-03-01T09:30:15Z"),
    ]
    assert [(r.recipient.kind, r.recipient.address, r.message_id) for r in receipts] == [
        ("phonebook", "On call", "52000009")]


def test_numbers_and_a_phonebook_go_in_separate_requests(gateway, clock) -> None:
    answer(gateway, "SendFullSMS", "1")
    answer(gateway, "SendToPhonebook", "09 - The phonebook does not exist")
    url = f"sms24x://U:P@447700900123?phonebook=Nobody&from=A&endpoint={ENDPOINT}"
    receipts = deliver([account(url)], "hi", clock=clock)
    assert [soap_request(c).operation for c in gateway.calls] == ["SendFullSMS", "SendToPhonebook"]
    assert receipts[0].message_id == "1"
    assert receipts[1].error is not None
    assert receipts[1].error.describe() == "request: 09 The phonebook does not exist"


def test_provider_declarations() -> None:
    p = providers()["sms24x"]
    assert (p.max_recipients, p.max_segments, p.unicode) == (100, 3, False)
    assert (p.sender_max_alnum, p.sender_max_digits) == (11, 12)
    assert p.list_options == ("phonebook",) and "phonebook" in p.options
    assert p.capabilities == {"balance", "status", "lookup", "login", "receipts"}
    assert p.base_url + sms24x.PATH == "https://www.24x2.com/wssecure/service.asmx"


def test_wsdl_is_the_packaged_file_parsed_once() -> None:
    first = sms24x._document()
    assert sms24x._document() is first  # once per thread (sms_notify.soap.wsdl)
    binding = first.bindings[sms24x.BINDING]
    assert {op: binding._operations[op].soapaction for op in binding._operations} == {
        op: f"http://tempuri.org/{op}" for op in (
            "SendFullSMS", "SendToPhonebook", "CreditsAvailable", "CheckLoginDetails",
            "GetDeliveryReport", "GetDeliveryReportByDate")
    }
    (service,) = first.services.values()
    (port,) = service.ports.values()
    assert port.binding_options["address"] == "https://www.24x2.com/wssecure/service.asmx"


def test_endpoint_keeps_the_documented_path(gateway) -> None:
    gateway.add(responses.POST, "https://gw.example:8443/wssecure/service.asmx",
                body=soap_result(NS, "CreditsAvailable", "5"), content_type=XML)
    url = "sms24x://U:P@?from=A&endpoint=https://gw.example:8443"
    assert balance(account(url)).credits == 5


# --- errors ---------------------------------------------------------------------------------

def test_every_documented_code_is_mapped() -> None:
    assert set(sms24x.ERRORS) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(sms24x.ERRORS))
@pytest.mark.parametrize("form", ["{code} - {text}", "{code} {text}"])
def test_error_code_category_in_both_forms(gateway, clock, code: str, form: str) -> None:
    text = sms24x.ERRORS[code][1]
    answer(gateway, "SendFullSMS", form.format(code=code, text=text))
    receipts = submit(account(URL), [Recipient("+447700900123", "r1")], "hi",
                      clock=clock)
    error = receipts[0].error
    assert error is not None
    assert (str(error.category), error.code, error.text) == (EXPECTED[code], code, text)
    assert len(gateway.calls) == 1, "no 24x code is transient"


def test_an_unknown_code_keeps_the_gateways_text(gateway, clock) -> None:
    answer(gateway, "SendFullSMS", "13 - Something new")
    receipts = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    assert receipts[0].error is not None
    assert receipts[0].error.describe() == "refused: 13 Something new"


def test_wrong_credentials_never_show_the_password(gateway, capsys) -> None:
    answer(gateway, "SendFullSMS", "01 - Username or Password Incorrect")
    code = main(["send", f"sms24x://USER:S3CRET@447700900123?from=A&endpoint={ENDPOINT}",
                 "-m", "hi"])
    out = capsys.readouterr()
    assert code == 1
    assert out.out.strip() == ("+447700900123: failed: auth: 01 Username or Password Incorrect "
                               "(via sms24x@127.0.0.1:8025)")
    assert "S3CRET" not in out.out + out.err


@pytest.mark.parametrize(("reply", "category"), [
    ({"status": 503, "body": "<html><body>Service Unavailable</body></html>"}, "unavailable"),
    ({"status": 500, "body": soap_fault("soap:Server", "Server was unable to process request."),
      "content_type": XML}, "unavailable"),
    ({"body": requests.ConnectionError("refused")}, "unavailable"),
    ({"status": 429, "body": ""}, "rate_limited"),
])
def test_transient_failures_are_retried(gateway, clock, reply, category: str) -> None:
    gateway.add(responses.POST, SERVICE, **reply)
    gateway.add(responses.POST, SERVICE, **reply)
    answer(gateway, "SendFullSMS", "42")
    receipts = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    assert receipts[0].message_id == "42"
    assert len(gateway.calls) == 3 and len(clock.slept) == 2
    gateway.add(responses.POST, SERVICE, **reply)
    failed = submit(account(URL), [Recipient("+447700900123")], "hi", clock=clock)
    assert failed[0].error is not None and str(failed[0].error.category) == category


def test_a_read_timeout_is_an_unknown_outcome(gateway, clock) -> None:
    """The send may have reached 24x: the core looks its UserField up before sending again."""
    gateway.add(responses.POST, SERVICE, body=requests.ReadTimeout("slow"))
    failed = submit(account(URL), [Recipient("+447700900123")], "hi", clock=clock)
    assert failed[0].error is not None and failed[0].error.unknown_outcome


@pytest.mark.parametrize(("reply", "describe"), [
    ({"status": 500, "content_type": XML, "body": soap_fault(
        "soap:Client",
        "Server was unable to read request. ---> There is an error in XML document.")},
     "refused: soap:Client SOAP fault: Server was unable to read request. ---> There is an error "
     "in XML document."),
    ({"status": 404, "body": "Not Found"}, "refused: 404 127.0.0.1:8025 answered HTTP 404: Not Found"),
    ({"status": 401, "body": "Unauthorized"},
     "auth: 401 127.0.0.1:8025 answered HTTP 401: Unauthorized"),
])
def test_permanent_failures_are_not_retried(gateway, clock, reply, describe: str) -> None:
    gateway.add(responses.POST, SERVICE, **reply)
    receipts = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    assert receipts[0].error is not None and receipts[0].error.describe() == describe
    assert len(gateway.calls) == 1


@pytest.mark.parametrize("body", [
    "<html><body>Service temporarily overloaded</body></html>", "", "not xml at all"])
def test_a_2xx_answer_that_is_not_soap_is_an_unknown_outcome(gateway, clock, body: str) -> None:
    gateway.add(responses.POST, SERVICE, body=body, status=200)
    receipts = submit(account(URL), [Recipient("+447700900123")], "hi", clock=clock)
    assert receipts[0].error is not None and receipts[0].error.unknown_outcome


@pytest.mark.parametrize("result", ["OK", "12345 sent", "-5", "Message Sent"])
def test_a_result_that_is_not_an_id_is_an_unknown_outcome(gateway, clock, result: str) -> None:
    answer(gateway, "SendFullSMS", result)
    receipts = submit(account(URL), [Recipient("+447700900123", "ref-x")], "hi", clock=clock)
    assert receipts[0].error is not None and receipts[0].error.unknown_outcome
    assert receipts[0].error.describe() == f"unavailable: unexpected answer: {result}"


def test_a_send_answered_unreadably_is_looked_up_not_resent(gateway, clock) -> None:
    """Issue 13: such an answer was `unavailable`, and the text went out again. 24x keeps our
    reference in UserField: the report by date finds it, and nothing is sent twice."""
    answer(gateway, "SendFullSMS", "OK")

    def report_with_our_reference(request):  # type: ignore[no-untyped-def]
        ref = sent(gateway).args["UserField"]
        return 200, {"Content-Type": XML}, soap_result(
            NS, "GetDeliveryReportByDate", f"1,Sent,01/03/2026 09:30:20,{ref}|")

    gateway.add_callback(responses.POST, SERVICE, callback=report_with_our_reference)
    [receipt] = deliver([account(URL)], "hi", clock=clock)
    assert receipt.ok and len(gateway.calls) == 2  # the send and the look-up, no second send
    assert sent(gateway, 1, operation="GetDeliveryReportByDate")


@pytest.mark.parametrize(("answer_", "message_id"), [("Message Sent", None), ("52000009", "52000009")])
def test_a_phonebook_send_answers_no_id(gateway, clock, answer_: str, message_id: str | None
                                        ) -> None:
    """The document promises SendToPhonebook no id: what is not an error code is a send.
    (Issue 13: read as garbage, `Message Sent` texted the whole phonebook three times.)"""
    answer(gateway, "SendToPhonebook", answer_)
    url = f"sms24x://USER:PA%3ASS@?phonebook=On%20call&from=Alerts&endpoint={ENDPOINT}"
    [receipt] = deliver([account(url)], "all hands", clock=clock)
    assert receipt.ok and receipt.message_id == message_id and len(gateway.calls) == 1


def test_a_phonebook_send_answered_with_nothing_is_not_sent_again(gateway, clock) -> None:
    """An empty answer says nothing: a phonebook send has no UserField to look up, so it is
    unconfirmed at once."""
    answer(gateway, "SendToPhonebook", "")
    url = f"sms24x://USER:PA%3ASS@?phonebook=On%20call&from=Alerts&endpoint={ENDPOINT}"
    [receipt] = deliver([account(url)], "all hands", clock=clock)
    assert receipt.unconfirmed and len(gateway.calls) == 1


# --- balance, login, status, lookup ---------------------------------------------------------

def test_balance(gateway) -> None:
    answer(gateway, "CreditsAvailable", "250")
    assert balance(account(URL)).credits == 250
    assert sent(gateway, operation="CreditsAvailable").children == [
        ("UserName", "USER"), ("Password", "PA:SS")]


def test_balance_with_wrong_credentials(gateway, instant) -> None:
    answer(gateway, "CreditsAvailable", "01 - Username or Password Incorrect")
    with pytest.raises(ProviderError) as caught:
        balance(account(URL))
    assert caught.value.describe() == "auth: 01 Username or Password Incorrect"


@pytest.mark.parametrize(("result", "outcome"), [
    ("24001", True),
    ("0", "auth: 0 Username or Password Incorrect"),
    ("999999", "auth: 999999 locked out for 5 minutes after 3 failed log-ins"),
    ("14 - Failed Login Attempts Exceeded", "auth: 14 Failed Login Attempts Exceeded"),
])
def test_check_login(gateway, instant, result: str, outcome) -> None:
    answer(gateway, "CheckLoginDetails", result)
    if outcome is True:
        assert check_login(account(URL)) is True
    else:
        with pytest.raises(ProviderError) as caught:
            check_login(account(URL))
        assert caught.value.describe() == outcome
    assert len(gateway.calls) == 1, "a failed log-in is never retried: it extends a lock-out"
    assert sent(gateway, operation="CheckLoginDetails").children == [
        ("UserName", "USER"), ("Password", "PA:SS")]


@pytest.mark.parametrize(("report", "state", "final", "detail"), [
    ("52000001,Sent,01/03/2026 09:30:15,r1|", "sent", False, "Sent"),
    ("52000001,Delivered,01/03/2026 09:31:00,r1|52000001,Delivered,01/03/2026 09:31:02,r1|",
     "delivered", True, "Delivered"),
    ("52000001,Delivered,x,r1|52000001,Failed,x,r1|", "failed", True,
     "1 of 2 not delivered: Delivered, Failed"),
    ("52000001,Delivered,x,r1|52000001,Sent,x,r1|", "sent", False, "Delivered, Sent"),
    ("Delivered", "delivered", True, "Delivered"),
    ("52000001,Mystery,x,|", "unknown", False, "Mystery"),
])
def test_status(gateway, report: str, state: str, final: bool, detail: str) -> None:
    answer(gateway, "GetDeliveryReport", report)
    result = status(account(URL), "52000001")
    assert sent(gateway, operation="GetDeliveryReport").children == [
        ("UserName", "USER"), ("Password", "PA:SS"), ("MessageID", "52000001")]
    assert (result.message_id, result.state, result.final, result.detail) == (
        "52000001", state, final, detail)


def test_status_of_an_unknown_or_malformed_id(gateway, instant, capsys) -> None:
    answer(gateway, "GetDeliveryReport", "")
    assert main(["status", URL, "52000001"]) == 1
    assert capsys.readouterr().out.strip() == (
        "52000001: request: no delivery report for 52000001")
    with pytest.raises(ProviderError) as caught:
        status(account(URL), "abc:1")
    assert caught.value.category is Category.REQUEST
    assert len(gateway.calls) == 1


def test_lookup_by_user_field_in_the_report_by_date(gateway, instant) -> None:
    answer(gateway, "GetDeliveryReportByDate",
           "1,Delivered,01/03/2026 09:00:00,ref-one|2,Sent,01/03/2026 09:10:00,other,with,commas|")
    found = lookup(account(URL), ["ref-one", "ref-two"])
    assert found == {"ref-one": True, "ref-two": False}
    assert sent(gateway, operation="GetDeliveryReportByDate").children == [
        ("UserName", "USER"), ("Password", "PA:SS"),
        ("DateFrom", "2026-02-22T09:30:15Z"), ("DateTo", "2026-03-02T09:30:15Z")]


def test_lookup_error_is_raised(gateway, instant) -> None:
    answer(gateway, "GetDeliveryReportByDate", "10 - DateFrom is not correctly formatted")
    with pytest.raises(ProviderError) as caught:
        lookup(account(URL), ["r"])
    assert caught.value.describe() == "request: 10 DateFrom is not correctly formatted"


def test_cli_send_prints_the_calls_id_for_each_number(gateway, capsys) -> None:
    gateway.add(responses.POST, "http://127.0.0.1:8026/wssecure/service.asmx",
                body=soap_result(NS, "SendFullSMS", "52000077"), content_type=XML)
    url = "sms24x://U:P@447700900123/447700900124?from=Alerts&endpoint=http://127.0.0.1:8026"
    assert main(["send", url, "-m", "Disk full on db1"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "+447700900123: sent, 1 part, id 52000077 (via sms24x@127.0.0.1:8026)",
        "+447700900124: sent, 1 part, id 52000077 (via sms24x@127.0.0.1:8026)",
    ]


# --- closing the loop: what became of a text --------------------------------------------------

def test_receipts_ask_each_send_id_once(gateway) -> None:
    answer(gateway, "GetDeliveryReport", "52000001,Delivered,01/03/2026 09:31:00,ref0|"
                                         "52000001,Delivered,01/03/2026 09:31:02,ref0|")
    answer(gateway, "GetDeliveryReport", "52000002,Sent,01/03/2026 09:31:00,ref2|")
    texts = [Receipt(Recipient(NUMBERS[i], f"r{i}"), message_id=m, request_ref="ref0")
             for i, m in enumerate(("52000001", "52000001", "52000002"))]
    reports = manager.gateway("sms24x").receipts(account(URL), texts, Feeds().feed("x"))
    assert [sent(gateway, i, "GetDeliveryReport").args["MessageID"] for i in range(2)] == [
        "52000001", "52000002"]
    assert [(r.message_id, r.state, r.detail) for r in reports] == [
        ("52000001", "delivered", "Delivered")]


@pytest.mark.parametrize(("words", "state"), [
    (("Failed", "Undelivered"), "undelivered"), (("Expired",), "expired"),
    (("Delivered", "Failed"), "unknown"), (("Delivered", "Pending"), None)])
def test_one_report_covers_every_number_of_a_send(gateway, words: tuple[str, ...],
                                                   state: str | None) -> None:
    """The report's lines do not name the numbers: numbers that fared differently are
    unknown, and while any is on its way there is no report."""
    answer(gateway, "GetDeliveryReport",
           "".join(f"52000001,{w},01/03/2026 09:31:00,ref0|" for w in words))
    texts = [Receipt(Recipient(NUMBERS[0], "r0"), message_id="52000001")]
    reports = manager.gateway("sms24x").receipts(account(URL), texts, Feeds().feed("x"))
    assert [r.state for r in reports] == ([state] if state else [])
