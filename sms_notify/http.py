"""HTTP for provider plugins: one pooled session per thread, transport failures as categories.

Timeouts, refused connections and 5xx are `unavailable`, 429 is `rate_limited`: the convention
every gateway follows (docs/gateways.md, "Every gateway"). Error texts name the host, never the
URL, because some gateways take credentials in the query string.

An answer is read up to MAX_ANSWER bytes, within the request's timeout, and its control bytes
are dropped before anything reads it: what a gateway (or whatever answers in its place) sends
reaches logs, the outbox and terminals.
"""

from __future__ import annotations

import threading
import time
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


def request(
    method: str, url: str, *, provider: str, timeout: float, **kwargs: Any
) -> requests.Response:
    """Send a request; raise ProviderError for transport failures, 5xx and 429 (HTTP 200 and
    the other 4xx come back for the provider to read its gateway's own error answer)."""
    import requests

    host = urlsplit(url).netloc
    try:
        response = session().request(method, url, timeout=timeout, stream=True, **kwargs)
        read(response, timeout, provider)
    except requests.RequestException as exc:
        raise transport_error(exc, host, timeout, provider) from None
    error = status_error(response, host, provider)
    if error is not None:
        raise error
    return response


def read(response: requests.Response, timeout: float, provider: str) -> None:
    """Read a streamed answer into response.content: at most MAX_ANSWER bytes (decoded, so a
    compressed bomb counts at its real size) and within `timeout` in all (a drip-fed answer
    cannot hold a sender), control bytes dropped. Raises ProviderError past the cap and
    requests' exceptions for the rest, as requests itself would."""
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
                raise unexpected(provider, f"more than {MAX_ANSWER // 1024} KiB, not read")
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
    """What an HTTP status says before the body is read: 429 is a rate limit, 5xx a gateway
    that is down; None for the rest."""
    if response.status_code == 429:
        return ProviderError(
            Category.RATE_LIMITED, f"{host} answered HTTP 429", code=429, provider=provider
        )
    if response.status_code >= 500:
        return ProviderError(
            Category.UNAVAILABLE,
            f"{host} answered HTTP {response.status_code}: {snippet(response.text)}",
            code=response.status_code,
            provider=provider,
        )
    return None


def transport_error(
    exc: requests.RequestException, host: str, timeout: float, provider: str
) -> ProviderError:
    """A request that got no HTTP answer, as the core's category: always `unavailable`, and
    `unanswered` when it left but no answer came back (it may have reached the gateway)."""
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        text, unanswered = f"cannot connect to {host} within {timeout:g}s", False
    elif isinstance(exc, requests.Timeout):
        text, unanswered = f"no answer from {host} within {timeout:g}s", True
    elif isinstance(exc, requests.ConnectionError):
        text, unanswered = f"cannot connect to {host}", False
    else:
        text, unanswered = f"request to {host} failed ({type(exc).__name__})", False
    return ProviderError(Category.UNAVAILABLE, text, provider=provider, unanswered=unanswered)


def snippet(text: str, limit: int = 120) -> str:
    """A gateway's answer shortened to one readable line, for errors: no control or format
    characters (terminal escapes, bidi overrides), whatever decoding produced them."""
    line = "".join(c for c in " ".join(text.split()) if c.isprintable())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def unexpected(provider: str, answer: str) -> ProviderError:
    """The gateway answered something we cannot read: say what, and treat it as transient
    (a proxy's error page or a half-deployed gateway, most likely)."""
    return ProviderError(
        Category.UNAVAILABLE, f"unexpected answer: {snippet(answer) or '(empty)'}", provider=provider
    )
