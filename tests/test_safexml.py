"""XML from a gateway is parsed with DTDs, entities and external references forbidden: the helper
itself, and both SOAP gateways fed hostile answers, as the SOAP envelope and as the XML inside it.
Every case must end in a clean ProviderError (request, naming the DTD) within seconds: never a
hang, an expansion, a file read or a traceback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from sms_notify.plugins import mymobileapi, sms24x

from sms_notify import delivery, safexml
from sms_notify.cli import main
from sms_notify.delivery import balance, submit
from sms_notify.errors import Category, ProviderError
from sms_notify.model import Recipient, Submission
from sms_notify.testing import ManualClock
from tests.fixtures.soap import BILLION_LAUGHS_DTD, XML, XXE_DTD, hostile_soap, soap_result
from tests.providers_helpers import ENDPOINT, FAST, account

pytestmark = pytest.mark.timeout(20)

BILLION_LAUGHS = f'<?xml version="1.0"?>{BILLION_LAUGHS_DTD}<api_result>&lol9;</api_result>'
XXE = f'<?xml version="1.0"?>{XXE_DTD}<api_result>&xxe;</api_result>'
REFUSED = "answer refused: XML with a DTD (DOCTYPE or ENTITY declarations) is refused"
GATEWAYS = {
    "sms24x": (f"{ENDPOINT}/wssecure/service.asmx", "http://tempuri.org/", "CreditsAvailable",
               f"sms24x://U:P@447700900123?from=A&endpoint={ENDPOINT}"),
    "mymobileapi": (f"{ENDPOINT}/api5/api.asmx", "http://www.mymobileapi.com/api5",
                    "Credits_STR", f"mymobileapi://U:P@27821234567?endpoint={ENDPOINT}"),
}


@pytest.fixture
def gateway() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(autouse=True)
def instant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "Clock", ManualClock)


# --- the helper -----------------------------------------------------------------------------

def test_parses_plain_xml_and_strings_with_a_declaration() -> None:
    root = safexml.parse('<?xml version="1.0" encoding="utf-16"?><a><b>x &amp; y</b></a>')
    assert (root.tag, root.findtext("b")) == ("a", "x & y")
    assert safexml.parse(b"<a>\xc3\xa9</a>").text == "\u00e9"


@pytest.mark.parametrize("hostile", [
    BILLION_LAUGHS, XXE,
    '<!DOCTYPE a SYSTEM "http://127.0.0.1:9/evil.dtd"><a/>',
    "<!DOCTYPE a><a/>",
    '<a><!ENTITY x "y"></a>',
], ids=["billion-laughs", "external-entity", "external-dtd", "bare-doctype", "entity-in-body"])
def test_any_dtd_is_refused_unread(hostile: str) -> None:
    with pytest.raises(safexml.DtdRefused, match="DTD"):
        safexml.parse(hostile)
    with pytest.raises(safexml.DtdRefused):
        safexml.parse(hostile.encode())


def test_a_doctype_that_slips_past_the_scan_is_still_refused() -> None:
    utf16 = '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE a [<!ENTITY e "boom">]><a>&e;</a>'
    with pytest.raises(safexml.DtdRefused):
        safexml.parse(utf16.encode("utf-16"))


@pytest.mark.parametrize("junk", ["", "not xml", "<a>", "<a>&undefined;</a>", "<a/><b/>"])
def test_malformed_xml_is_unsafe_but_not_a_dtd(junk: str) -> None:
    with pytest.raises(safexml.UnsafeXml) as caught:
        safexml.parse(junk)
    assert not isinstance(caught.value, safexml.DtdRefused)
    assert str(caught.value).startswith("not well-formed XML")


def test_text_drops_what_xml_cannot_carry() -> None:
    assert safexml.text("a\x00b\x07c\x1fd\te\nf\rg\ufffe") == "abcd\te\nf\rg"


def test_zeep_settings_forbid_dtd_entities_and_external_references() -> None:
    settings = safexml.zeep_settings()
    assert (settings.forbid_dtd, settings.forbid_entities, settings.forbid_external) == (
        True, True, True)
    assert settings.xml_huge_tree is False


# --- the SOAP envelope itself -----------------------------------------------------------------

@pytest.mark.parametrize("scheme", sorted(GATEWAYS))
@pytest.mark.parametrize(("dtd", "entity"), [(BILLION_LAUGHS_DTD, "lol9"), (XXE_DTD, "xxe")],
                         ids=["billion-laughs", "external-entity"])
def test_hostile_soap_answer_is_a_clean_request_error(gateway, scheme: str, dtd: str,
                                                      entity: str) -> None:
    url, ns, operation, account_url = GATEWAYS[scheme]
    gateway.add(responses.POST, url, body=hostile_soap(ns, operation, dtd, entity),
                content_type=XML)
    with pytest.raises(ProviderError) as caught:
        balance(account(account_url))
    assert (caught.value.category, caught.value.text) == (Category.REQUEST, REFUSED)
    assert "root:" not in str(caught.value) and "lollol" not in str(caught.value)
    assert len(gateway.calls) == 1, "refused, not retried"


@pytest.mark.parametrize("scheme", sorted(GATEWAYS))
def test_hostile_soap_answer_to_a_send(gateway, clock, scheme: str) -> None:
    url, ns, _, account_url = GATEWAYS[scheme]
    operation = "SendFullSMS" if scheme == "sms24x" else "Send_STR_STR"
    gateway.add(responses.POST, url, body=hostile_soap(ns, operation, BILLION_LAUGHS_DTD, "lol9"),
                content_type=XML)
    receipts = submit(account(account_url), [Recipient("+447700900123")], "hi",
                      clock=clock)
    assert receipts[0].error is not None
    assert receipts[0].error.describe() == f"request: {REFUSED}"


# --- the XML inside MyMobileAPI's answers ---------------------------------------------------------

@pytest.mark.parametrize("inner", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "external-entity"])
@pytest.mark.parametrize("operation", ["Credits_STR", "Send_STR_STR", "Sent_STR_STR"])
def test_hostile_inner_xml_is_a_clean_request_error(gateway, clock, inner: str, operation: str
                                                    ) -> None:
    url, ns, _, account_url = GATEWAYS["mymobileapi"]
    gateway.add(responses.POST, url, body=soap_result(ns, operation, inner), content_type=XML)
    acct = account(account_url)
    with pytest.raises(ProviderError) as caught:
        if operation == "Credits_STR":
            mymobileapi.sms_notify_balance(acct)
        elif operation == "Sent_STR_STR":
            mymobileapi.sms_notify_status(acct, "ref:1", None)
        else:
            submission = Submission("hi", [Recipient("+27821234567")])
            mymobileapi.sms_notify_send(acct, submission)
    assert (caught.value.category, caught.value.text) == (Category.REQUEST, REFUSED)


@pytest.mark.parametrize("scheme", sorted(GATEWAYS))
def test_cli_balance_with_a_hostile_answer_prints_one_line(gateway, capsys, scheme: str) -> None:
    url, ns, operation, account_url = GATEWAYS[scheme]
    gateway.add(responses.POST, url, body=hostile_soap(ns, operation, XXE_DTD, "xxe"),
                content_type=XML)
    assert main(["balance", account_url]) == 1
    out = capsys.readouterr()
    assert out.out.strip() == f"{scheme}@127.0.0.1:8025: request: {REFUSED}"
    assert "Traceback" not in out.err and "root:" not in out.out + out.err


def test_zeep_is_given_the_forbidding_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugins parse their WSDL and every answer with safexml's zeep settings."""
    for plugin in (sms24x, mymobileapi):
        assert plugin._document().settings.forbid_dtd is True
        assert plugin._document().settings.forbid_entities is True


@pytest.mark.parametrize("scheme", sorted(GATEWAYS))
def test_zeeps_own_refusal_is_the_second_line(gateway, monkeypatch: pytest.MonkeyPatch,
                                              scheme: str) -> None:
    """With the raw scan out of the way, zeep (forbid_dtd) still refuses the envelope."""
    monkeypatch.setattr(safexml, "has_dtd", lambda data: False)
    url, ns, operation, account_url = GATEWAYS[scheme]
    gateway.add(responses.POST, url, body=hostile_soap(ns, operation, XXE_DTD, "xxe"),
                content_type=XML)
    with pytest.raises(ProviderError) as caught:
        balance(account(account_url))
    assert (caught.value.category, caught.value.text) == (Category.REQUEST, REFUSED)
