"""A gateway that drips its answer never holds `serve`'s senders (probe 1).

requests' timeout is per socket read: a gateway sending its headers one byte every 2 s held
each request forever, and under `serve` no text went out on any route (after 120 s: 0 texts,
route b never sent). Every request now ends at its account's timeout, its outcome unknown:
route a's texts move on to its backup once, route b's go as usual.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Sandbox
from .receiver import NUMBERS, group, receiver_config, start_serve, unique, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def dripping() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that reads a request and drips `HTTP/1.1 200 OK` and then
    header bytes, one every 2 s, until the client hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: ")
                while not stop.wait(2.0):
                    conn.sendall(b"a")
            except OSError:
                pass

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


def test_a_dripping_gateway_holds_no_sender_and_no_other_route(
        tmp_path: Path, fresh_sandbox: Sandbox, dripping: str) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["accounts"]["slow"] = f"fastsms://tok@?from=Alerts&endpoint={dripping}&timeout=3"
        data["routes"] = {
            "a": {"to": [NUMBERS[0]], "via": ["slow", "backup"]},
            "b": {"to": [NUMBERS[1]], "via": ["backup"]},
        }

    config, env = receiver_config(tmp_path, fresh_sandbox, edit)
    rx = start_serve(config, env, tmp_path / "serve.log")
    try:
        names = [unique("DripA") for _ in range(8)]
        for name in names:
            assert rx.post(group(name), route="a").status_code == 200
        time.sleep(0.5)  # route a's requests on the wire first
        other = unique("DripB")
        assert rx.post(group(other), route="b").status_code == 200
        wait_until(lambda: len(fresh_sandbox.inbox("server2sms")) >= 9, 60,
                   "every text through the backup", rx.log)
        inbox = fresh_sandbox.inbox("server2sms")
        texts = sorted((m["to"], n) for m in inbox for n in [*names, other] if n in m["text"])
        assert texts == sorted([(NUMBERS[0], n) for n in names] + [(NUMBERS[1], other)])
    finally:
        assert rx.terminate() == 0, rx.log()
