"""SOAP as ASP.NET ASMX services speak it, for simulators of such gateways.

Requests are parsed by sms_notify.safexml: DTDs, entities and network access off, a DOCTYPE
refused. A SOAP 1.1 request is dispatched by its SOAPAction header, as ASMX does: missing or
naming no operation, it is a fault, and a body element that is not the operation it names is
"<X xmlns='...'> was not expected"; a SOAP 1.2 request may leave the action out of its
Content-Type, but one it gives must match. Faults read like ASP.NET's and are answered in the
SOAP version the request came in.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .simulator import Answered, Call, Simulator, exchange

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
CONTENT_TYPE = {SOAP11: "text/xml; charset=utf-8", SOAP12: "application/soap+xml; charset=utf-8"}
SERVER_FAULT = "soap:Server"  # the code an error_code fault gives for a passing server failure
UNAVAILABLE = ("Server was unable to process request. ---> The service is temporarily "
               "unavailable.")


class XmlRefused(ValueError):
    """XML that is malformed or carries a DTD."""


class SoapFault(Answered):
    """A SOAP fault: soap:Client (1.1) / soap:Sender (1.2) when the request is at fault, else
    soap:Server / soap:Receiver; HTTP 500 unless `status` says otherwise (400: unreadable)."""

    def __init__(self, text: str, sender: bool = True, status: int = 500) -> None:
        super().__init__(f"SOAP fault {'soap:Client' if sender else 'soap:Server'} "
                         f"(HTTP {status})")
        self.text, self.sender, self.status = text, sender, status

    def __str__(self) -> str:
        return self.text

    def response(self, call: Call) -> Response:
        return fault(call.version or SOAP11, self.text, self.sender, self.status)


def parse_xml(data: bytes | str) -> etree._Element:
    """Parse untrusted XML with the client's own rules (sms_notify.safexml), answering as
    ASP.NET words it: a DOCTYPE is refused outright, malformed XML is "an error in XML"."""
    from sms_notify import safexml

    try:
        return safexml.parse(data)
    except safexml.DtdRefused:
        raise XmlRefused("For security reasons DTD is prohibited in this XML document.") from None
    except safexml.UnsafeXml as exc:
        raise XmlRefused(f"There is an error in XML document: {exc}") from None


def envelope(version: str, content: etree._Element) -> bytes:
    root = etree.Element(f"{{{version}}}Envelope", nsmap={"soap": version, "xsi": XSI, "xsd": XSD})
    body = etree.SubElement(root, f"{{{version}}}Body")
    body.append(content)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def result(call: Call, namespace: str, value: str) -> Response:
    """`<OpResponse xmlns=ns><OpResult>value</OpResult></OpResponse>`, the ASMX string result."""
    wrapper = etree.Element(f"{{{namespace}}}{call.operation}Response", nsmap={None: namespace})
    etree.SubElement(wrapper, f"{{{namespace}}}{call.operation}Result").text = value
    return Response(envelope(call.version, wrapper), media_type=CONTENT_TYPE[call.version])


def fault(version: str, text: str, sender: bool = True, status: int = 500) -> Response:
    """A SOAP fault in the version of the request."""
    if version == SOAP12:
        node = etree.Element(f"{{{SOAP12}}}Fault")
        code = etree.SubElement(etree.SubElement(node, f"{{{SOAP12}}}Code"), f"{{{SOAP12}}}Value")
        code.text = "soap:Sender" if sender else "soap:Receiver"
        reason = etree.SubElement(etree.SubElement(node, f"{{{SOAP12}}}Reason"),
                                  f"{{{SOAP12}}}Text")
        reason.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        reason.text = text
        etree.SubElement(node, f"{{{SOAP12}}}Detail")
    else:
        node = etree.Element(f"{{{SOAP11}}}Fault")
        etree.SubElement(node, "faultcode").text = "soap:Client" if sender else "soap:Server"
        etree.SubElement(node, "faultstring").text = text
        etree.SubElement(node, "detail")
    return Response(envelope(version, node), status_code=status, media_type=CONTENT_TYPE[version])


def action_uri(namespace: str, operation: str) -> str:
    """The SOAPAction of an ASMX operation: the namespace, a slash, the operation."""
    return namespace.rstrip("/") + "/" + operation


def _requested_action(request: Request, version: str) -> str | None:
    """The action the request names: the SOAPAction header (1.1) or the Content-Type's action
    parameter (1.2); None when it names none."""
    if version == SOAP11:
        header = request.headers.get("soapaction")
        return None if header is None else header.strip().strip('"')
    for param in request.headers.get("content-type", "").split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "action":
            return value.strip().strip('"')
    return None


async def soap_call(request: Request, namespace: str, operations: Collection[str]
                    ) -> Call | Response:
    """The request's Call, or the fault ASP.NET would answer instead (its log outcome noted)."""
    version = SOAP12 if "soap+xml" in request.headers.get("content-type", "") else SOAP11
    try:
        return _read(version, await request.body(), _requested_action(request, version),
                     namespace, operations)
    except SoapFault as exc:
        exchange(request).outcome = exc.outcome
        return exc.response(Call("", version=version))


def _read(version: str, body: bytes, action: str | None, namespace: str,
          operations: Collection[str]) -> Call:
    try:
        root = parse_xml(body)
    except XmlRefused as exc:
        raise SoapFault(f"Server was unable to read request. ---> {exc}", status=400) from None
    if root.tag not in (f"{{{SOAP11}}}Envelope", f"{{{SOAP12}}}Envelope"):
        raise SoapFault("Server was unable to read request. ---> the root element is not a SOAP "
                        "Envelope.", status=400)
    version = etree.QName(root).namespace or version
    known = {action_uri(namespace, op): op for op in operations}
    soap_body = root.find(f"{{{version}}}Body")
    element = next((e for e in soap_body if isinstance(e.tag, str)), None) \
        if soap_body is not None else None
    if action is None and version == SOAP12 and element is not None:
        action = action_uri(namespace, etree.QName(element).localname)  # routed by the body
    if action not in known:
        raise SoapFault(f"Server did not recognize the value of HTTP Header SOAPAction: "
                        f"{action or ''}.")
    operation = known[action]
    qname = etree.QName(element) if element is not None else None
    if element is None or qname is None or qname.namespace != namespace \
            or qname.localname != operation:
        shown = f"<{qname.localname} xmlns='{qname.namespace or ''}'>" if qname else "<>"
        raise SoapFault("Server was unable to read request. ---> There is an error in XML "
                        f"document. ---> {shown} was not expected.")
    args = {etree.QName(child).localname: (child.text or "")
            for child in element if isinstance(child.tag, str)
            and etree.QName(child).namespace == namespace}
    return Call(operation, args, version=version)


class SoapSimulator(Simulator[str]):
    """An ASMX service: every operation answers one string in `<OpResult>`, at `paths`.

    An error_code fault naming soap:Server (what `unavailable` maps to) answers the fault an
    ASMX service gives for a passing failure: HTTP 500, soap:Server (soap:Receiver in 1.2)."""

    namespace: ClassVar[str] = ""
    paths: ClassVar[tuple[str, ...]] = ()

    def routes(self) -> list[Route]:
        async def read(request: Request) -> Call | Response:
            return await soap_call(request, self.namespace, self.operations)

        return [self.route(path, read, self.write) for path in self.paths]

    def write(self, call: Call, answer: str) -> Response:
        if not call.outcome:
            call.outcome = answer if len(answer) < 80 else answer[:77] + "..."
        return result(call, self.namespace, answer)

    def answer(self, call: Call) -> str:
        if call.injected == SERVER_FAULT:
            raise SoapFault(UNAVAILABLE, sender=False)
        return super().answer(call)
