"""The sandbox's simulators on the wire, in-process: raw requests in each gateway's format, the
exact answers back. A real uvicorn serves the app on a free port of 127.0.0.1 in a thread."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import escape

import pytest
import requests
import uvicorn
from sms_notify.plugins import (
    fastsms_sandbox,
    intellisms_sandbox,
    mymobileapi_sandbox,
    server2sms_sandbox,
    sms24x_sandbox,
)

from sms_notify.sandbox import BadFault, State, build_app, parse_fault, parse_fault_flag

SIMULATORS = {
    "fastsms": fastsms_sandbox.simulator(),
    "intellisms": intellisms_sandbox.simulator(),
    "server2sms": server2sms_sandbox.simulator(),
    "sms24x": sms24x_sandbox.simulator(),
    "mymobileapi": mymobileapi_sandbox.simulator(),
}
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
TEMPURI = "http://tempuri.org/"
MMA = "http://www.mymobileapi.com/api5"


class Box:
    def __init__(self, url: str, state: State) -> None:
        self.url, self.state = url, state

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, timeout=10, **kwargs)

    def fastsms(self, **form: str) -> str:
        return self.post("/api", data={"Token": "sandbox", **form}).text

    def intelli(self, path: str = "sendmsg.aspx", **form: str) -> str:
        body = {"username": "sandbox", "password": "sandbox", **form}
        return self.post(f"/smsgateway/{path}", data=body).text

    def s2s(self, method: str, **body: Any) -> dict[str, Any]:
        payload = {"UserName": "sandbox", "Password": "sandbox", **body}
        return dict(self.post(f"/{method}", json=payload).json())

    def soap(self, path: str, ns: str, op: str, version: str = SOAP11, **args: str
             ) -> requests.Response:
        children = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in args.items())
        body = (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{version}">'
                f'<soap:Body><{op} xmlns="{ns}">{children}</{op}></soap:Body></soap:Envelope>')
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{ns}{op}"'}
        return self.post(path, data=body.encode(), headers=headers)

    def x24(self, op: str, path: str = "/wssecure/service.asmx", **args: str) -> str:
        answer = self.soap(path, TEMPURI, op, UserName="sandbox", Password="sandbox", **args)
        assert answer.status_code == 200, answer.text
        return html.unescape(re.search(f"<{op}Result>(.*)</{op}Result>", answer.text, re.DOTALL)[1])  # type: ignore[index]

    def mma(self, op: str, data: str = "", **creds: str) -> str:
        creds = creds or {"Username": "sandbox", "Password": "sandbox"}
        children = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in {**creds, "Data": data}.items())
        body = (f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><{op} xmlns="{MMA}">'
                f"{children}</{op}></soap:Body></soap:Envelope>")
        answer = self.post("/api5/api.asmx", data=body.encode(), headers={
            "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{MMA}/{op}"'})
        assert answer.status_code == 200, answer.text
        return html.unescape(re.search(f"<{op}Result>(.*)</{op}Result>", answer.text, re.DOTALL)[1])  # type: ignore[index]


@pytest.fixture(scope="module")
def server() -> Iterator[Box]:
    app, state = build_app(SIMULATORS, deliver_after=3600)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not (srv.started and srv.servers):
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield Box(f"http://127.0.0.1:{port}", state)
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def box(server: Box) -> Box:
    server.state.reset()
    return server


# Faults: syntax and validation.

def test_fault_flag_syntax() -> None:
    assert parse_fault_flag("fastsms:http_error:503:count=3") == {
        "gateway": "fastsms", "kind": "http_error", "status": "503", "count": "3"}
    assert parse_fault_flag("sms24x:slow:2.5:seconds=30") == {
        "gateway": "sms24x", "kind": "slow", "delay": "2.5", "seconds": "30"}
    assert parse_fault_flag("intellisms:error_code:INTERNAL_ERROR")["code"] == "INTERNAL_ERROR"
    with pytest.raises(BadFault):
        parse_fault_flag("fastsms")
    with pytest.raises(BadFault):
        parse_fault_flag("fastsms:http_error:503:colour=red")


@pytest.mark.parametrize("spec, message", [
    ({"gateway": "nope", "kind": "timeout"}, "unknown gateway 'nope'"),
    ({"gateway": "fastsms", "kind": "explode"}, "unknown kind"),
    ({"gateway": "fastsms", "kind": "http_error", "status": 200}, "not an HTTP error"),
    ({"gateway": "fastsms", "kind": "error_code"}, "needs a code"),
    ({"gateway": "fastsms", "kind": "slow", "count": 0}, "count must be"),
    ({"gateway": "fastsms", "kind": "slow", "delay": "soon"}, "bad number"),
])
def test_bad_faults_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(BadFault, match=message):
        parse_fault(spec, SIMULATORS)


def test_error_code_by_category_uses_the_gateways_code() -> None:
    assert parse_fault({"gateway": "fastsms", "kind": "error_code", "code": "auth"},
                       SIMULATORS).code == "-501"
    assert parse_fault({"gateway": "sms24x", "kind": "error_code", "code": "credit"},
                       SIMULATORS).code == "04"
    assert parse_fault({"gateway": "fastsms", "kind": "error_code", "code": "-300"},
                       SIMULATORS).code == "-300"


def test_numbers() -> None:
    assert State.phone("447700900123") == "+447700900123"
    assert State.phone("0044 7700 900123") == "+447700900123"
    assert State.phone("07700900123", "GB") == "+447700900123"
    assert State.phone("0821234567", "ZA") == "+27821234567"
    assert State.phone("12") is None and State.phone("abc") is None
    assert not State.routable("+447700900000")


# Admin endpoints.

def test_admin_faults_roundtrip(box: Box) -> None:
    made = box.post("/admin/faults", json={"gateway": "fastsms", "kind": "http_error",
                                           "status": 502, "count": 2}).json()
    assert made["status"] == 502 and made["count"] == 2
    assert requests.get(box.url + "/admin/faults", timeout=5).json()["faults"][0]["id"] == made["id"]
    assert box.post("/api", data={"Token": "sandbox", "Action": "CheckCredits"}).status_code == 502
    assert requests.get(box.url + "/admin/faults", timeout=5).json()["faults"][0]["count"] == 1
    assert box.post("/api", data={"Token": "sandbox", "Action": "CheckCredits"}).status_code == 502
    assert box.fastsms(Action="CheckCredits") == "1000.00"
    bad = box.post("/admin/faults", data=b"{not json")
    assert bad.status_code == 400 and "error" in bad.json()
    box.post("/admin/faults", json={"gateway": "fastsms", "kind": "slow", "delay": 0})
    assert requests.delete(box.url + "/admin/faults", timeout=5).json() == {"faults": []}


def test_a_garble_fault_sends_the_text_and_answers_unreadably(box: Box) -> None:
    """The endpoint runs as usual (the text lands in the inbox); the answer is the fault's body,
    HTTP 200: what a gateway that changed its answers would do."""
    box.post("/admin/faults", json={"gateway": "fastsms", "kind": "garble", "body": "101, 102",
                                    "count": 1})
    answer = box.post("/api", data={"Token": "sandbox", "Action": "Send",
                                    "DestinationAddress": "447700900123", "SourceAddress": "Ops",
                                    "Body": "garbled"})
    assert (answer.status_code, answer.text) == (200, "101, 102")
    assert [m.text for m in box.state.inbox] == ["garbled"]
    assert parse_fault_flag("fastsms:garble:Message Sent:count=1") == {
        "gateway": "fastsms", "kind": "garble", "body": "Message Sent", "count": "1"}


def test_fault_for_seconds_expires(box: Box) -> None:
    box.post("/admin/faults", json={"gateway": "intellisms", "kind": "http_error",
                                    "seconds": 0.2})
    assert box.post("/smsgateway/getbalance.aspx").status_code == 503
    time.sleep(0.3)
    assert box.intelli("getbalance.aspx") == "BALANCE:1000"


def test_inbox_filter_page_escapes_and_never_dedups(box: Box) -> None:
    for _ in range(2):
        assert box.fastsms(Action="Send", DestinationAddress="447700900123",
                           SourceAddress="Ops", Body="<b>twice</b> & more").isdigit()
    box.fastsms(Action="Send", DestinationAddress="447700900124", Body="other")
    inbox = requests.get(box.url + "/inbox", params={"to": "+447700900123"}, timeout=5).json()
    assert [m["text"] for m in inbox["messages"]] == ["<b>twice</b> & more"] * 2
    assert inbox["messages"][0]["gateway"] == "fastsms"
    assert set(inbox["messages"][0]) == {"gateway", "to", "text", "sender", "parts", "id",
                                         "reference", "status", "at"}
    page = requests.get(box.url + "/", timeout=5).text
    assert "&lt;b&gt;twice&lt;/b&gt; &amp; more" in page and "<b>twice" not in page
    assert requests.delete(box.url + "/inbox", timeout=5).ok
    assert requests.get(box.url + "/inbox", timeout=5).json() == {"messages": []}


def test_unknown_path_is_404(box: Box) -> None:
    assert requests.get(box.url + "/nowhere", timeout=5).status_code == 404


# FastSMS.

def test_fastsms_answers(box: Box) -> None:
    ids = box.fastsms(Action="Send", DestinationAddress="447700900123,12,447700900000",
                      SourceAddress="Alerts", Body="hi")
    assert re.fullmatch(r"\d+,-401,-406", ids)
    assert box.fastsms(Action="Send", DestinationAddress="447700900123", Body="x" * 460,
                       ShowErrorMessage="1") == "-507\nBody is longer than 459 characters"
    assert box.fastsms(Action="Send", DestinationAddress="447700900123", Body=" ") == "-404"
    assert box.fastsms(Action="Send", DestinationAddress="447700900123", Body="hi",
                       SourceAddress="TwelveLetter") == "-402"
    assert box.post("/api", data={"Token": "x", "Action": "CheckCredits",
                                  "ShowErrorMessage": "0"}).text == "-501\nUnknown Username/Password"
    assert box.fastsms(Action="Dance") == "-502"
    assert box.fastsms(Action="CheckMessageStatus", MessageID="1") == "-503"
    first = ids.split(",")[0]
    assert box.fastsms(Action="CheckMessageStatus", MessageID=first) == "Sent"
    assert box.fastsms(Action="CheckMessageStatus", MessageID=first) == "Delivered"
    assert box.fastsms(Action="Send", DestinationAddress="List", ListName="Oncall", Body="all",
                       GetBGSendID="1").isdigit()
    assert len(box.state.messages("fastsms")) == 3
    assert box.fastsms(Action="Send", DestinationAddress="Group", GroupName="x", Body="y") == "-520"


def test_fastsms_out_of_credit(box: Box) -> None:
    box.post("/admin/balances", json={"gateway": "fastsms", "credits": 1})
    assert box.fastsms(Action="Send", DestinationAddress="447700900123,447700900124",
                       Body="hi") == "-100"
    assert box.state.inbox == []


# IntelliSoftware.

def test_intellisms_answers(box: Box) -> None:
    one = box.intelli(to="447700900123", text="hi", **{"from": "Alerts"})
    assert re.fullmatch(r"ID:\d{20}", one)
    many = box.intelli(to="447700900123,07700900124,447700900000,447700900123", text="hi")
    lines = many.splitlines()
    assert len(lines) == 3  # the duplicate is removed, as the gateway documents
    assert re.fullmatch(r"447700900123,ID:\d{20}", lines[0])
    assert lines[1].startswith("447700900124,ID:") and lines[0][13:] == lines[1][13:]
    assert lines[2] == "447700900000,ERR:INVALID_NUMBER"
    assert box.intelli(to="447700900123", text="x" * 161) == "ERR:INVALID_REQUEST"
    assert box.intelli(to="447700900123", text="x" * 161, maxconcat="2").startswith("ID:")
    assert box.intelli(to="447700900123") == "ERR:NO_TEXT"
    assert box.intelli(text="hi") == "ERR:NO_TO"
    assert box.post("/smsgateway/sendmsg.aspx", data={"username": "sandbox", "to": "1",
                                                      "text": "x"}).text == "ERR:NO_PASSWORD"
    assert box.post("/smsgateway/getbalance.aspx",
                    data={"username": "a", "password": "b"}).text == "ERR:LOGIN_INVALID"
    text = "Zürich ✓ 東京"
    assert box.intelli(to="447700900125", type="2", hex=text.encode("utf-16-be").hex()
                       ).startswith("ID:")
    assert box.state.messages("intellisms", to="+447700900125")[0].text == text
    assert box.intelli(to="447700900125", type="2", hex="zz") == "ERR:PARAMETER_INVALID"
    assert box.intelli("getbalance.aspx") == "BALANCE:994"


# server2sms.

def test_server2sms_answers(box: Box) -> None:
    assert box.s2s("SendTextSMS", Originator="Alerts", MessageText="hi",
                   Recipients=["+447700900123:ref1", "+447700900000:ref2"]) == {
        "StatusCode": "1", "StatusInfo": "OK"}
    notes = box.s2s("InquireDeliveryNotifications", TransactionReferenceNumbers="ref1;ref2;zz")
    assert notes["StatusCode"] == "1"
    by_ref = {n["TransactionReferenceNumber"]: n for n in notes["DeliveryNotifications"]}
    assert by_ref["ref1"]["DeliveryStatus"] == "1" and by_ref["ref1"]["SubmissionDate"]
    assert by_ref["ref2"]["DeliveryStatus"] == "2" and by_ref["ref2"]["Reasoncode"] == "206"
    assert by_ref["zz"]["DeliveryStatus"] == "-1" and not by_ref["zz"]["SubmissionDate"]
    again = box.s2s("InquireDeliveryNotifications", TransactionReferenceNumbers="ref1")
    assert again["DeliveryNotifications"][0]["DeliveryStatus"] == "0"
    assert box.s2s("SendTextSMS", MessageText="hi", Recipients=["+447700900000"])["StatusCode"] == "14"
    assert box.s2s("SendTextSMS", MessageText=" ", Recipients=["+447700900123"])["StatusCode"] == "11"
    assert box.s2s("SendTextSMS", MessageText="x", Recipients=[])["StatusCode"] == "20"
    assert box.s2s("SendTextSMS", MessageText="x", Originator="MuchTooLongName",
                   Recipients=["+447700900123"])["StatusCode"] == "10"
    assert box.s2s("CheckCredits", Password="nope")["StatusCode"] == "3"
    assert box.s2s("CheckCredits", UserName="")["StatusCode"] == "8"
    assert box.s2s("CheckCredits") == {"Credits": "999", "StatusCode": "1", "StatusInfo": "OK"}
    simple = box.post("/sendSimpleTextSMS", json={"UserName": "sandbox", "Password": "sandbox",
                                                  "Recipients": "+41790000001",
                                                  "MessageText": "lower-case path"})
    assert simple.json()["StatusCode"] == "1"
    bad = box.post("/SendTextSMS", data=b"not json")
    assert bad.status_code == 400
    assert box.s2s("VersionInfo")["StatusCode"] == "1"
    assert {"StatusCode": "3", "StatusInfo": "Authorization failed."} in box.s2s(
        "ListAllStatusCodes")["StatusCodes"]


def test_server2sms_token_and_vouchers(box: Box) -> None:
    assert box.s2s("SendTokenSMS", Recipients="+447700900123", TokenReference="t1",
                   MessageData="code <VERIFICATIONCODE>", VerificationCode="4242")["StatusCode"] == "1"
    assert box.state.messages("server2sms")[0].text == "code 4242"
    assert box.s2s("VerifyToken", PhoneNumber="+447700900123", TokenReference="t1",
                   VerificationCode="4242")["StatusCode"] == "1"
    assert box.s2s("VerifyToken", PhoneNumber="+447700900123", TokenReference="t1",
                   VerificationCode="1")["StatusCode"] == "37"
    made = box.s2s("CreateVoucher", NumberOfVouchers="1", AmountCreditsPerVoucher="10")
    assert box.s2s("CheckCredits")["Credits"] == "989"
    assert box.s2s("RedeemVoucher", RedeemCode=made["VoucherCodes"][0])["StatusCode"] == "1"
    assert box.s2s("CheckCredits")["Credits"] == "999"


# 24x (SOAP).

def test_sms24x_send_report_and_credits(box: Box) -> None:
    message_id = box.x24("SendFullSMS", Mobiles="07700900123,447700900124", MessageFrom="Alerts",
                         MessageToSend="hello", DateTimeToSend="2024-01-01T10:00:00.000Z",
                         UserField="job-1", EmailAddressToSendReplies="")
    assert message_id.isdigit()
    assert [m.to for m in box.state.messages("sms24x", id=message_id)] == [
        "+447700900123", "+447700900124"]
    report = box.x24("GetDeliveryReport", MessageID=message_id)
    assert re.fullmatch(rf"({message_id},Sent,[\d/: ]+,job-1\|){{2}}", report)
    by_date = box.x24("GetDeliveryReportByDate", DateFrom="2000-01-01T00:00:00",
                      DateTo="2100-01-01T00:00:00")
    assert by_date.count(",Delivered,") == 2 and by_date.endswith(",job-1|")
    assert box.x24("CreditsAvailable") == "998"
    assert box.x24("SendSimpleSMS", path="/wssecure/service.aspx", Mobiles="447700900125",
                   MessageFrom="447700900999", MessageToSend="via aspx").isdigit()


@pytest.mark.parametrize("args, answer", [
    ({"Mobiles": "447700900123", "MessageFrom": "", "MessageToSend": "x"},
     "02 - No sender specified"),
    ({"Mobiles": "447700900123", "MessageFrom": "Alerts", "MessageToSend": ""},
     "03 - No message specified"),
    ({"Mobiles": "447700900000", "MessageFrom": "Alerts", "MessageToSend": "x"},
     "06 - Invalid mobile number"),
    ({"Mobiles": "447700900123", "MessageFrom": "Alerts", "MessageToSend": "x",
      "DateTimeToSend": "2999-01-01T00:00:00"}, "05 - Date to send greater than a year in advance."),
])
def test_sms24x_errors(box: Box, args: dict[str, str], answer: str) -> None:
    assert box.x24("SendFullSMS", **args) == answer
    assert box.state.inbox == []


def test_sms24x_auth_login_and_phonebook(box: Box) -> None:
    wrong = box.soap("/wssecure/service.asmx", TEMPURI, "CreditsAvailable", UserName="sandbox",
                     Password="nope")
    assert "<CreditsAvailableResult>01 - Username or Password Incorrect<" in wrong.text
    assert box.x24("CheckLoginDetails") == "24001"
    assert box.x24("SendToPhonebook", PhonebookName="Oncall", MessageFrom="Alerts",
                   MessageToSend="all hands").isdigit()
    assert sorted(m.to for m in box.state.inbox) == ["+447700900201", "+447700900202"]
    assert box.x24("SendToPhonebook", PhonebookName="Nobody", MessageFrom="A",
                   MessageToSend="x") == "09 - The phonebook does not exist"
    assert box.x24("GetPhonebookNames") == "Oncall,2|"


def test_sms24x_wrong_namespace_and_dtd_are_client_faults(box: Box) -> None:
    wrong = box.soap("/wssecure/service.asmx", "http://example.com/", "CreditsAvailable",
                     UserName="sandbox", Password="sandbox")
    assert wrong.status_code == 500
    assert "<faultcode>soap:Client</faultcode>" in wrong.text
    assert "&lt;CreditsAvailable xmlns='http://example.com/'&gt; was not expected" in wrong.text
    evil = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><CreditsAvailable xmlns="{TEMPURI}">'
            "<UserName>&e;</UserName></CreditsAvailable></soap:Body></soap:Envelope>")
    refused = box.post("/wssecure/service.asmx", data=evil.encode(),
                       headers={"Content-Type": "text/xml"})
    assert refused.status_code == 400 and "DTD is prohibited" in refused.text
    assert "root:" not in refused.text
    garbage = box.post("/wssecure/service.asmx", data=b"<<<", headers={"Content-Type": "text/xml"})
    assert garbage.status_code == 400 and "soap:Client" in garbage.text


def test_sms24x_soap12(box: Box) -> None:
    answer = box.soap("/wssecure/service.asmx", TEMPURI, "CreditsAvailable",
                      version="http://www.w3.org/2003/05/soap-envelope",
                      UserName="sandbox", Password="sandbox")
    assert answer.status_code == 200 and "<CreditsAvailableResult>1000<" in answer.text


# MyMobileAPI (SOAP).

SENDDATA = ("<senddata><settings><live>{live}</live><return_credits>True</return_credits>"
            "<return_entries_success_status>True</return_entries_success_status>"
            "<return_entries_failed_status>True</return_entries_failed_status>"
            "<default_senderid>Alerts</default_senderid><default_date>13/apr/2009</default_date>"
            "<default_time>10:00</default_time></settings>{entries}</senddata>")


def entry(number: str, customerid: str, text: str = "hello") -> str:
    return (f"<entries><numto>{number}</numto><customerid>{customerid}</customerid>"
            f"<data1>{escape(text)}</data1><type>SMS</type></entries>")


def test_mymobileapi_send_sent_and_credits(box: Box) -> None:
    answer = box.mma("Send_STR_STR", SENDDATA.format(live="True", entries=entry(
        "27821234567", "c1") + entry("0821234568", "c2", "a & b") + entry("27820000000", "c3")))
    assert "<result>True</result>" in answer
    assert "<entries_success><numto>27821234567</numto><customerid>c1</customerid>" in answer
    assert ("<entries_failed><numto>27820000000</numto><customerid>c3</customerid>"
            "<reason>numto invalid</reason></entries_failed>") in answer
    assert re.search(r"<send_info><eventid>\d+</eventid><credits>998</credits></send_info>", answer)
    assert [(m.to, m.reference, m.text) for m in box.state.inbox] == [
        ("+27821234567", "c1", "hello"), ("+27821234568", "c2", "a & b")]
    sent = box.mma("Sent_STR_STR", "<sent><settings><id>0</id><max_recs>100</max_recs>"
                   "<cols_returned>sentid,numto,customerid,status</cols_returned>"
                   "</settings></sent>")
    rows = re.findall(r"<data><changeid>(\d+)</changeid>.*?<customerid>(\w+)</customerid>"
                      r"<status>(\w+)</status></data>", sent)
    assert [(c, s) for _, c, s in rows] == [("c1", "UNKNOWN"), ("c2", "UNKNOWN")]
    last = rows[-1][0]
    later = box.mma("Sent_STR_STR", f"<sent><settings><id>{last}</id></settings></sent>")
    assert later.count("<status>DELIVRD</status>") == 2
    assert "<credits>998</credits>" in box.mma("Credits_STR")


def test_mymobileapi_errors(box: Box) -> None:
    assert "<error>Invalid username or password</error>" in box.mma(
        "Credits_STR", Username="sandbox", Password="no")
    test_mode = box.mma("Send_STR_STR", SENDDATA.format(live="False", entries=entry(
        "27821234567", "c1")))
    assert "<result>True</result>" in test_mode and box.state.inbox == []
    nothing = box.mma("Send_STR_STR", SENDDATA.format(live="True", entries=entry(
        "27821234567", "c1", " ")))
    assert "<reason>data1 invalid</reason>" in nothing
    assert "<result>False</result><error>No data to send</error>" in nothing
    dtd = box.mma("Send_STR_STR", '<!DOCTYPE x [<!ENTITY a "b">]><senddata/>')
    assert "<result>False</result>" in dtd and "DTD is prohibited" in dtd


def test_mymobileapi_wrong_namespace(box: Box) -> None:
    answer = box.soap("/api5/api.asmx", "http://tempuri.org/", "Credits_STR",
                      Username="sandbox", Password="sandbox")
    assert answer.status_code == 500 and "soap:Client" in answer.text


def test_injected_error_code_in_each_wire_format(box: Box) -> None:
    for gateway in SIMULATORS:
        box.post("/admin/faults", json={"gateway": gateway, "kind": "error_code",
                                        "code": "auth", "count": 1})
    assert box.fastsms(Action="CheckCredits", ShowErrorMessage="1") == \
        "-501\nUnknown Username/Password"
    assert box.intelli("getbalance.aspx") == "ERR:LOGIN_INVALID"
    assert box.s2s("CheckCredits") == {"StatusCode": "3", "StatusInfo": "Authorization failed."}
    assert box.x24("CreditsAvailable") == "01 - Username or Password Incorrect"
    assert "<error>Invalid username or password</error>" in box.mma("Credits_STR")
    assert box.state.faults == []


def test_a_simulator_crash_is_one_500_and_one_log_line(box: Box,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from starlette.routing import Route

    class Broken:
        def routes(self, state: State) -> list[Route]:
            async def boom(request: Any) -> Any:
                raise RuntimeError("kaput")
            return [Route("/boom", boom, methods=["GET"])]

    app, state = build_app({"broken": Broken()})
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not (srv.started and srv.servers):
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    try:
        with caplog.at_level("INFO", logger="sms_notify.sandbox"):
            answer = requests.get(f"http://127.0.0.1:{port}/boom", timeout=5)
        assert answer.status_code == 500 and "Traceback" not in answer.text
        assert state.requests[-1]["outcome"] == "sandbox error RuntimeError: kaput"
        assert any("broken GET /boom" in r.getMessage() for r in caplog.records)
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_simulators_come_only_through_the_hook() -> None:
    from starlette.routing import Route

    from sms_notify import hookimpl, manager
    from sms_notify.sandbox import collect_simulators

    class Acme:
        def routes(self, state: State) -> list[Route]:
            return []

    class Plugin:
        @hookimpl
        def sms_notify_register_simulators(self, register: Any) -> None:
            register("acme", Acme())
            register("fastsms", Acme())  # a second one for a scheme is ignored

    manager.register(Plugin(), name="test-acme-sim")
    try:
        found = collect_simulators()
    finally:
        manager.unregister("test-acme-sim")
    assert isinstance(found["acme"], Acme)
    assert type(found["fastsms"]).__name__ == "FastSmsSimulator"


JUNK: list[tuple[bytes, str]] = [
    (b"", "text/plain"), (b"\xff\xfe\x00garbage", "application/octet-stream"),
    (b"Token=sandbox&Action=Send&DestinationAddress=%ZZ&Body=%FF", "application/x-www-form-urlencoded"),
    (b'{"UserName": "sandbox", "Password": "sandbox", "Recipients": [1, null], "MessageText": []}',
     "application/json"),
    (b'{"UserName": ["x"], "TransactionReferenceNumbers": {"a": 1}}', "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body/></soap:Envelope>'.encode(), "text/xml"),
    (f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><Send_STR_STR xmlns="{MMA}"><Username>'
     f"sandbox</Username><Password>sandbox</Password><Data>&lt;senddata&gt;</Data></Send_STR_STR>"
     "</soap:Body></soap:Envelope>".encode(), "text/xml"),
    (f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><GetDeliveryReport xmlns="{TEMPURI}">'
     "<UserName>sandbox</UserName><Password>sandbox</Password><MessageID>x</MessageID>"
     "</GetDeliveryReport></soap:Body></soap:Envelope>".encode(), "text/xml"),
    (b"<a>" * 5000, "text/xml"),
]
PATHS = ["/api", "/smsgateway/sendmsg.aspx", "/smsgateway/getbalance.aspx", "/SendTextSMS",
         "/InquireDeliveryNotifications", "/SendTokenSMS", "/CreateVoucher",
         "/wssecure/service.asmx", "/api5/api.asmx"]


@pytest.mark.parametrize("path", PATHS)
def test_junk_never_gets_a_5xx_other_than_a_soap_fault(box: Box, path: str) -> None:
    for body, content_type in JUNK:
        answer = box.post(path, data=body, headers={"Content-Type": content_type})
        assert answer.status_code < 500 or "soap:Client" in answer.text, (path, body, answer.text)
        assert "Traceback" not in answer.text
    assert not any(r["outcome"].startswith("sandbox error") for r in box.state.requests)


@pytest.mark.parametrize("binding", ["APISoap", "APISoap12"])
def test_mymobileapi_answers_a_client_built_from_the_reference_wsdl(box: Box, binding: str
                                                                    ) -> None:
    """zeep, driven by the public WSDL copy, must get answers it can read (SOAP 1.1 and 1.2)."""
    from pathlib import Path

    import zeep

    wsdl = Path(__file__).parent / "fixtures" / "mymobileapi-reference.wsdl"
    client = zeep.Client(str(wsdl))
    service = client.create_service(f"{{{MMA}}}{binding}", box.url + "/api5/api.asmx")
    credits = service.Credits_STR(Username="sandbox", Password="sandbox")
    assert "<credits>1000</credits>" in credits and "<result>True</result>" in credits
    answer = service.Send_STR_STR(Username="sandbox", Password="sandbox", Data=SENDDATA.format(
        live="True", entries=entry("27821234567", "z1", "via zeep")))
    assert "<result>True</result>" in answer
    assert [(m.to, m.reference, m.text) for m in box.state.inbox] == [
        ("+27821234567", "z1", "via zeep")]
