"""HTTP for provider plugins: one pooled session per thread, transport failures as categories.

The HTTP status is read before the body: only a 2xx answer is the gateway's own (none of these
gateways answers an error with another status, docs/gateways.md), so a proxy's or a web
server's 404 page is never read as a message id. Refused connections, connect timeouts, 5xx and
429 never reached the gateway's sending logic and are worth a retry; a request that was written
but got no answer, or a 2xx answer that cannot be read, has an unknown outcome (docs/design.md,
Decision 12). Error texts name the host, never the URL, because some gateways take credentials
in the query string.

An answer is read up to MAX_ANSWER bytes, within the request's timeout, and its control bytes
are dropped before anything reads it: what a gateway (or whatever answers in its place) sends
reaches logs, the outbox and terminals.

A request goes straight to the session's transport adapter (`exchange`): requests' Session
layer costs more than the socket work at a gateway's pace (request merging, cookies, hooks,
and a look at the environment's proxies and ~/.netrc on every call: a quarter of a sender's
CPU, bench/storm.py). What it decided from the environment (proxies, CA bundle) is worked out
once per gateway address, with requests' own function. No redirect is followed: a gateway's
API never redirects, and requests would have re-sent a redirected POST as a GET.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import Category, ProviderError

if TYPE_CHECKING:
    import requests

USER_AGENT = "sms-notify/0.1"
MAX_ANSWER = 1024 * 1024  # bytes; the gateways' answers here are a few hundred
# C0 controls but tab, newline and carriage return, and DEL: NUL, ESC (terminal escapes), ...
CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_local = threading.local()


def session() -> requests.Session:
    s = getattr(_local, "session", None)
    if s is None:
        import requests

        s = requests.Session()
        s.headers["User-Agent"] = USER_AGENT
        _local.session = s
    return s


@functools.lru_cache(maxsize=64)
def _environment(origin: str) -> Mapping[str, Any]:
    """What requests takes from the environment for an origin (scheme://host:port): proxies
    (HTTP(S)_PROXY, NO_PROXY), the CA bundle (REQUESTS_CA_BUNDLE); asked once per origin."""
    import requests

    settings = requests.Session().merge_environment_settings(origin, {}, True, None, None)
    if origin.startswith("http:"):  # no TLS: requests would look for the CA bundle each time
        settings["verify"] = False
    return {k: settings[k] for k in ("proxies", "verify", "cert")}


def exchange(
    s: requests.Session, method: str, url: str, *, provider: str, timeout: float,
    headers: Mapping[str, str] | None = None, **body: Any,
) -> requests.Response:
    """One request through the session's adapter, its answer read (see `read`): the transport
    failures as ProviderError, the status left to the caller. `body` is requests' `data=`,
    `json=` or `params=`."""
    import requests

    parts = urlsplit(url)
    prepared = requests.PreparedRequest()  # what prepare() does, less cookies, auth and hooks
    prepared.prepare_method(method)
    prepared.prepare_url(url, body.pop("params", None))
    prepared.prepare_headers({**s.headers, **(headers or {})})
    prepared.prepare_body(body.pop("data", None), None, body.pop("json", None))
    prepared.hooks = {"response": []}
    if body:
        raise TypeError(f"exchange() got unexpected arguments: {', '.join(sorted(body))}")
    try:
        response = s.get_adapter(url).send(prepared, stream=True, timeout=timeout,
                                           **_environment(f"{parts.scheme}://{parts.netloc}"))
        read(response, timeout, provider)
    except requests.RequestException as exc:
        raise transport_error(exc, parts.netloc, timeout, provider) from None
    return response


def request(
    method: str, url: str, *, provider: str, timeout: float, refusals: bool = False,
    **kwargs: Any,
) -> requests.Response:
    """Send a request; raise ProviderError for transport failures and any status but 2xx, so
    that what comes back is the gateway's own answer for the provider to read. A gateway that
    answers its refusals with a 4xx and a body saying why passes `refusals=True` to read them
    (never as a success); 408, 429 and 5xx are raised all the same. `kwargs`: requests'
    `headers=`, `data=`, `json=`, `params=`."""
    response = exchange(session(), method, url, provider=provider, timeout=timeout, **kwargs)
    host = urlsplit(url).netloc
    error = status_error(response, host, provider)
    if error is not None and not (refusals and error.category is not Category.UNAVAILABLE
                                  and error.category is not Category.RATE_LIMITED):
        raise error
    return response


def read(response: requests.Response, timeout: float, provider: str) -> None:
    """Read a streamed answer into response.content: at most MAX_ANSWER bytes (decoded, so a
    compressed bomb counts at its real size) and within `timeout` in all (a drip-fed answer
    cannot hold a sender), control bytes dropped. A 2xx answer past the cap is a ProviderError
    (unreadable); an error page is cut there. Raises requests' exceptions for the rest, as
    requests itself would."""
    import requests
    from urllib3.exceptions import HTTPError, ReadTimeoutError

    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    try:
        # read1: what one read of the socket brings (read() waits for a whole chunk)
        while chunk := response.raw.read1(64 * 1024, decode_content=True):
            size += len(chunk)
            if size > MAX_ANSWER:
                if 200 <= response.status_code < 300:  # the gateway's own answer: unreadable
                    raise unexpected(provider, f"more than {MAX_ANSWER // 1024} KiB, not read")
                response.close()  # an error page: its status says what happened, its start why
                break
            if time.monotonic() > deadline:
                raise requests.exceptions.ReadTimeout("the whole answer took longer")
            chunks.append(chunk)
    except (requests.RequestException, ProviderError):
        response.close()
        raise
    except (ReadTimeoutError, TimeoutError) as exc:
        response.close()
        raise requests.exceptions.ReadTimeout(exc) from None
    except (HTTPError, OSError) as exc:  # what requests would raise as ConnectionError
        response.close()
        raise requests.exceptions.ConnectionError(exc) from None
    response._content = b"".join(chunks).translate(None, CONTROL_BYTES)


def status_error(response: requests.Response, host: str, provider: str) -> ProviderError | None:
    """What an HTTP status says before the body is read; None for 2xx."""
    return http_error(response.status_code, response.text, host, provider)


def http_error(status: int, body: str, host: str, provider: str) -> ProviderError | None:
    """None for 2xx; else 429 is a rate limit, 5xx and 408 a gateway that is down (worth a
    retry), 401, 403 and 407 refused credentials, and any other status a request the web server
    refused (a wrong endpoint= answers 404)."""
    if 200 <= status < 300:
        return None
    if status == 429:
        return ProviderError(Category.RATE_LIMITED, f"{host} answered HTTP 429", code=429,
                             provider=provider)
    if status >= 500 or status == 408:
        category = Category.UNAVAILABLE
    elif status in (401, 403, 407):
        category = Category.AUTH
    else:
        category = Category.REQUEST
    return ProviderError(
        category, f"{host} answered HTTP {status}: {snippet(body) or '(empty)'}",
        code=status, provider=provider,
    )


def transport_error(
    exc: requests.RequestException, host: str, timeout: float, provider: str
) -> ProviderError:
    """A request that got no HTTP answer, as the core's category: always `unavailable`, with an
    unknown outcome when the request was written and the answer never came (a read timeout, a
    connection dropped after the request left, an answer cut short): the gateway may have taken
    it. A refused connection or a connect timeout never reached it."""
    import requests
    from urllib3.exceptions import ProtocolError

    unknown = False
    if isinstance(exc, requests.ConnectTimeout):
        text = f"cannot connect to {host} within {timeout:g}s"
    elif isinstance(exc, requests.Timeout):
        text, unknown = f"no answer from {host} within {timeout:g}s", True
    elif isinstance(exc, (requests.exceptions.SSLError, requests.exceptions.ProxyError)):
        text = f"cannot connect to {host} ({type(exc).__name__})"
    elif isinstance(exc, requests.ConnectionError) and exc.args and isinstance(
        exc.args[0], ProtocolError
    ):
        text, unknown = f"{host} dropped the connection without an answer", True
    elif isinstance(exc, requests.ConnectionError):
        text = f"cannot connect to {host}"
    elif isinstance(exc, (requests.exceptions.ChunkedEncodingError,
                          requests.exceptions.ContentDecodingError)):
        text, unknown = f"{host} broke off its answer ({type(exc).__name__})", True
    else:
        text = f"request to {host} failed ({type(exc).__name__})"
    return ProviderError(Category.UNAVAILABLE, text, provider=provider, unknown_outcome=unknown)


def snippet(text: str, limit: int = 120) -> str:
    """A gateway's answer shortened to one readable line, for errors: no control or format
    characters (terminal escapes, bidi overrides), whatever decoding produced them."""
    line = "".join(c for c in " ".join(text.split()) if c.isprintable())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def unexpected(provider: str, answer: str) -> ProviderError:
    """The gateway answered, but not in its documented format: say what came back. Its outcome
    is unknown (a gateway that changed its answers may well have sent the text), so a send is
    never repeated blindly on it; a query is simply asked again."""
    return ProviderError(
        Category.UNAVAILABLE, f"unexpected answer: {snippet(answer) or '(empty)'}",
        provider=provider, unknown_outcome=True,
    )
