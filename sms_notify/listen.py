"""The listening socket of `serve` and `sandbox`: HOST:PORT parsing, binding before uvicorn
starts (so port 0 can be reported in the ready line), the address to print, and the limits a
connection meets before the application sees a request (guarded_protocol)."""

from __future__ import annotations

import argparse
import functools
import socket
import time
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    import asyncio


def parse_listen(value: str, example: str = "127.0.0.1:8025") -> tuple[str, int]:
    """HOST:PORT (port 0 picks a free one); IPv6 hosts in brackets."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r}: expected HOST:PORT, e.g. {example}")
    return host.strip("[]") or "127.0.0.1", int(port)


def bind(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A listening socket; a port in use or a bad host is a usage error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(backlog)
    return sock


def address(sock: socket.socket) -> str:
    """http://HOST:PORT of a bound socket, with the port it really got."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"


# What a connection may cost before the application sees a request: uvicorn limits none of it
# with httptools (64 MB headers were held whole; idle or half-sent connections stayed for
# minutes; with `ulimit -n 1024`, 1,100 idle sockets kept every new client out).
HEAD_LIMIT = 64 * 1024  # bytes of request line and headers; 431 past it
HEAD_TIMEOUT = 10.0  # seconds for the line and headers, from the connection or the first byte
BODY_TIMEOUT = 60.0  # seconds for the body once the headers are in
MAX_CONNECTIONS = 1024  # open at once, and at most half the descriptors the process may have


def connection_limit() -> int:
    """MAX_CONNECTIONS, or half the open-file limit where that is lower (the outbox, the
    gateways' connections and the logs need the rest)."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(MAX_CONNECTIONS, soft // 2 if soft != resource.RLIM_INFINITY
                       else MAX_CONNECTIONS))


def _answer(status: int, reason: str) -> bytes:
    body = f"{reason}\n".encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


@functools.cache
def guarded_protocol() -> type:
    """uvicorn's httptools protocol with limits before any application code runs: HEAD_LIMIT,
    HEAD_TIMEOUT and BODY_TIMEOUT per request, and connection_limit() per server. At the limit
    a new connection closes the one idle longest (no request in progress: just opened, between
    requests, or still sending its headers), so idle sockets cannot keep a client out; when
    every connection has a request in progress, the new one gets a 503."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    limit = connection_limit()

    class GuardedProtocol(HttpToolsProtocol):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True  # reading a request's line and headers (or none yet)
            self._head_bytes = 0
            self._deadline: asyncio.TimerHandle | None = None
            self._idle_since = time.monotonic()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(HEAD_TIMEOUT)
            if len(self.connections) > limit:
                self._make_room()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._head_bytes += len(data)
                if self._deadline is None:  # the first byte of a request after a pause
                    self._arm(HEAD_TIMEOUT)
            super().data_received(data)
            if self._in_head and self._head_bytes > HEAD_LIMIT:
                self._refuse(431, "Request Header Fields Too Large")

        def on_headers_complete(self) -> None:
            self._in_head, self._head_bytes = False, 0
            self._arm(BODY_TIMEOUT)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._disarm()
            self._in_head = True

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._idle_since = time.monotonic()

        @property
        def _idle(self) -> bool:
            return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            if self._in_head and self._head_bytes and self._idle:
                self._refuse(408, "Request Timeout")
            elif not self._in_head and self.cycle is not None \
                    and not self.cycle.response_started:
                self._refuse(408, "Request Timeout")  # a body shorter than its Content-Length
            else:
                self.transport.close()  # idle, or answered already: nothing more to say

        def _refuse(self, status: int, reason: str) -> None:
            if not self.transport.is_closing():
                self.transport.write(_answer(status, reason))
                self.transport.close()

        def _make_room(self) -> None:
            idle = [c for c in self.connections if isinstance(c, GuardedProtocol) and c._idle
                    and not c.transport.is_closing()]
            if not idle:
                self._refuse(503, "Service Unavailable")
                return
            min(idle, key=lambda c: c._idle_since).transport.close()

    return GuardedProtocol
