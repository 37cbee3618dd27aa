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

from sms_notify.sandbox import (
    BadFault, Simulator, State, build_app, parse_fault, parse_fault_flag, phone, routable,
)
from sms_notify.sandbox.simulators.fastsms import FastSms
from sms_notify.sandbox.simulators.intellisms import IntelliSms
from sms_notify.sandbox.simulators.mymobileapi import MyMobileApi
from sms_notify.sandbox.simulators.server2sms import Server2Sms
from sms_notify.sandbox.simulators.sms24x import Sms24x
from sms_notify.sandbox.soap import action_uri

SIMULATORS: dict[str, type[Simulator[Any]]] = {
    "fastsms": FastSms, "intellisms": IntelliSms, "server2sms": Server2Sms, "sms24x": Sms24x,
    "mymobileapi": MyMobileApi,
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
        headers = {"Content-Type": "text/xml; charset=utf-8",
                   "SOAPAction": f'"{action_uri(ns, op)}"'}
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
    assert parse_fault_flag("fastsms:garble:101, 102:count=1") == {
        "gateway": "fastsms", "kind": "garble", "body": "101, 102", "count": "1"}
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
    assert phone("447700900123") == "+447700900123"
    assert phone("0044 7700 900123") == "+447700900123"
    assert phone("07700900123", "GB") == "+447700900123"
    assert phone("0821234567", "ZA") == "+27821234567"
    assert phone("12") is None and phone("abc") is None
    assert not routable("+447700900000")


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
    box.fastsms(Action="Send", DestinationAddress="447700900124", SourceAddress="Ops",
                Body="other")
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


# Each gateway's requests read and answers written (the answers themselves: test_simulators).

def test_fastsms_reads_query_and_form_alike_the_body_winning(box: Box) -> None:
    by_get = requests.get(box.url + "/api", params={"Token": "sandbox", "Action": "Send",
                                                    "DestinationAddress": "447700900123",
                                                    "SourceAddress": "Ops", "Body": "by GET"},
                          timeout=5)
    assert by_get.text.isdigit() and by_get.headers["content-type"].startswith("text/plain")
    both = box.post("/api?Token=sandbox&Action=CheckCredits&Body=query",
                    data={"Action": "Send", "DestinationAddress": "447700900124",
                          "SourceAddress": "Ops", "Body": "form"})
    assert both.text.isdigit()
    assert [m.text for m in box.state.inbox] == ["by GET", "form"]
    assert box.state.requests[-1]["operation"] == "Send"
    assert box.state.requests[-1]["recipients"] == ["+447700900124"]


def test_intellisms_paths(box: Box) -> None:
    assert box.intelli(to="447700900123", text="hi", **{"from": "Alerts"}).startswith("ID:")
    assert box.intelli("getbalance.aspx") == "BALANCE:999"
    assert [r["operation"] for r in box.state.requests] == ["sendmsg", "getbalance"]


def test_server2sms_json_in_and_out(box: Box) -> None:
    assert box.s2s("SendTextSMS", Originator="Alerts", MessageText="hi",
                   Recipients=["+447700900123:ref1"]) == {"StatusCode": "1", "StatusInfo": "OK"}
    simple = box.post("/sendSimpleTextSMS", json={"UserName": "sandbox", "Password": "sandbox",
                                                  "Recipients": "+41790000001",
                                                  "MessageText": "lower-case path"})
    assert simple.json()["StatusCode"] == "1", "IIS ignores the case of paths"
    assert box.post("/SendTextSMS", data=b"not json").status_code == 400
    assert box.s2s("CheckCredits", Password="nope")["StatusCode"] == "3"


def test_sms24x_envelopes_both_paths_and_soap12(box: Box) -> None:
    message_id = box.x24("SendFullSMS", Mobiles="07700900123", MessageFrom="Alerts",
                         MessageToSend="hello", DateTimeToSend="2024-01-01T10:00:00.000Z",
                         UserField="job-1", EmailAddressToSendReplies="")
    assert message_id.isdigit()
    assert box.x24("SendSimpleSMS", path="/wssecure/service.aspx", Mobiles="447700900125",
                   MessageFrom="447700900999", MessageToSend="via aspx").isdigit()
    wrong = box.soap("/wssecure/service.asmx", TEMPURI, "CreditsAvailable", UserName="sandbox",
                     Password="nope")
    assert "<CreditsAvailableResult>01 - Username or Password Incorrect<" in wrong.text
    answer = box.soap("/wssecure/service.asmx", TEMPURI, "CreditsAvailable",
                      version="http://www.w3.org/2003/05/soap-envelope",
                      UserName="sandbox", Password="sandbox")
    assert answer.status_code == 200 and "<CreditsAvailableResult>998<" in answer.text
    assert answer.headers["content-type"].startswith("application/soap+xml")


def envelope(ns: str, op: str, version: str = SOAP11) -> bytes:
    return (f'<soap:Envelope xmlns:soap="{version}"><soap:Body><{op} xmlns="{ns}"><UserName>'
            f"sandbox</UserName><Password>sandbox</Password></{op}></soap:Body>"
            "</soap:Envelope>").encode()


@pytest.mark.parametrize("headers, body, fault", [
    ({"Content-Type": "text/xml"}, envelope(TEMPURI, "CreditsAvailable"),
     "Server did not recognize the value of HTTP Header SOAPAction: ."),
    ({"Content-Type": "text/xml", "SOAPAction": '"http://tempuri.org/Dance"'},
     envelope(TEMPURI, "CreditsAvailable"),
     "Server did not recognize the value of HTTP Header SOAPAction: http://tempuri.org/Dance."),
    ({"Content-Type": "text/xml", "SOAPAction": '"http://tempuri.org/CheckLoginDetails"'},
     envelope(TEMPURI, "CreditsAvailable"),
     "&lt;CreditsAvailable xmlns='http://tempuri.org/'&gt; was not expected"),
    ({"Content-Type": "text/xml", "SOAPAction": '"http://tempuri.org/CreditsAvailable"'},
     envelope("http://example.com/", "CreditsAvailable"),
     "&lt;CreditsAvailable xmlns='http://example.com/'&gt; was not expected"),
    ({"Content-Type": 'application/soap+xml; action="http://tempuri.org/CheckLoginDetails"'},
     envelope(TEMPURI, "CreditsAvailable", "http://www.w3.org/2003/05/soap-envelope"),
     "&lt;CreditsAvailable xmlns='http://tempuri.org/'&gt; was not expected"),
])
def test_soap_requests_are_dispatched_by_their_action_as_asmx_does(
        box: Box, headers: dict[str, str], body: bytes, fault: str) -> None:
    answer = box.post("/wssecure/service.asmx", data=body, headers=headers)
    assert answer.status_code == 500 and fault in answer.text, answer.text
    assert "soap:Client" in answer.text or "soap:Sender" in answer.text


def test_soap_a_dtd_or_garbage_is_a_400_client_fault(box: Box) -> None:
    evil = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><CreditsAvailable xmlns="{TEMPURI}">'
            "<UserName>&e;</UserName></CreditsAvailable></soap:Body></soap:Envelope>")
    refused = box.post("/wssecure/service.asmx", data=evil.encode(),
                       headers={"Content-Type": "text/xml"})
    assert refused.status_code == 400 and "DTD is prohibited" in refused.text
    assert "root:" not in refused.text
    garbage = box.post("/wssecure/service.asmx", data=b"<<<", headers={"Content-Type": "text/xml"})
    assert garbage.status_code == 400 and "soap:Client" in garbage.text


SENDDATA = ("<senddata><settings><live>True</live><default_date>13/apr/2009</default_date>"
            "<default_time>10:00</default_time></settings><entries><numto>27821234567</numto>"
            "<customerid>{customerid}</customerid><data1>{text}</data1></entries></senddata>")


def test_mymobileapi_documents_inside_the_envelope(box: Box) -> None:
    answer = box.mma("Send_STR_STR", SENDDATA.format(customerid="c1", text="a &amp; b"))
    assert "<result>True</result>" in answer and "<eventid>" in answer
    assert [(m.to, m.reference, m.text) for m in box.state.inbox] == [
        ("+27821234567", "c1", "a & b")]
    assert "<error>Access denied</error>" in box.mma("Credits_STR", Username="sandbox",
                                                     Password="no")
    other = box.soap("/api5/api.asmx", "http://tempuri.org/", "Credits_STR",
                     Username="sandbox", Password="sandbox")
    assert other.status_code == 500 and "soap:Client" in other.text


def test_injected_error_code_in_each_wire_format(box: Box) -> None:
    for gateway in SIMULATORS:
        box.post("/admin/faults", json={"gateway": gateway, "kind": "error_code",
                                        "code": "auth", "count": 1})
    assert box.fastsms(Action="CheckCredits", ShowErrorMessage="1") == \
        "-501\nUnknown Username/Password"
    assert box.intelli("getbalance.aspx") == "ERR:LOGIN_INVALID"
    assert box.s2s("CheckCredits") == {"StatusCode": "3", "StatusInfo": "Authorization failed."}
    assert box.x24("CreditsAvailable") == "01 - Username or Password Incorrect"
    assert "<error>Access denied</error>" in box.mma("Credits_STR")
    assert box.state.faults == []


def test_unavailable_is_a_server_fault_on_the_soap_gateways(box: Box) -> None:
    for gateway in ("sms24x", "mymobileapi"):
        box.post("/admin/faults", json={"gateway": gateway, "kind": "error_code",
                                        "code": "unavailable", "count": 1})
    x24 = box.soap("/wssecure/service.asmx", TEMPURI, "CreditsAvailable", UserName="sandbox",
                   Password="sandbox")
    mma = box.soap("/api5/api.asmx", MMA, "Credits_STR", Username="sandbox", Password="sandbox")
    for answer in (x24, mma):
        assert answer.status_code == 500 and "<faultcode>soap:Server</faultcode>" in answer.text
        assert "temporarily unavailable" in answer.text


def test_garble_sends_then_answers_what_it_was_given(box: Box) -> None:
    box.post("/admin/faults", json={"gateway": "fastsms", "kind": "garble", "body": "101, 102",
                                    "count": 1})
    garbled = box.post("/api", data={"Token": "sandbox", "Action": "Send",
                                     "DestinationAddress": "447700900123",
                                     "SourceAddress": "Ops", "Body": "sent anyway"})
    assert (garbled.status_code, garbled.text) == (200, "101, 102")
    assert [m.text for m in box.state.inbox] == ["sent anyway"]
    assert box.state.requests[-1]["fault"] == "fault garble (answer replaced by '101, 102')"
    assert box.state.requests[-1]["outcome"].endswith(", then garbled")
    box.post("/admin/faults", json={"gateway": "sms24x", "kind": "garble", "count": 1})
    soap = box.soap("/wssecure/service.asmx", TEMPURI, "SendSimpleSMS", UserName="sandbox",
                    Password="sandbox", Mobiles="447700900124", MessageFrom="Ops",
                    MessageToSend="sent too")
    assert soap.status_code == 200 and soap.text == "<html><body>OK</body></html>"
    assert soap.headers["content-type"].startswith("text/xml")
    assert [m.text for m in box.state.inbox] == ["sent anyway", "sent too"]


def test_a_simulator_crash_is_one_500_and_one_log_line(box: Box,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from starlette.routing import Route

    class Broken(Simulator[str]):
        def routes(self) -> list[Route]:
            async def boom(request: Any) -> Any:
                raise RuntimeError("kaput")
            return [Route("/boom", boom, methods=["GET"])]

    app, state = build_app({"broken": Broken})
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

    class Acme(Simulator[str]):
        def routes(self) -> list[Route]:
            return []

    class Plugin:
        @hookimpl
        def sms_notify_register_simulators(self, register: Any) -> None:
            register("acme", Acme)
            register("fastsms", Acme)  # a second one for a scheme is ignored

    class Wrong:
        @hookimpl
        def sms_notify_register_simulators(self, register: Any) -> None:
            register("wrong", object())

    manager.register(Plugin(), name="test-acme-sim")
    manager.register(Wrong(), name="test-wrong-sim")
    try:
        found = collect_simulators()
    finally:
        manager.unregister("test-acme-sim")
        manager.unregister("test-wrong-sim")
    assert found["acme"] is Acme and found["fastsms"] is FastSms
    assert "wrong" not in found


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
    answer = service.Send_STR_STR(Username="sandbox", Password="sandbox",
                                  Data=SENDDATA.format(customerid="z1", text="via zeep"))
    assert "<result>True</result>" in answer
    assert [(m.to, m.reference, m.text) for m in box.state.inbox] == [
        ("+27821234567", "z1", "via zeep")]


# What the gateways send by themselves, and the admin calls behind it (docs/sandbox.md).

class Catcher:
    """A web server that records the requests it gets, answering 200."""

    def __init__(self) -> None:
        import http.server

        seen = self.seen = []  # type: list[tuple[str, str, str]]

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append((self.command, self.path, body.decode()))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _record

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def catcher() -> Iterator[Catcher]:
    made = Catcher()
    yield made
    made.server.shutdown()


def test_a_notification_url_a_send_gave_is_called(box: Box, catcher: Catcher) -> None:
    url = f"{catcher.url}/receipts/backup?auth=s3cret&TRN=<TRN>&DST=<DST>"
    assert box.s2s("SendTextSMS", Recipients=["+447700900123:r1"], MessageText="hi",
                   URLDeliveryNotification=url)["StatusCode"] == "1"
    box.s2s("InquireDeliveryNotifications", TransactionReferenceNumbers="r1")  # now final
    deadline = time.monotonic() + 10
    while not catcher.seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert catcher.seen == [("GET", "/receipts/backup?auth=s3cret&TRN=r1&DST=0", "")]
    (push,) = requests.get(box.url + "/admin/pushes", timeout=10).json()["pushes"]
    assert {k: push[k] for k in ("gateway", "what", "method", "url", "status")} == {
        "gateway": "server2sms", "what": "delivery notification", "method": "GET",
        "url": f"{catcher.url}/receipts/backup", "status": 200}  # never the query: the secret
    requests.delete(box.url + "/admin/pushes", timeout=10)
    assert requests.get(box.url + "/admin/pushes", timeout=10).json() == {"pushes": []}


def test_admin_replies_forwarded_and_in_a_feed(box: Box, catcher: Catcher) -> None:
    forwarding = box.post("/admin/forwarding", json={
        "gateway": "fastsms", "url": f"{catcher.url}/inbound/primary", "auth": "s3cret"})
    assert forwarding.json() == {"forwarding": {"vmn": "447700900999", "method": "POST"}}
    answer = box.post("/admin/replies", json={"gateway": "fastsms", "from": "+447700900123",
                                              "text": "ACK"}).json()
    assert answer["reply"]["msg"] == "ACK"
    assert [(f["url"], f["status"]) for f in answer["forwarded"]] == [
        (f"{catcher.url}/inbound/primary", 200)]
    ((method, path, body),) = catcher.seen
    assert (method, path) == ("POST", "/inbound/primary")
    assert "source=447700900123" in body and "auth=s3cret" in body and "msg=ACK" in body


@pytest.mark.parametrize(("spec", "error"), [
    ({"gateway": "intellisms", "from": "+447700900123", "text": "ACK"},
     "intellisms takes no replies"),
    ({"gateway": "fastsms", "from": "+447700900123", "text": "ACK"}, "forwards nowhere yet"),
    ({"gateway": "nope", "from": "+447700900123", "text": "ACK"}, "unknown gateway 'nope'"),
    ({"gateway": "fastsms", "text": "ACK"}, "expected from (strings)"),
    ([], "expected a JSON object")])
def test_admin_replies_that_cannot_be(box: Box, spec: Any, error: str) -> None:
    answer = box.post("/admin/replies", json=spec)
    assert answer.status_code == 400 and error in answer.json()["error"]
