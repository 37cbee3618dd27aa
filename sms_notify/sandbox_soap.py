"""SOAP for sandbox simulators of ASP.NET ASMX services: safe parsing, answers and faults.

Requests are parsed by sms_notify.safexml: DTDs, entities and network access off, any
DOCTYPE refused.
Faults read like ASP.NET's: a body element in another namespace is "<X xmlns='...'> was not
expected", an unknown operation is "Server did not recognize the value of HTTP Header
SOAPAction". Both SOAP 1.1 and 1.2 are answered in the version they came in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response

from .sandbox import exchange

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
CONTENT_TYPE = {SOAP11: "text/xml; charset=utf-8", SOAP12: "application/soap+xml; charset=utf-8"}


class XmlRefused(ValueError):
    """XML that is malformed or carries a DTD."""


def parse_xml(data: bytes | str) -> etree._Element:
    """Parse untrusted XML with the client's own rules (sms_notify.safexml), answering as
    ASP.NET words it: a DOCTYPE is refused outright, malformed XML is "an error in XML"."""
    from . import safexml

    try:
        return safexml.parse(data)
    except safexml.DtdRefused:
        raise XmlRefused("For security reasons DTD is prohibited in this XML document.") from None
    except safexml.UnsafeXml as exc:
        raise XmlRefused(f"There is an error in XML document: {exc}") from None


@dataclass
class Call:
    """One SOAP request: its version, operation and the operation's child elements by name."""

    version: str  # SOAP11 or SOAP12 namespace
    operation: str
    args: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str) -> str:
        return self.args.get(name) or ""


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
    """A SOAP fault: soap:Client (1.1) / soap:Sender (1.2) when the request is at fault."""
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


async def read_call(request: Request, namespace: str, operations: set[str]) -> Call | Response:
    """The request's Call, or the fault ASP.NET would answer instead; either goes into the
    request's log record (its operation, or the fault as its outcome)."""
    ex = exchange(request)
    call, problem = await _parse_call(request, namespace, operations)
    if problem is not None:
        ex.outcome = f"SOAP fault (HTTP {problem.status_code})"
        return problem
    assert call is not None
    ex.operation = call.operation
    return call


async def _parse_call(
    request: Request, namespace: str, operations: set[str]
) -> tuple[Call | None, Response | None]:
    content_type = request.headers.get("content-type", "")
    version = SOAP12 if "soap+xml" in content_type else SOAP11
    body = await request.body()
    try:
        root = parse_xml(body)
    except XmlRefused as exc:
        return None, fault(version, f"Server was unable to read request. ---> {exc}", status=400)
    if root.tag not in (f"{{{SOAP11}}}Envelope", f"{{{SOAP12}}}Envelope"):
        return None, fault(version, "Server was unable to read request. ---> the root element "
                           "is not a SOAP Envelope.", status=400)
    version = etree.QName(root).namespace or version
    soap_body = root.find(f"{{{version}}}Body")
    element = next((e for e in soap_body if isinstance(e.tag, str)), None) \
        if soap_body is not None else None
    action = (request.headers.get("soapaction") or "").strip('"')
    if element is None:
        return None, fault(version, "Unable to handle request without a valid action parameter. "
                           "Please supply a valid soap action.")
    qname = etree.QName(element)
    if qname.namespace != namespace:
        if qname.localname in operations:
            ns = qname.namespace or ""
            return None, fault(version, "Server was unable to read request. ---> There is an "
                               f"error in XML document. ---> <{qname.localname} xmlns='{ns}'> "
                               "was not expected.")
        return None, fault(version, "Server did not recognize the value of HTTP Header "
                           f"SOAPAction: {action}.")
    if qname.localname not in operations:
        return None, fault(version, "Server did not recognize the value of HTTP Header "
                           f"SOAPAction: {action or namespace + qname.localname}.")
    args = {etree.QName(child).localname: (child.text or "")
            for child in element if isinstance(child.tag, str)
            and etree.QName(child).namespace == namespace}
    return Call(version, qname.localname, args), None
