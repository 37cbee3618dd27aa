"""MyMobileAPI on the wire: the SOAP envelope and the XML document inside it for each operation,
what the `<api_result>` answers become, and our WSDL against the public reference copy."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from lxml import etree
from sms_notify.plugins import mymobileapi

from sms_notify import manager
from sms_notify.cli import main
from sms_notify.delivery import balance, check_login, deliver, lookup, status, submit
from sms_notify.errors import Category, ConfigError, ProviderError
from sms_notify.manager import providers
from sms_notify.feeds import Feeds
from sms_notify.model import Account, Receipt, Recipient, Reply
from tests.fixtures.soap import XML, SoapRequest, soap_fault, soap_request, soap_result
from tests.providers_helpers import ENDPOINT, FAST, account

NS = "http://www.mymobileapi.com/api5"
SERVICE = f"{ENDPOINT}/api5/api.asmx"
URL = f"mymobileapi://USER:PA%3ASS@27821234567?from=Alerts&endpoint={ENDPOINT}"
NOW = datetime(2026, 3, 1, 9, 5, 59, tzinfo=UTC)
OK = "<call_result><result>True</result><error /></call_result>"
FIXTURES = Path(__file__).parent / "fixtures"
OUR_WSDL = Path(mymobileapi.__file__).with_name("mymobileapi.wsdl")

# Written from the legacy document's reason list, independently of the plugin.
REASONS: dict[str, str] = {
    "numto invalid": "recipient", "senderid invalid": "sender", "time invalid": "request",
    "costcentre invalid": "request", "type invalid": "request", "data1 invalid": "request",
}


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mymobileapi, "_now", lambda: NOW)


def answer(mock: responses.RequestsMock, operation: str, api_result: str) -> None:
    mock.add(responses.POST, SERVICE, body=soap_result(NS, operation, api_result),
             content_type=XML)


def sent(mock: responses.RequestsMock, index: int = 0, operation: str = "Send_STR_STR"
         ) -> SoapRequest:
    """The request, checked against what every api5 call must look like."""
    request = soap_request(mock.calls[index])
    assert request.path == "/api5/api.asmx"
    assert request.content_type == "text/xml; charset=utf-8"
    assert request.action == f'"http://www.mymobileapi.com/api5/{operation}"'
    assert (request.namespace, request.operation) == (NS, operation)
    assert request.child_namespaces == {NS}
    assert request.children[:2] == [("Username", "USER"), ("Password", "PA:SS")]
    return request


def data(request: SoapRequest) -> etree._Element:
    """The XML document carried as a string in <Data>."""
    names = [name for name, _ in request.children]
    assert names == ["Username", "Password", "Data"]
    return etree.fromstring(request.args["Data"].encode())


def pairs(node: etree._Element) -> list[tuple[str, str]]:
    return [(str(child.tag), child.text or "") for child in node]


def success(*entries: tuple[str, str], eventid: str = "27105067", credits: str = "998") -> str:
    rows = "".join(f"<entries_success><numto>{n}</numto><customerid>{c}</customerid>"
                   "</entries_success>" for n, c in entries)
    return (f"<api_result>{rows}<send_info><eventid>{eventid}</eventid><credits>{credits}"
            f"</credits><msgs_success>{len(entries)}</msgs_success></send_info>{OK}</api_result>")


def refused(numto: str, customerid: str, reason: str) -> str:
    return (f"<entries_failed><numto>{numto}</numto><customerid>{customerid}</customerid>"
            f"<reason>{reason}</reason></entries_failed>")


def failure(error: str, extra: str = "") -> str:
    return (f"<api_result>{extra}<call_result><result>False</result><error>{error}</error>"
            "</call_result></api_result>")


# --- send -----------------------------------------------------------------------------------

def test_send_one_recipient_exact_envelope_and_senddata(gateway, clock) -> None:
    answer(gateway, "Send_STR_STR", success(("27821234567", "REF")))
    receipts = deliver([account(URL)], "Disk full on db1 & <more>", clock=clock)
    ref = receipts[0].recipient.reference
    doc = data(sent(gateway))
    assert doc.tag == "senddata"
    settings, *entries = list(doc)
    assert settings.tag == "settings"
    assert pairs(settings) == [
        ("live", "True"),
        ("return_credits", "True"), ("return_msgs_credits_used", "True"),
        ("return_msgs_success_count", "True"), ("return_msgs_failed_count", "True"),
        ("return_entries_success_status", "True"), ("return_entries_failed_status", "True"),
        ("default_senderid", "Alerts"),
        ("default_date", "01/Mar/2026"), ("default_time", "09:05"),
        ("default_curdate", "01/Mar/2026"), ("default_curtime", "09:05"),
        ("default_data1", "Disk full on db1 & <more>"), ("default_type", "SMS"),
    ]
    assert [(e.tag, pairs(e)) for e in entries] == [
        ("entries", [("numto", "27821234567"), ("customerid", ref)])]
    assert [(r.recipient.address, r.message_id, r.ok) for r in receipts] == [
        ("+27821234567", f"{ref}:27105067", True)]


def test_per_recipient_results_with_one_failed_entry(gateway, clock) -> None:
    numbers = ["+27821234567", "+27821234568", "+27820000000"]
    refs = ["r-a", "r-b", "r-c"]
    answer(gateway, "Send_STR_STR", success(("27821234567", "r-a"), ("27821234568", "r-b"))
           .replace("<send_info>", refused("27820000000", "r-c", "numto invalid") + "<send_info>"))
    receipts = submit(account(URL.replace("27821234567", "")),
                      [Recipient(n, r) for n, r in zip(numbers, refs, strict=True)], "hi", clock=clock)
    assert len(gateway.calls) == 1
    entries = data(sent(gateway)).findall("entries")
    assert [pairs(e) for e in entries] == [
        [("numto", n.lstrip("+")), ("customerid", r)] for n, r in zip(numbers, refs, strict=True)]
    assert [(r.recipient.address, r.message_id) for r in receipts] == [
        ("+27821234567", "r-a:27105067"), ("+27821234568", "r-b:27105067"),
        ("+27820000000", None)]
    bad = receipts[2].error
    assert bad is not None and bad.describe() == "recipient: numto invalid"


def test_every_entry_refused_is_a_reason_each_not_no_data_to_send(gateway, clock) -> None:
    answer(gateway, "Send_STR_STR", failure("No data to send", refused("27820000000", "r1",
                                                                       "numto invalid")
                                            + refused("0820000001", "", "data1 invalid")))
    receipts = submit(account(URL), [Recipient("+27820000000", "r1"),
                                     Recipient("+27820000001", "r2")], "hi", clock=clock)
    assert [r.error.describe() for r in receipts if r.error] == [
        "recipient: numto invalid", "request: data1 invalid"]


def test_refused_entries_that_name_nobody_are_matched_by_elimination(gateway, clock) -> None:
    answer(gateway, "Send_STR_STR", success(("27821234567", "r1"))
           .replace("<send_info>", refused("", "", "numto invalid") + "<send_info>"))
    receipts = submit(account(URL), [Recipient("+27821234567", "r1"), Recipient("+2712", "r2")],
                      "hi", clock=clock)
    assert receipts[0].message_id == "r1:27105067"
    assert receipts[1].error is not None and receipts[1].error.category is Category.RECIPIENT


def test_a_gateway_that_echoes_nothing_still_means_sent(gateway, clock) -> None:
    answer(gateway, "Send_STR_STR",
           "<api_result><send_info><eventid>1</eventid></send_info></api_result>")
    receipts = deliver([account(URL)], "hi", clock=clock)
    assert receipts[0].ok and receipts[0].message_id.endswith(":1")  # type: ignore[union-attr]


@pytest.mark.parametrize(("value", "live"), [("no", "False"), ("false", "False"), ("0", "False"),
                                              ("yes", "True"), ("True", "True")])
def test_live_option(gateway, clock, value: str, live: str) -> None:
    answer(gateway, "Send_STR_STR", success(("27821234567", "x")))
    deliver([account(f"{URL}&live={value}")], "hi", clock=clock)
    assert data(sent(gateway)).findtext("settings/live") == live


def test_a_bad_live_value_is_refused_with_the_url(gateway, clock) -> None:
    with pytest.raises(ConfigError, match="live='maybe' must be one of yes, no"):
        account(f"{URL}&live=maybe")
    # an account built in code meets the plugin's own check, before any request
    bad = Account("mymobileapi", "U", "P", options={"live": "maybe", "endpoint": ENDPOINT})
    receipts = deliver([bad], "hi", ["+27821234567"], clock=clock)
    assert receipts[0].error is not None
    assert receipts[0].error.describe() == "request: live='maybe' must be yes or no"
    assert len(gateway.calls) == 0


@pytest.mark.parametrize(("validity", "hours"), [("30m", "1"), ("1h", "1"), ("90m", "2"),
                                                ("1d", "24")])
def test_validity_goes_as_default_validityperiod_in_whole_hours(
    gateway, clock, validity: str, hours: str
) -> None:
    answer(gateway, "Send_STR_STR", success(("27821234567", "x")))
    deliver([account(f"{URL}&validity={validity}")], "hi", clock=clock)
    assert data(sent(gateway)).findtext("settings/default_validityperiod") == hours


def test_no_validity_leaves_the_gateways_default(gateway, clock) -> None:
    answer(gateway, "Send_STR_STR", success(("27821234567", "x")))
    deliver([account(URL)], "hi", clock=clock)
    assert data(sent(gateway)).find("settings/default_validityperiod") is None


def test_no_sender_leaves_the_accounts_default(gateway, clock) -> None:
    answer(gateway, "Send_STR_STR", success(("27821234567", "x")))
    deliver([account(f"mymobileapi://U:P@27821234567?endpoint={ENDPOINT}")], "hi", clock=clock)
    assert soap_request(gateway.calls[0]).args["Data"].count("default_senderid") == 0


def test_more_than_500_numbers_go_in_two_requests(gateway, clock) -> None:
    numbers = [f"+2782{i:07d}" for i in range(700)]
    answer(gateway, "Send_STR_STR", success())
    answer(gateway, "Send_STR_STR", success())
    receipts = deliver([account(f"mymobileapi://U:P@?endpoint={ENDPOINT}")], "hi", numbers,
                       clock=clock)
    sizes = [len(data(soap_request(c)).findall("entries")) for c in gateway.calls]
    assert sizes == [500, 200]
    assert all(r.ok for r in receipts)


def test_provider_declarations() -> None:
    p = providers()["mymobileapi"]
    assert (p.max_recipients, p.max_segments, p.unicode) == (500, 3, False)
    assert "live" in p.options and p.list_options == ()
    assert p.capabilities == {"balance", "status", "lookup", "login", "receipts", "replies"}
    assert p.base_url + mymobileapi.PATH == "https://legacy.mymobileapi.com/api5/api.asmx"


# --- call_result errors and failures --------------------------------------------------------

@pytest.mark.parametrize(("error", "category"), [
    ("Invalid username or password", "auth"),
    ("Insufficient credits", "credit"),
    ("No data to send", "request"),
    ("API channel not enabled for this account", "auth"),
    ("Access denied", "auth"),
    ("Invalid credentials", "auth"),
    ("Not authorised", "auth"),
    ("Invalid senderid for this account", "sender"),
    # unknown texts: the call failed and sent nothing; another account may do
    ("Something nobody documented", "refused"),
    ("Server busy, please try again", "unavailable"),
])
def test_call_result_errors(gateway, clock, error: str, category: str) -> None:
    answer(gateway, "Send_STR_STR", failure(error))
    receipts = submit(account(URL), [Recipient("+27821234567", "r")], "hi",
                      clock=clock)
    assert receipts[0].error is not None
    assert receipts[0].error.describe() == f"{category}: {error}"


def test_unavailable_call_error_is_retried(gateway, clock) -> None:
    answer(gateway, "Send_STR_STR", failure("Service temporarily unavailable"))
    answer(gateway, "Send_STR_STR", success(("27821234567", "x")))
    receipts = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    assert receipts[0].ok and len(gateway.calls) == 2


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_every_documented_reason_has_a_category(gateway, clock, reason: str) -> None:
    answer(gateway, "Send_STR_STR", failure("No data to send", refused("27821234567", "r", reason)))
    receipts = submit(account(URL), [Recipient("+27821234567", "r")], "hi",
                      clock=clock)
    assert receipts[0].error is not None
    assert (str(receipts[0].error.category), receipts[0].error.text) == (REASONS[reason], reason)
    assert len(gateway.calls) == 1


def test_reasons_are_all_mapped() -> None:
    assert set(mymobileapi.REASONS) == set(REASONS)


@pytest.mark.parametrize(("reply", "category"), [
    ({"status": 503, "body": "<html>Service Unavailable</html>"}, "unavailable"),
    ({"status": 500, "content_type": XML,
      "body": soap_fault("soap:Server", "Server was unable to process request.")}, "unavailable"),
    ({"body": requests.ConnectionError("refused")}, "unavailable"),
    ({"status": 429, "body": "slow down"}, "rate_limited"),
])
def test_transient_failures_are_retried(gateway, clock, reply: dict[str, Any], category: str
                                        ) -> None:
    gateway.add(responses.POST, SERVICE, **reply)
    answer(gateway, "Send_STR_STR", success(("27821234567", "x")))
    receipts = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    assert receipts[0].ok and len(gateway.calls) == 2
    gateway.add(responses.POST, SERVICE, **reply)
    failed = submit(account(URL), [Recipient("+27821234567")], "hi", clock=clock)
    assert failed[0].error is not None and str(failed[0].error.category) == category


def test_a_client_fault_is_this_accounts_refusal(gateway, clock) -> None:
    gateway.add(responses.POST, SERVICE, status=500, content_type=XML, body=soap_fault(
        "soap:Client", "Server did not recognize the value of HTTP Header SOAPAction: x."))
    receipts = deliver([account(URL)], "hi", policy=FAST, clock=clock)
    assert receipts[0].error is not None and receipts[0].error.describe() == (
        "refused: soap:Client SOAP fault: Server did not recognize the value of HTTP Header "
        "SOAPAction: x.")
    assert len(gateway.calls) == 1


@pytest.mark.parametrize("inner", ["not xml", "<api_result><call_result>", "<other/>", ""])
def test_an_unreadable_api_result_is_unavailable(gateway, clock, inner: str) -> None:
    answer(gateway, "Send_STR_STR", inner)
    receipts = submit(account(URL), [Recipient("+27821234567")], "hi", clock=clock)
    assert receipts[0].error is not None
    assert receipts[0].error.category is Category.UNAVAILABLE


def test_wrong_password_never_shows(gateway, capsys) -> None:
    answer(gateway, "Send_STR_STR", failure("Invalid username or password"))
    code = main(["send", f"mymobileapi://USER:S3CRET@27821234567?endpoint={ENDPOINT}", "-m", "x"])
    out = capsys.readouterr()
    assert code == 1
    assert out.out.strip() == ("+27821234567: failed: auth: Invalid username or password "
                               "(via mymobileapi@127.0.0.1:8025)")
    assert "S3CRET" not in out.out + out.err


# --- balance, login, status, lookup ---------------------------------------------------------

def test_balance(gateway) -> None:
    answer(gateway, "Credits_STR",
           f"<api_result><data><credits>39763</credits></data>{OK}</api_result>")
    assert balance(account(URL)).credits == 39763
    assert sent(gateway, operation="Credits_STR").children == [
        ("Username", "USER"), ("Password", "PA:SS")]


def test_balance_and_login_with_wrong_credentials(gateway, instant) -> None:
    answer(gateway, "Credits_STR", failure("Invalid username or password"))
    answer(gateway, "Credits_STR", failure("Invalid username or password"))
    for ask in (balance, check_login):
        with pytest.raises(ProviderError) as caught:
            ask(account(URL))
        assert caught.value.describe() == "auth: Invalid username or password"


def test_login_check(gateway) -> None:
    answer(gateway, "Credits_STR",
           f"<api_result><data><credits>1</credits></data>{OK}</api_result>")
    assert check_login(account(URL)) is True


def sent_rows(*rows: tuple[int, str, str, str]) -> str:
    """Sent_STR_STR data rows: (changeid, customerid, eventid, status)."""
    return "<api_result>" + "".join(
        f"<data><changeid>{c}</changeid><sentid>{880000000 + c}</sentid><eventid>{e}</eventid>"
        f"<numto>27821234567</numto><customerid>{cid}</customerid><status>{s}</status>"
        f"<statusdate>20260301093100</statusdate></data>" for c, cid, e, s in rows
    ) + OK + "</api_result>"


@pytest.mark.parametrize(("word", "state", "final"), [
    ("DELIVRD", "delivered", True), ("UNDELIV", "failed", True), ("EXPIRED", "failed", True),
    ("UNKNOWN", "sent", False), ("ODD", "unknown", False)])
def test_status_by_what_send_printed(gateway, word: str, state: str, final: bool) -> None:
    answer(gateway, "Sent_STR_STR", sent_rows((1, "other", "5", "DELIVRD"), (2, "ref", "7", word)))
    result = status(account(URL), "ref:7")
    doc = data(sent(gateway, operation="Sent_STR_STR"))
    assert doc.tag == "sent"
    assert pairs(doc.find("settings")) == [
        ("id", "0"), ("max_recs", "100"),
        ("cols_returned", "sentid,eventid,numto,customerid,status,statusdate"),
        ("date_format", "yyyyMMddHHmmss")]
    assert (result.message_id, result.state, result.final, result.detail) == (
        "ref:7", state, final, f"{word} 20260301093100")


def test_status_reads_the_feed_to_its_end_for_the_latest_change(gateway) -> None:
    page = sent_rows(*[(i, "ref" if i == 50 else f"o{i}", "7", "UNKNOWN") for i in range(1, 101)])
    answer(gateway, "Sent_STR_STR", page)
    answer(gateway, "Sent_STR_STR",
           sent_rows((101, "x", "8", "DELIVRD"), (102, "ref", "7", "DELIVRD")))
    result = status(account(URL), "ref:7")
    assert (result.state, result.final) == ("delivered", True)
    second = data(soap_request(gateway.calls[1]))
    assert second.findtext("settings/id") == "100"


def test_status_of_an_unknown_message(gateway, instant, capsys) -> None:
    answer(gateway, "Sent_STR_STR", sent_rows((1, "other", "5", "DELIVRD")))
    assert main(["status", URL, "nope:1"]) == 1
    assert capsys.readouterr().out.strip() == (
        "nope:1: request: no sent message with customerid nope")


def test_lookup_stops_once_every_reference_is_found(gateway, instant) -> None:
    answer(gateway, "Sent_STR_STR",
           sent_rows(*[(i, f"r{i}", "7", "UNKNOWN") for i in range(1, 101)]))
    assert lookup(account(URL), ["r3", "r99"]) == {"r3": True, "r99": True}
    assert len(gateway.calls) == 1


def test_lookup_tells_which_references_the_gateway_has(gateway, instant) -> None:
    answer(gateway, "Sent_STR_STR", sent_rows((1, "r1", "7", "UNKNOWN")))
    assert lookup(account(URL), ["r1", "r2"]) == {"r1": True, "r2": False}


def ids_asked(mock: responses.RequestsMock) -> list[str]:
    """The CHANGEID each Sent_STR_STR request read on from."""
    return [data(soap_request(c)).findtext("settings/id") or "" for c in mock.calls
            if soap_request(c).operation == "Sent_STR_STR"]


def test_the_feed_is_read_on_from_its_stored_cursor_never_from_0_again(gateway, instant) -> None:
    """Issue 13: every status and look-up read the feed from CHANGEID 0 (up to 50 requests)."""
    answer(gateway, "Sent_STR_STR", sent_rows((1, "r1", "7", "UNKNOWN"), (2, "o", "7", "DELIVRD")))
    assert lookup(account(URL), ["r1"]) == {"r1": True}
    answer(gateway, "Sent_STR_STR", sent_rows((3, "r2", "8", "UNKNOWN")))
    assert lookup(account(URL), ["r2", "r1"]) == {"r2": True, "r1": True}
    answer(gateway, "Sent_STR_STR", sent_rows((4, "r1", "7", "DELIVRD")))
    assert status(account(URL), "r1:7").state == "delivered"
    assert ids_asked(gateway) == ["0", "2", "3"]
    assert lookup(account(URL), ["r2"]) == {"r2": True}  # from the store: no request
    assert len(gateway.calls) == 3


def test_the_cursor_is_one_per_account(gateway, instant) -> None:
    answer(gateway, "Sent_STR_STR", sent_rows((5, "r1", "7", "UNKNOWN")))
    lookup(account(URL), ["r1"])
    answer(gateway, "Sent_STR_STR", sent_rows((1, "r9", "7", "UNKNOWN")))
    other = URL.replace("mymobileapi://USER:", "mymobileapi://OTHER:")
    assert lookup(account(other), ["r9"]) == {"r9": True}
    assert ids_asked(gateway) == ["0", "0"]


def test_a_long_feed_is_read_in_pieces_and_never_answers_not_found_early(
    gateway, instant, monkeypatch
) -> None:
    """Past MAX_PAGES a call stops and says it could not tell (an answer of "not found" would
    send the text again); the next try reads on from where it stopped."""
    monkeypatch.setattr(mymobileapi, "MAX_PAGES", 2)
    for start in (1, 101):
        answer(gateway, "Sent_STR_STR",
               sent_rows(*[(i, f"o{i}", "7", "UNKNOWN") for i in range(start, start + 100)]))
    answer(gateway, "Sent_STR_STR", sent_rows((201, "o201", "7", "UNKNOWN"),
                                              (230, "mine", "7", "UNKNOWN")))
    assert lookup(account(URL), ["mine"]) == {"mine": True}
    assert ids_asked(gateway) == ["0", "100", "200"]


def test_without_a_feed_a_long_feed_is_not_an_answer(gateway, monkeypatch) -> None:
    monkeypatch.setattr(mymobileapi, "MAX_PAGES", 2)
    for start in (1, 101):
        answer(gateway, "Sent_STR_STR",
               sent_rows(*[(i, f"o{i}", "7", "UNKNOWN") for i in range(start, start + 100)]))
    with pytest.raises(ProviderError) as caught:
        mymobileapi._changes(account(URL), {"x"}, None, stop_when_found=True)
    assert caught.value.category is Category.UNAVAILABLE
    assert "read on at the next call" in caught.value.text


def test_cli_send_prints_customerid_with_eventid(gateway, capsys) -> None:
    gateway.add(responses.POST, "http://127.0.0.1:8026/api5/api.asmx",
                body=soap_result(NS, "Send_STR_STR", success(eventid="4242")), content_type=XML)
    url = "mymobileapi://U:P@27821234567/27821234568?from=Alerts&endpoint=http://127.0.0.1:8026"
    assert main(["send", url, "-m", "Disk full on db1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    refs = [c.text for c in data(soap_request(gateway.calls[0])).iter("customerid")]
    assert lines == [f"+2782123456{i}: sent, 1 part, id {ref}:4242 (via mymobileapi@127.0.0.1:8026)"
                     for i, ref in zip((7, 8), refs, strict=True)]
    assert all(re.fullmatch(r"[0-9a-f]{12}", ref or "") for ref in refs)


# --- our WSDL against the public reference copy ---------------------------------------------

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD = "http://www.w3.org/2001/XMLSchema"


def _wsdl(path: Path) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.parse(str(path), parser).getroot()


def _operation(root: etree._Element, name: str) -> dict[str, Any]:
    """What the wire sees of one operation: its SOAPAction, the element of each message part,
    and each element's children (name, type, occurrences) in order."""
    ns = {"w": WSDL, "soap": SOAP, "s": XSD}
    binding = root.find("w:binding[@name='APISoap']", ns)
    action = binding.find(f"w:operation[@name='{name}']/soap:operation", ns).get("soapAction")
    port = root.find(f"w:portType[@name='APISoap']/w:operation[@name='{name}']", ns)
    out: dict[str, Any] = {"action": action}
    for direction in ("input", "output"):
        message = port.find(f"w:{direction}", ns).get("message").partition(":")[2]
        parts = root.findall(f"w:message[@name='{message}']/w:part", ns)
        out[direction] = []
        for part in parts:
            element = part.get("element").partition(":")[2]
            schema = root.find(f"w:types/s:schema/s:element[@name='{element}']", ns)
            children = [(c.get("name"), c.get("type"), c.get("minOccurs"), c.get("maxOccurs"))
                        for c in schema.iterfind(".//s:sequence/s:element", ns)]
            out[direction].append((part.get("name"), element, children))
    return out


def test_the_reference_wsdl_is_the_shared_copy() -> None:
    shared = Path("/work/shared/providers/mymobileapi-reference.wsdl")
    if shared.exists():
        assert (FIXTURES / "mymobileapi-reference.wsdl").read_bytes() == shared.read_bytes()


def test_our_wsdl_matches_the_reference_for_every_operation_we_use() -> None:
    ours, reference = _wsdl(OUR_WSDL), _wsdl(FIXTURES / "mymobileapi-reference.wsdl")
    ns = {"w": WSDL, "soap": SOAP}
    assert ours.get("targetNamespace") == reference.get("targetNamespace") == NS
    names = [op.get("name") for op in ours.findall("w:binding[@name='APISoap']/w:operation", ns)]
    assert sorted(names) == ["Credits_STR", "Reply_STR_STR", "Send_STR_STR", "Sent_STR_STR"]
    for name in names:
        mine = _operation(ours, name)
        assert mine == _operation(reference, name), name
        assert mine["action"] == f"{NS}/{name}"
    assert [n for n, *_ in _operation(ours, "Send_STR_STR")["input"][0][2]] == [
        "Username", "Password", "Data"]
    service = ours.find("w:service[@name='API']/w:port[@name='APISoap']/soap:address", ns)
    assert service.get("location") == "https://legacy.mymobileapi.com/api5/api.asmx"


def test_wsdl_is_the_packaged_file_parsed_once() -> None:
    first = mymobileapi._document()
    assert mymobileapi._document() is first  # once per thread (sms_notify.soap.wsdl)


# --- closing the loop: what became of a text, replies -----------------------------------------

def test_receipts_read_the_status_feed_on_from_its_cursor(gateway, instant) -> None:
    answer(gateway, "Sent_STR_STR", sent_rows((1, "r1", "7", "DELIVRD"), (2, "r2", "7", "UNDELIV"),
                                              (3, "r3", "7", "EXPIRED"), (4, "r4", "7", "UNKNOWN"),
                                              (5, "other", "7", "DELIVRD")))
    store = Feeds()
    texts = [Receipt(Recipient(f"+2782123456{i}", f"r{i}"), message_id=f"r{i}:7")
             for i in range(1, 5)]
    reports = manager.gateway("mymobileapi").receipts(account(URL), texts, store.feed("m"))
    assert [(r.reference, r.message_id, r.state) for r in reports] == [
        ("r1", "r1:7", "delivered"), ("r2", "r2:7", "undelivered"), ("r3", "r3:7", "expired")]
    assert store.position("m") == 5
    answer(gateway, "Sent_STR_STR", sent_rows((6, "r4", "7", "DELIVRD")))
    again = manager.gateway("mymobileapi").receipts(account(URL), texts[3:], store.feed("m"))
    assert [(r.reference, r.state) for r in again] == [("r4", "delivered")]
    assert ids_asked(gateway) == ["0", "5"]


def reply_rows(*rows: tuple[int, str, str, str]) -> str:
    return "<api_result>" + "".join(
        f"<data><replyid>{r}</replyid><eventid>7</eventid><numfrom>{n}</numfrom>"
        f"<receiveddata>{t}</receiveddata><received>20260301093100</received>"
        f"<sentcustomerid>{c}</sentcustomerid></data>" for r, n, t, c in rows
    ) + OK + "</api_result>"


def test_replies_are_read_from_the_replyid_cursor_and_the_feed_is_left_to_the_core(
        gateway) -> None:
    answer(gateway, "Reply_STR_STR", reply_rows((41, "27821234567", "ACK", "r1"),
                                                (42, "27821234568", "ack 2h", "")))
    store = Feeds()
    store.advance("m#replies", 40, {})
    replies = manager.gateway("mymobileapi").replies(account(URL), store.feed("m#replies"))
    doc = data(sent(gateway, operation="Reply_STR_STR"))
    assert doc.tag == "reply"
    assert pairs(doc.find("settings")) == [
        ("id", "40"), ("max_recs", "100"),
        ("cols_returned", "replyid,eventid,numfrom,receiveddata,received,sentcustomerid"),
        ("date_format", "yyyyMMddHHmmss")]
    assert replies == [Reply("27821234567", "ACK", id="41", reference="r1", cursor=41),
                       Reply("27821234568", "ack 2h", id="42", cursor=42)]
    assert store.position("m#replies") == 40  # advanced by the core, once it has them


def test_a_full_page_of_replies_is_read_on(gateway) -> None:
    answer(gateway, "Reply_STR_STR",
           reply_rows(*[(i, "27821234567", f"r{i}", "") for i in range(1, 101)]))
    answer(gateway, "Reply_STR_STR", reply_rows((101, "27821234567", "last", "")))
    replies = manager.gateway("mymobileapi").replies(account(URL), Feeds().feed("m"))
    assert [r.cursor for r in replies] == list(range(1, 102))
    assert data(soap_request(gateway.calls[1])).findtext("settings/id") == "100"
