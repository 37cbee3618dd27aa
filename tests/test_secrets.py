"""Secrets never reach output or logs, even from a gateway that echoes the request back."""

from __future__ import annotations

import base64
import html
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import pytest
import responses

from sms_notify.delivery import balance, deliver
from sms_notify.errors import ProviderError
from tests.providers_helpers import ENDPOINT, FAST, account

PASSWORD = "Pa55/word+Secret"  # has characters that percent-encoding changes
TOKEN = "T0kenSecret99"
LEAKS = (PASSWORD, "Pa55%2Fword%2BSecret", "Pa55%2Fword+Secret", TOKEN)


def echo(request):  # type: ignore[no-untyped-def]
    """A gateway error page that quotes the request, credentials included."""
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
    return 500, {}, f"Internal error while handling {request.url} {body}"


@responses.activate
def test_an_echoed_password_is_masked_in_every_receipt(clock) -> None:  # type: ignore[no-untyped-def]
    responses.add_callback(responses.POST, f"{ENDPOINT}/smsgateway/sendmsg.aspx", callback=echo)
    responses.add_callback(responses.GET, f"{ENDPOINT}/smsgateway/sendmsg.aspx", callback=echo)
    url = f"intellisms://user:{PASSWORD.replace('/', '%2F').replace('+', '%2B')}@447700900123"
    [receipt] = deliver([account(f"{url}?endpoint={ENDPOINT}")], "hi", policy=FAST, clock=clock)
    shown = receipt.error.describe()  # type: ignore[union-attr]
    assert "Internal error" in shown and "****" in shown
    assert not any(leak in shown for leak in LEAKS), shown
    assert "Pa55" not in shown, shown  # not even the start of it, where the answer was cut
    assert not any(leak in str(receipt.error) for leak in LEAKS)


@responses.activate
def test_an_echoed_token_is_masked_in_a_balance_error() -> None:
    responses.add_callback(responses.POST, f"{ENDPOINT}/api", callback=echo)
    with pytest.raises(ProviderError) as caught:
        balance(account(f"fastsms://{TOKEN}@?from=A&endpoint={ENDPOINT}&timeout=1"), budget=0.1)
    assert TOKEN not in caught.value.describe() and "****" in caught.value.describe()


class EchoHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = f"{self.requestline} ".encode() + body
        self.send_response(500)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_send_with_failover_never_shows_a_secret(echo_server: str) -> None:
    """The real command, logging at its most verbose: stdout and stderr hold no secret."""
    intelli = f"intellisms://user:Pa55%2Fword%2BSecret@447700900123?endpoint={echo_server}"
    fast = f"fastsms://{TOKEN}@?from=A&endpoint={echo_server}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_NOTIFY_")}
    done = subprocess.run(
        [sys.executable, "-m", "sms_notify", "send", intelli, fast, "--timeout", "2", "-m", "x",
         "-vv"], capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert done.returncode == 1
    assert "answered HTTP 500" in done.stdout + done.stderr  # the echo really came back
    for leak in LEAKS:
        assert leak not in done.stdout and leak not in done.stderr, leak


# A gateway, proxy or error page that quotes the request back in its own encoding.
ODD = "Pa\"ss\\w\u00e9&'rd 9"  # JSON escapes " \ é; XML escapes & ' "; percent-encoding all


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def base64_fragments(secret: str) -> list[str]:
    """The secret inside any longer base64 text: at each of the three byte offsets it may start
    at, the characters only its own bits make (the ones either side also carry a neighbour's)."""
    raw = secret.encode()
    fragments = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode()
        first, last = -(-8 * offset // 6), 8 * (offset + len(raw)) // 6
        fragments.append(encoded[first:last])
    return fragments


ECHOES: dict[str, Callable[[str], str]] = {
    "json": lambda raw: json.dumps({"error": "bad request", "request": raw}),
    "json-utf8": lambda raw: json.dumps({"request": raw}, ensure_ascii=False),
    "xml": lambda raw: f"<error>{html.escape(raw)}</error>",
    "xml-apos": lambda raw: f"<error>{html.escape(raw).replace('&#x27;', '&apos;')}</error>",
    "xml-decimal": lambda raw: f"<e>{html.escape(raw).replace('&#x27;', '&#39;')}</e>",
    "percent-lower": lambda raw: f"<p>Proxy error for /send?{_lower_hex(quote(raw, safe='='))}</p>",
    "percent-plus-lower": lambda raw: f"denied: {_lower_hex(quote_plus(raw, safe='='))}",
}
# A gateway or proxy that upper-cases what it echoes, or dumps the request as base64 or hex, or
# logs the Basic header (base64 of user:password): all of it in one answer.
DUMPS: list[Callable[[str], str]] = [
    lambda raw: f"INVALID REQUEST: {raw.upper()}",
    lambda raw: base64.b64encode(raw.encode()).decode(),
    lambda raw: base64.urlsafe_b64encode(raw.encode()).decode(),
    lambda raw: raw.encode().hex(),
    lambda raw: raw.encode().hex().upper(),
    lambda raw: "Authorization: Basic " + base64.b64encode(f"user:{ODD}".encode()).decode(),
]
FORMS = [ODD, json.dumps(ODD)[1:-1], json.dumps(ODD, ensure_ascii=False)[1:-1], html.escape(ODD),
         html.escape(ODD).replace("&#x27;", "&apos;"), html.escape(ODD).replace("&#x27;", "&#39;"),
         quote(ODD, safe=""), _lower_hex(quote(ODD, safe="")), quote_plus(ODD),
         _lower_hex(quote_plus(ODD)), "Pa%22ss", "Pa\\\"ss", "Pa&quot;ss", "w\\u00e9&",
         ODD.upper(), ODD.encode().hex(), ODD.encode().hex().upper(),
         *base64_fragments(ODD), *(f.replace("+", "-").replace("/", "_")
                                   for f in base64_fragments(ODD))]


class EncodingEcho(http.server.BaseHTTPRequestHandler):
    """Answers with the request's decoded form fields, re-encoded as `server.echo` says."""

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        raw = " ".join(f"{k}={v}" for k, v in parse_qsl(body + "&" + urlsplit(self.path).query))
        answer = self.server.echo(raw).encode()  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=[500, 200], ids=["error-page", "unexpected-answer"])
def encoding_echo(request: pytest.FixtureRequest) -> Iterator[http.server.HTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EncodingEcho)
    server.status = request.param  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.mark.parametrize("echo", list(ECHOES))
def test_an_echoed_secret_is_masked_in_every_encoding(
        encoding_echo: http.server.HTTPServer, echo: str) -> None:
    """`send` and `balance` as a user runs them, logging at their most verbose: the gateway's
    answer quotes the password JSON-, XML- or percent-encoded (lower-case hex), and nothing of
    it reaches stdout or stderr, the `unexpected answer: ...` snippet included."""
    encoding_echo.echo = ECHOES[echo]  # type: ignore[attr-defined]
    url = (f"intellisms://user:{quote(ODD, safe='')}@447700900123"
           f"?endpoint=http://127.0.0.1:{encoding_echo.server_address[1]}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_NOTIFY_")}
    for args in (["send", url, "--timeout", "2", "-m", "x", "-vv"], ["balance", url, "-vv"]):
        done = subprocess.run([sys.executable, "-m", "sms_notify", *args], capture_output=True,
                              text=True, timeout=60, env=env, check=False)
        shown = done.stdout + done.stderr
        assert done.returncode == 1, shown
        assert "****" in shown, shown  # the echo came back, masked
        for form in FORMS:
            assert form not in shown, (form, shown)


def test_an_upper_cased_or_dumped_secret_is_masked(
        encoding_echo: http.server.HTTPServer) -> None:
    """`send` as a user runs it: the password upper-cased (it was shown), as base64 and hex (so
    was it), and in a Basic header; nothing of it reaches stdout or stderr."""
    encoding_echo.echo = lambda raw: " ".join(dump(raw) for dump in DUMPS)  # type: ignore[attr-defined]
    url = (f"intellisms://user:{quote(ODD, safe='')}@447700900123"
           f"?endpoint=http://127.0.0.1:{encoding_echo.server_address[1]}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_NOTIFY_")}
    done = subprocess.run([sys.executable, "-m", "sms_notify", "send", url, "--timeout", "2",
                           "-m", "x", "-vv"], capture_output=True, text=True, timeout=60,
                          env=env, check=False)
    shown = done.stdout + done.stderr
    assert done.returncode == 1, shown
    assert "INVALID REQUEST: " in shown and "****" in shown, shown
    for form in FORMS:
        assert form not in shown, (form, shown)


# The probe's token, as a gateway upper-cases it or a request dump shows it.
TOKEN_ECHOED = "Zq9-SECRET-tok3n"


@pytest.mark.parametrize("before", ["", "T", "To", "Token=", "user:"])
@pytest.mark.parametrize("alphabet", [base64.b64encode, base64.urlsafe_b64encode])
def test_a_secret_in_a_base64_text_is_masked_wherever_it_starts(
        before: str, alphabet: Callable[[bytes], bytes]) -> None:
    dumped = alphabet(f"{before}{TOKEN_ECHOED}&Body=disk full".encode()).decode()
    shown = ProviderError("request", f"-501 bad request {dumped}").redact([TOKEN_ECHOED]).text
    assert "****" in shown and shown.startswith("-501 bad request ")
    for fragment in base64_fragments(TOKEN_ECHOED):
        for cut in range(len(fragment) - 5):  # not even six characters of it
            assert fragment[cut:cut + 6] not in shown.replace("-", "+").replace("_", "/"), shown


def test_an_upper_cased_or_hex_dumped_secret_is_masked() -> None:
    for echoed in (TOKEN_ECHOED.upper(), TOKEN_ECHOED.lower(), TOKEN_ECHOED.encode().hex(),
                   TOKEN_ECHOED.encode().hex().upper()):
        shown = ProviderError("auth", f"-501 TOKEN={echoed} REFUSED").redact([TOKEN_ECHOED]).text
        assert shown == "-501 TOKEN=**** REFUSED"


def test_short_encoded_forms_do_not_garble_the_text() -> None:
    """A 3-character secret's base64 or hex is a few characters that any text may hold."""
    text = "-501 Invalid Username/Password (616263, YWJj)"
    assert ProviderError("auth", text).redact(["abc"]).text == text
