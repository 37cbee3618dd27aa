"""A gateway's answer is read up to a cap and cleaned before anything shows or stores it.

A real HTTP server on 127.0.0.1 plays the gateway (or whatever answers in its place: a proxy, a
captive portal), for an HTTP gateway (FastSMS) and a SOAP one (24x): a 20 MB answer, a gzip
bomb, a drip-fed answer, and answers with NUL, ESC and other control bytes.
"""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from sms_notify.delivery import RetryPolicy, balance, deliver
from sms_notify.errors import ProviderError
from tests.providers_helpers import account

ONCE = RetryPolicy(budget=30, tries_per_account=1)
BIG = 20 * 1024 * 1024


@dataclass
class Gateway:
    """Answers every request with `answer()`: the head and a body iterator; counts bytes sent."""

    answer: Callable[[], tuple[bytes, Iterator[bytes]]]
    url: str = ""
    sent: list[int] = field(default_factory=list)
    answered: threading.Event = field(default_factory=threading.Event)

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            status, chunks = self.answer()
            sent = 0
            try:
                conn.sendall(status)
                for chunk in chunks:
                    conn.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # the client hung up: what we measure
            self.sent.append(sent)
            self.answered.set()  # the client may return before this thread gets here


@pytest.fixture
def gateway() -> Iterator[Callable[..., Gateway]]:
    listeners: list[socket.socket] = []

    def start(answer: Callable[[], tuple[bytes, Iterator[bytes]]]) -> Gateway:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)
        gw = Gateway(answer, f"http://127.0.0.1:{listener.getsockname()[1]}")
        threading.Thread(target=gw.serve, args=(listener,), daemon=True).start()
        return gw

    yield start
    for listener in listeners:
        listener.close()


def body(size: int, head: str = "", chunk: bytes = b"x" * 65536) -> tuple[bytes, Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        for _ in range(size // len(chunk)):
            yield chunk

    return (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{head}"
            f"Content-Length: {size}\r\n\r\n").encode(), chunks()


def fixed(text: bytes, status: str = "200 OK", content_type: str = "text/plain"
          ) -> Callable[[], tuple[bytes, Iterator[bytes]]]:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(text)}\r\nConnection: close\r\n\r\n").encode()
    return lambda: (head, iter([text]))


def fastsms(gw: Gateway) -> str:
    return f"fastsms://T0ken@447700900123?from=Alerts&endpoint={gw.url}&timeout=5"


def sms24x(gw: Gateway) -> str:
    return f"sms24x://user:Pa55word@447700900123?from=Alerts&endpoint={gw.url}&timeout=5"


@pytest.mark.parametrize("url", [fastsms, sms24x], ids=["http", "soap"])
def test_a_huge_answer_is_cut_off_at_the_cap(gateway: Callable[..., Gateway],
                                             url: Callable[[Gateway], str]) -> None:
    """A 20 MB answer took the process from 50 to 438 MB: now the client stops reading."""
    gw = gateway(lambda: body(BIG))
    [receipt] = deliver([account(url(gw))], "hi", policy=ONCE)
    assert receipt.error is not None
    assert "unexpected answer: more than 1024 KiB, not read" in str(receipt.error)
    assert gw.answered.wait(30)
    assert gw.sent[0] < BIG // 2, gw.sent  # it hung up long before the end


def test_a_compressed_bomb_counts_at_its_real_size(gateway: Callable[..., Gateway]) -> None:
    packed = gzip.compress(b"\0" * BIG)
    head = ("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(packed)}\r\n\r\n").encode()
    gw = gateway(lambda: (head, iter([packed])))
    with pytest.raises(ProviderError, match="more than 1024 KiB"):
        balance(account(fastsms(gw)), budget=0.1)


def test_a_drip_fed_answer_ends_at_the_timeout(gateway: Callable[..., Gateway]) -> None:
    """A byte every 0.3 s never trips a read timeout of 1 s; the whole answer has one too, and
    its outcome is unknown (it reached the gateway, which may have sent the text)."""
    import time

    def drip() -> Iterator[bytes]:
        for _ in range(200):
            time.sleep(0.3)
            yield b"1"

    gw = gateway(lambda: (b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n", drip()))
    url = f"fastsms://T0ken@447700900123?from=Alerts&endpoint={gw.url}&timeout=1"
    [receipt] = deliver([account(url)], "hi", policy=ONCE)
    assert receipt.error is not None and receipt.error.unknown_outcome
    assert "no answer from 127.0.0.1:" in str(receipt.error) and "within 1s" in str(receipt.error)


CONTROLS = "\x00\x07\x08\x1b[2J\x1b]0;owned\x07\x7f\x9b31m\u202e"


def test_control_bytes_never_reach_an_error(gateway: Callable[..., Gateway]) -> None:
    answer = f"-501\nUnknown{CONTROLS} Username or Password".encode()
    gw = gateway(fixed(answer))
    [receipt] = deliver([account(fastsms(gw))], "hi", policy=ONCE)
    shown = str(receipt.error)
    assert "Unknown" in shown and "Password" in shown, shown
    assert not any(c in shown for c in "\x00\x07\x08\x1b\x7f\x9b\u202e"), repr(shown)


def test_control_bytes_never_reach_an_unexpected_answer(gateway: Callable[..., Gateway]) -> None:
    gw = gateway(fixed(f"<html>Proxy{CONTROLS} error</html>".encode(), "502 Bad Gateway"))
    with pytest.raises(ProviderError) as caught:
        balance(account(fastsms(gw)), budget=0.1)
    shown = caught.value.describe()
    assert "Proxy" in shown and "error" in shown, shown
    assert shown.isprintable(), repr(shown)


def test_control_bytes_never_reach_a_soap_fault(gateway: Callable[..., Gateway]) -> None:
    """Raw ESC and NUL are not even allowed in XML: dropped, the fault reads as it should."""
    fault = (b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap='
             b'"http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
             b"<faultcode>soap:Server</faultcode><faultstring>Server\x1b[2J was\x00 unable"
             b"</faultstring></soap:Fault></soap:Body></soap:Envelope>")
    gw = gateway(fixed(fault, "500 Internal Server Error", "text/xml; charset=utf-8"))
    [receipt] = deliver([account(sms24x(gw))], "hi", policy=ONCE)
    shown = str(receipt.error)
    assert "SOAP fault: Server[2J was unable" in shown, shown
