"""XML from a gateway, parsed with DTDs, entities and external references forbidden.

A gateway's answer is untrusted input. An API answer has no use for a DOCTYPE, so any DOCTYPE
(the carrier of billion-laughs and external-entity attacks) is refused before lxml sees the
document, and the parser is set up to expand and fetch nothing should one slip through. zeep,
which parses the SOAP envelopes, gets the same rules from `zeep_settings()`.

lxml and zeep are imported inside the functions: only the SOAP gateways need them, and a
command that sends through an HTTP gateway must not pay for loading them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import zeep
    from lxml import etree

DTD_REFUSED = "XML with a DTD (DOCTYPE or ENTITY declarations) is refused"
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# Characters XML 1.0 cannot carry at all, not even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class UnsafeXml(ValueError):
    """XML that cannot be read safely: not well-formed, or carrying a DTD (DtdRefused)."""


class DtdRefused(UnsafeXml):
    """XML with a DOCTYPE or ENTITY declaration: refused unread."""


def has_dtd(data: bytes) -> bool:
    """Whether raw XML declares a DOCTYPE or an ENTITY: refuse it before any parser runs
    (libxml2 may stop a billion laughs itself, but only with an error that names no cause)."""
    return _DTD.search(data) is not None


def parse(data: str | bytes) -> etree._Element:
    """The root element of untrusted XML; raise DtdRefused for a DTD, UnsafeXml when malformed.

    A string may keep its XML declaration (.NET writes `encoding="utf-16"` into strings): the
    declaration is dropped and the text parsed as the characters it already is.
    """
    from lxml import etree

    if isinstance(data, str):
        raw = _DECLARATION.sub("", data, count=1).encode("utf-8")
    else:
        raw = data
    if has_dtd(raw):
        raise DtdRefused(DTD_REFUSED)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=True, remove_pis=True,
    )
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"not well-formed XML: {exc.msg}") from None
    if root is None:
        raise UnsafeXml("not well-formed XML: no root element")
    if root.getroottree().docinfo.doctype:
        raise DtdRefused(DTD_REFUSED)
    return root


def zeep_settings() -> zeep.Settings:
    """zeep's parser rules for SOAP answers: no DTD, no entities, no external references."""
    import zeep

    return zeep.Settings(
        strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True,
        xml_huge_tree=False,
    )


def text(value: str) -> str:
    """`value` without the characters XML 1.0 cannot carry (lxml refuses to write them)."""
    return _NOT_XML.sub("", value)
