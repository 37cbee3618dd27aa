"""sms_notify.soap on its own: a one-operation ASMX service of the test's own, so that what the
SOAP gateways share is pinned down apart from either gateway's wire protocol."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from sms_notify import safexml, soap
from sms_notify.errors import Category, ProviderError
from sms_notify.model import Account, Provider
from tests.fixtures.soap import (
    XML,
    XXE_DTD,
    hostile_soap,
    soap_fault,
    soap_request,
    soap_result,
)

NS = "http://example.test/echo"
BINDING = f"{{{NS}}}EchoSoap"
PATH = "/echo.asmx"
SERVICE = f"http://127.0.0.1:8025{PATH}"
PROVIDER = Provider(scheme="echo", name="Echo", base_url="https://echo.invalid",
                    credentials=("user", "password"))

WSDL = f"""<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:s="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="{NS}" targetNamespace="{NS}">
  <wsdl:types>
    <s:schema elementFormDefault="qualified" targetNamespace="{NS}">
      <s:element name="Echo"><s:complexType><s:sequence>
        <s:element minOccurs="0" maxOccurs="1" name="UserName" type="s:string"/>
        <s:element minOccurs="0" maxOccurs="1" name="Password" type="s:string"/>
        <s:element minOccurs="0" maxOccurs="1" name="Text" type="s:string"/>
      </s:sequence></s:complexType></s:element>
      <s:element name="EchoResponse"><s:complexType><s:sequence>
        <s:element minOccurs="0" maxOccurs="1" name="EchoResult" type="s:string"/>
      </s:sequence></s:complexType></s:element>
    </s:schema>
  </wsdl:types>
  <wsdl:message name="EchoSoapIn"><wsdl:part name="parameters" element="tns:Echo"/></wsdl:message>
  <wsdl:message name="EchoSoapOut">
    <wsdl:part name="parameters" element="tns:EchoResponse"/>
  </wsdl:message>
  <wsdl:portType name="EchoSoap">
    <wsdl:operation name="Echo">
      <wsdl:input message="tns:EchoSoapIn"/><wsdl:output message="tns:EchoSoapOut"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="EchoSoap" type="tns:EchoSoap">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Echo">
      <soap:operation soapAction="{NS}/Echo" style="document"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input>
      <wsdl:output><soap:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="Echo">
    <wsdl:port name="EchoSoap" binding="tns:EchoSoap">
      <soap:address location="https://echo.invalid{PATH}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"""


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("wsdl") / "echo.wsdl"
    path.write_text(WSDL)
    return soap.wsdl(path)()


def echo(document: Any, text: str = "hi") -> Any:
    account = Account("echo", "USER", "PA:SS", options={"endpoint": "http://127.0.0.1:8025",
                                                        "timeout": "2"})
    return soap.call(account, PROVIDER, document=document, binding=BINDING, path=PATH,
                     operation="Echo", credentials={"UserName": "USER", "Password": "PA:SS"},
                     Text=text)


def failure(document: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        echo(document)
    assert caught.value.provider == "Echo"
    return caught.value


def test_a_call_posts_credentials_first_to_the_endpoint_and_answers_the_result(
    gateway, document
) -> None:
    gateway.add(responses.POST, SERVICE, body=soap_result(NS, "Echo", "hello"), content_type=XML)
    assert echo(document, "hello") == "hello"
    request = soap_request(gateway.calls[0])
    assert (request.path, request.action, request.operation) == (PATH, f'"{NS}/Echo"', "Echo")
    assert request.children == [("UserName", "USER"), ("Password", "PA:SS"), ("Text", "hello")]
    assert gateway.calls[0].request.headers["User-Agent"].startswith("sms-notify/")


def test_the_wsdl_is_parsed_once_with_the_forbidding_settings(tmp_path: Path) -> None:
    path = tmp_path / "echo.wsdl"
    path.write_text(WSDL)
    load = soap.wsdl(path)
    assert load() is load()
    assert load().settings.forbid_dtd and load().settings.forbid_entities


def test_threads_that_call_at_once_from_the_first_use_each_parse_their_own(
    gateway, tmp_path: Path
) -> None:
    """Probe 7: every MyMobileAPI look-up under serve once failed with "'NoneType' object has
    no attribute 'parse_xmlelement'" while the senders shared one zeep document, which zeep
    does not say is safe to share: each thread gets its own, and concurrent first calls work."""
    path = tmp_path / "echo.wsdl"
    path.write_text(WSDL)
    load = soap.wsdl(path)
    gateway.add(responses.POST, SERVICE, body=soap_result(NS, "Echo", "hello"), content_type=XML)
    start = threading.Barrier(8)
    documents: list[Any] = []
    results: list[Any] = []

    def call() -> None:
        start.wait()
        document = load()
        documents.append(document)
        try:
            results.append(echo(document, "hello"))
            assert load() is document
        except Exception as exc:  # noqa: BLE001 - what the test counts
            results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == ["hello"] * 8
    assert len({id(d) for d in documents}) == 8


def test_a_read_timeout_is_unavailable_with_an_unknown_outcome(gateway, document) -> None:
    """It may have reached the gateway: the outbox looks it up rather than send it twice."""
    gateway.add(responses.POST, SERVICE, body=requests.ReadTimeout("slow"))
    error = failure(document)
    assert (error.category, error.unknown_outcome) == (Category.UNAVAILABLE, True)
    assert error.text == "no answer from 127.0.0.1:8025 within 2s"


def test_a_refused_connection_is_unavailable_and_never_reached_the_gateway(gateway, document) -> None:
    gateway.add(responses.POST, SERVICE, body=requests.ConnectionError("refused"))
    error = failure(document)
    assert (error.category, error.unknown_outcome) == (Category.UNAVAILABLE, False)


def test_a_5xx_page_is_unavailable(gateway, document) -> None:
    gateway.add(responses.POST, SERVICE, status=503,
                body="<html><body>Service Unavailable</body></html>")
    error = failure(document)
    assert (error.category, error.code, error.unknown_outcome) == (Category.UNAVAILABLE, "503", False)
    assert error.text == (
        "127.0.0.1:8025 answered HTTP 503: <html><body>Service Unavailable</body></html>")


@pytest.mark.parametrize(("code", "describe"), [
    ("soap:Server", "unavailable: soap:Server SOAP fault: Server was unable to process request."),
    ("soap:Client", "refused: soap:Client SOAP fault: Server was unable to process request."),
])
def test_a_5xx_soap_fault_envelope_is_read_as_a_fault(gateway, document, code: str,
                                                       describe: str) -> None:
    """ASP.NET sends faults with HTTP 500; soap:Client says the service refused the request."""
    gateway.add(responses.POST, SERVICE, status=500, content_type=XML,
                body=soap_fault(code, "Server was unable to process request."))
    assert failure(document).describe() == describe


@pytest.mark.parametrize("scan", [True, False], ids=["raw scan", "zeep"])
def test_an_answer_with_a_dtd_is_refused(gateway, document, monkeypatch, scan: bool) -> None:
    if not scan:  # zeep's forbid_dtd is the second line
        monkeypatch.setattr(safexml, "has_dtd", lambda data: False)
    gateway.add(responses.POST, SERVICE, body=hostile_soap(NS, "Echo", XXE_DTD, "xxe"),
                content_type=XML)
    error = failure(document)
    assert (error.category, error.text) == (
        Category.REQUEST, f"answer refused: {safexml.DTD_REFUSED}")


@pytest.mark.parametrize(("status", "category"), [
    (429, Category.RATE_LIMITED), (401, Category.AUTH), (404, Category.REFUSED),
    (408, Category.UNAVAILABLE),
])
def test_an_http_status_without_soap(gateway, document, status: int, category: Category
                                     ) -> None:
    gateway.add(responses.POST, SERVICE, status=status, body="no")
    error = failure(document)
    assert (error.category, error.code) == (category, str(status))


def test_an_answer_that_is_not_xml_is_unavailable(gateway, document) -> None:
    gateway.add(responses.POST, SERVICE, body="not xml at all")
    assert failure(document).category is Category.UNAVAILABLE


def test_arguments_the_wsdl_does_not_know_are_the_requests_fault(gateway, document) -> None:
    account = Account("echo", "U", "P", options={"endpoint": "http://127.0.0.1:8025"})
    with pytest.raises(ProviderError) as caught:
        soap.call(account, PROVIDER, document=document, binding=BINDING, path=PATH,
                  operation="Echo", credentials={"UserName": "U"}, Colour="red")
    assert caught.value.category is Category.REQUEST
    assert caught.value.text.startswith("cannot write the Echo request:")
