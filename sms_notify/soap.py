"""SOAP for provider plugins: zeep with a packaged WSDL, every failure as the core's categories.

A SOAP gateway's module keeps its wire protocol (WSDL, binding, operations and their arguments,
what the answers mean); how a call travels and how it fails is the same for every ASP.NET ASMX
service, so it lives here once. Read timeouts and answers zeep cannot read have an unknown
outcome (sms_notify.http), which is what lets the core ask the gateway instead of sending twice.

zeep, lxml and requests are imported inside the functions: a command that sends through an
HTTP gateway must not pay for loading them (tests/test_lazy_imports.py).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import safexml
from .errors import Category, ProviderError
from .http import USER_AGENT, exchange, http_error, snippet, status_error, unexpected
from .model import Account, Provider

if TYPE_CHECKING:
    import requests
    from zeep.exceptions import Fault, TransportError

_local = threading.local()


def _session() -> requests.Session:
    """The SOAP gateways' own session per thread, not sms_notify.http's: zeep marks a session it
    is given (its User-Agent, a file:// adapter), which the HTTP gateways must never inherit."""
    s = getattr(_local, "session", None)
    if s is None:
        import requests

        s = _local.session = requests.Session()
    return s


def wsdl(path: Path) -> Callable[[], Any]:
    """A loader for a packaged WSDL: parsed on its first call and kept for the process (the slow
    part of a zeep client); nothing is fetched at run time. A plugin keeps one per WSDL."""

    @functools.cache
    def document() -> Any:
        from zeep import Transport
        from zeep.wsdl import Document

        return Document(str(path), Transport(), settings=safexml.zeep_settings())  # type: ignore[arg-type]

    return document


def _refused(provider: str) -> ProviderError:
    return ProviderError(
        Category.REQUEST, f"answer refused: {safexml.DTD_REFUSED}", provider=provider
    )


@functools.cache
def _transport_class() -> type:
    """zeep's Transport, built on first use so that importing this module loads no zeep."""
    from zeep import Transport

    class SoapTransport(Transport):  # type: ignore[misc]
        """zeep's transport with the core's failure categories: timeouts, refused connections,
        429, 5xx pages that are not SOAP faults, and answers with a DTD never reach zeep."""

        def __init__(self, provider: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.provider = provider

        def post(self, address: str, message: bytes, headers: dict[str, str]) -> Any:
            return _post(
                self.session, address, message, headers, self.operation_timeout, self.provider
            )

    return SoapTransport


def _post(
    session: requests.Session, address: str, message: bytes, headers: dict[str, str],
    timeout: float, provider: str,
) -> requests.Response:
    """POST one envelope; raise what zeep should never have to read."""
    host = urlsplit(address).netloc
    response = exchange(  # capped, control bytes dropped, before zeep reads it
        session, "POST", address, provider=provider, timeout=timeout, data=message,
        headers={**headers, "User-Agent": USER_AGENT},
    )
    if safexml.has_dtd(response.content):  # zeep's own refusal is the second line
        raise _refused(provider)
    error = status_error(response, host, provider)
    # ASP.NET sends its SOAP faults with HTTP 500 (SOAP 1.2 client faults with 400): those go
    # on to zeep, to be read.
    if error is not None and not (response.status_code in (400, 500)
                                  and b"Envelope" in response.content[:2000]):
        raise error
    return response


def _fault(exc: Fault, provider: str) -> ProviderError:
    """soap:Client means our request is wrong; soap:Server and the rest are worth a retry."""
    code = str(exc.code or "")
    local = code.rpartition(":")[2]
    category = Category.REQUEST if local in ("Client", "Sender") else Category.UNAVAILABLE
    text = f"SOAP fault: {snippet(str(exc.message or 'no fault string'))}"
    return ProviderError(category, text, code=code or None, provider=provider)


def _not_soap(exc: TransportError, provider: str, host: str) -> ProviderError:
    """An answer zeep could not read as SOAP: the HTTP status tells what it was; a 2xx one has
    an unknown outcome."""
    content = exc.content.decode("utf-8", "replace") if isinstance(exc.content, bytes) else ""
    return http_error(exc.status_code or 200, content, host, provider) or unexpected(
        provider, content or str(exc.message or "")
    )


def call(
    account: Account, provider: Provider, *, document: Any, binding: str, path: str,
    operation: str, credentials: dict[str, str], **args: Any,
) -> Any:
    """One operation of the service `binding` of a parsed WSDL `document`, at `path` on the
    account's endpoint, with `credentials` first and then `args`; zeep's result.

    Raises ProviderError for everything that goes wrong on the way, never a zeep exception.
    """
    from zeep import Client
    from zeep import exceptions as zx

    name = provider.name
    transport = _transport_class()(name, operation_timeout=account.timeout, session=_session())
    client = Client(document, transport=transport, settings=safexml.zeep_settings())
    service = client.create_service(binding, account.url(provider, path))
    try:
        return getattr(service, operation)(**credentials, **args)
    except ProviderError:
        raise
    except zx.Fault as exc:
        raise _fault(exc, name) from None
    except (zx.DTDForbidden, zx.EntitiesForbidden, zx.ExternalReferenceForbidden):
        raise _refused(name) from None
    except zx.TransportError as exc:
        raise _not_soap(exc, name, urlsplit(account.url(provider, path)).netloc) from None
    except (zx.ValidationError, ValueError, TypeError) as exc:
        raise ProviderError(
            Category.REQUEST, f"cannot write the {operation} request: {exc}", provider=name
        ) from None
    except zx.Error as exc:  # XMLSyntaxError, XMLParseError, ...: not the answer of an ASMX
        raise unexpected(name, str(exc)) from None
