"""The limits a connection meets before the application sees its request
(sms_notify.listen.guarded_protocol), on a real uvicorn on 127.0.0.1 with an application that
reads the whole body, as the receiver does. The timeouts are lowered for the test; a real
`serve` meets the same protocol (tests/e2e/test_receiver_limits.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from sms_notify import listen

HEAD = b"POST /alert HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


async def reads_the_body(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def address(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    monkeypatch.setattr(listen, "HEAD_TIMEOUT", 0.5)
    monkeypatch.setattr(listen, "BODY_TIMEOUT", 0.5)
    sock = listen.bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(reads_the_body, lifespan="off", log_level="warning",
                                           http=listen.guarded_protocol()))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield sock.getsockname()[:2]
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def answer_to(address: tuple[str, int], sent: bytes) -> bytes:
    """What the server says to `sent` before it closes the connection."""
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(sent)
        data = b""
        try:
            while chunk := conn.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        return data


def test_a_body_shorter_than_its_content_length_gets_a_408(address: tuple[str, int]) -> None:
    """It was closed without a word once the body timeout passed (60 s in serve)."""
    said = answer_to(address, HEAD + b"Content-Length: 1000\r\n\r\n" + b'{"receiver": ')
    assert said.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), said
    assert said.endswith(b"\r\n\r\nRequest Timeout\n")


def test_headers_that_stop_midway_get_a_408_and_a_whole_request_its_answer(
        address: tuple[str, int]) -> None:
    assert answer_to(address, HEAD + b"Content-Le").startswith(b"HTTP/1.1 408 ")
    said = answer_to(address, HEAD + b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
    assert said.startswith(b"HTTP/1.1 200 ") and said.endswith(b"\r\n\r\n{}")
