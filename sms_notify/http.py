"""HTTP for provider plugins: one pooled session per thread, transport failures as categories.

The HTTP status is read before the body: only a 2xx answer is the gateway's own (none of these
gateways answers an error with another status, docs/gateways.md), so a proxy's or a web
server's 404 page is never read as a message id. Refused connections, connect timeouts, 5xx and
429 never reached the gateway's sending logic and are worth a retry; a request that was written
but got no answer, or a 2xx answer that cannot be read, has an unknown outcome (docs/design.md,
Decision 12). Error texts name the host, never the URL, because some gateways take credentials
in the query string.

A request has one deadline, its timeout, for everything: connecting, the status line, the
headers and the body, however slowly a gateway drips them (`_Deadlined`); past it, the outcome
is unknown if the request was written (a refused or timed-out connection never reached the
gateway). An answer is read up to MAX_ANSWER bytes and its control bytes are dropped before
anything reads it: what a gateway (or whatever answers in its place) sends
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
import io
import socket
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import Category, ProviderError

if TYPE_CHECKING:
    import requests

USER_AGENT = "sms-notify/0.1"
# Bad Gateway, Gateway Timeout: a proxy in front of the gateway passed the request on
PASSED_ON = (502, 504)
MAX_ANSWER = 1024 * 1024  # bytes; the gateways' answers here are a few hundred
# C0 controls but tab, newline and carriage return, and DEL: NUL, ESC (terminal escapes), ...
CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_local = threading.local()


def session() -> requests.Session:
    s = getattr(_local, "session", None)
    if s is None:
        s = new_session()
        s.headers["User-Agent"] = USER_AGENT
        _local.session = s
    return s


def new_session() -> requests.Session:
    """A requests session whose requests through `exchange` end at their deadline."""
    import requests

    s = requests.Session()
    adapter = _adapter_class()()
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


class _Deadlined:
    """A connected socket as http.client reads an answer through it: each read waits at most
    until the deadline, so a gateway that drips its status line, headers or body one byte at a
    time cannot hold a sender past it (a socket timeout alone is per read). No thread, no
    timer: the socket's own timeout is cut to what is left before every read."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the deadline passed")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer, nbytes, flags)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError(f"only 'rb', not {mode!r}")
        self._sock._io_refs += 1  # type: ignore[attr-defined]  # as socket.makefile counts it
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@functools.cache
def _adapter_class() -> type:
    """requests' adapter with urllib3 connections that read an answer through `_Deadlined`
    while `exchange` has set a deadline for this thread; built on first use (lazy imports)."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def deadlined(base: type) -> type:
        class Connection(base):  # type: ignore[valid-type,misc]
            def getresponse(self) -> Any:
                deadline: float | None = getattr(_local, "deadline", None)
                sock: Any = self.sock  # type: ignore[has-type]
                if deadline is None or sock is None:
                    return super().getresponse()
                self.sock = _Deadlined(sock, deadline)
                try:
                    return super().getresponse()
                finally:
                    if self.sock is not None:  # not closed on the way
                        self.sock = sock

        return Connection

    pools = {
        "http": type("Pool", (HTTPConnectionPool,), {"ConnectionCls": deadlined(HTTPConnection)}),
        "https": type("Pool", (HTTPSConnectionPool,),
                      {"ConnectionCls": deadlined(HTTPSConnection)}),
    }

    class Adapter(HTTPAdapter):  # type: ignore[misc]
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(*args, **kwargs)
            manager.pool_classes_by_scheme = pools
            return manager

    return Adapter


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
    _local.deadline = time.monotonic() + timeout  # the whole exchange: connect, status, body
    try:
        response = s.get_adapter(url).send(prepared, stream=True, timeout=timeout,
                                           **_environment(f"{parts.scheme}://{parts.netloc}"))
        read(response, provider)
    except requests.RequestException as exc:
        raise transport_error(exc, parts.netloc, timeout, provider) from None
    finally:
        _local.deadline = None
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


def read(response: requests.Response, provider: str) -> None:
    """Read a streamed answer into response.content: at most MAX_ANSWER bytes (decoded, so a
    compressed bomb counts at its real size) and within the exchange's deadline (`_Deadlined`:
    a drip-fed answer cannot hold a sender), control bytes dropped. A 2xx answer past the cap is a ProviderError
    (unreadable); an error page is cut there. Raises requests' exceptions for the rest, as
    requests itself would."""
    import requests
    from urllib3.exceptions import HTTPError, ReadTimeoutError

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
    retry), 401, 403 and 407 refused credentials, and any other status a refusal for a reason
    we do not know (a wrong endpoint= answers 404, a proxy 400): this account's failure, so the
    route's next account is tried (errors.refused). A 502 or 504 is a proxy's word that it
    passed the request on and got no usable answer: the gateway may have taken the text, so
    its outcome is unknown (docs/design.md, Decision 12), like a timeout of our own."""
    if 200 <= status < 300:
        return None
    if status == 429:
        return ProviderError(Category.RATE_LIMITED, f"{host} answered HTTP 429", code=429,
                             provider=provider)
    if status in PASSED_ON:
        return ProviderError(
            Category.UNAVAILABLE, f"{host} answered HTTP {status} (a proxy that passed the request "
            f"on: the gateway may have taken it): {snippet(body) or '(empty)'}",
            code=status, provider=provider, unknown_outcome=True,
        )
    if status >= 500 or status == 408:
        category = Category.UNAVAILABLE
    elif status in (401, 403, 407):
        category = Category.AUTH
    else:
        category = Category.REFUSED
    moved = " (a redirect, not followed)" if 300 <= status < 400 else ""
    return ProviderError(
        category, f"{host} answered HTTP {status}{moved}: {snippet(body) or '(empty)'}",
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
