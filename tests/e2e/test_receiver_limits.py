"""What a connection may cost `sms-notify serve` before it is authenticated: a real serve, raw
sockets on 127.0.0.1. Huge headers are cut off with a 431, slow or idle connections are closed
with a 408 (or nothing), and a flood of idle sockets never keeps Alertmanager out, even under
`ulimit -n 1024`.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from .conftest import Sandbox, child_env, start_ready
from .receiver import READY, Serve, receiver_config, serve_command, serving, unique
from .test_receiver_crash import payload

pytestmark = pytest.mark.e2e

HEAD = b"POST /alert HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@pytest.fixture
def rx(tmp_path: Path, fresh_sandbox: Sandbox) -> Iterator[Serve]:
    config, env = receiver_config(tmp_path, fresh_sandbox)
    with serving(config, env, tmp_path / "serve.log") as receiver:
        yield receiver


def connect(rx: Serve) -> socket.socket:
    host, port = rx.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def answer_of(conn: socket.socket) -> bytes:
    """What the server said before it closed (empty if it only closed)."""
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_unterminated_huge_headers_are_cut_off(rx: Serve) -> None:
    """Four 64 MB headers that never end took serve from 67 to 344 MB; now each connection
    gets a 431 after 64 KiB and is closed, long before the sender is done."""
    size = 64 * 1024 * 1024
    sent = []
    before = rss_kib(rx.proc.pid)
    for _ in range(4):
        with connect(rx) as conn:
            conn.sendall(HEAD + b"X-Pad: ")
            count = 0
            try:
                while count < size:
                    conn.sendall(b"a" * 65536)
                    count += 65536
            except (BrokenPipeError, ConnectionResetError):
                pass
            sent.append(count)
            said = answer_of(conn)
            assert said == b"" or said.startswith(b"HTTP/1.1 431 "), said[:200]
    assert all(count < size // 8 for count in sent), sent  # cut off, not read to the end
    print(f"\nRSS {before} -> {rss_kib(rx.proc.pid)} KiB after 4 huge headers; sent {sent}")
    assert rx.post(payload(unique("AfterHuge"))).status_code == 200


def test_slow_idle_and_half_sent_requests_are_closed(rx: Serve) -> None:
    """Slowloris (a header byte now and then), a connection that never says anything, and
    headers cut off midway: all closed by the server within its header timeout, and a real
    alert gets through meanwhile."""
    with ExitStack() as stack:
        slow = [stack.enter_context(connect(rx)) for _ in range(20)]
        idle = [stack.enter_context(connect(rx)) for _ in range(5)]
        half = stack.enter_context(connect(rx))
        half.sendall(HEAD + b"Content-Le")
        for conn in slow:
            conn.sendall(HEAD)
            conn.setblocking(False)
        assert rx.post(payload(unique("DuringSlowloris"))).status_code == 200
        dribbled = 0
        open_slow = set(range(len(slow)))
        while open_slow and dribbled < 60:  # the header timeout is 10 s: 60 bytes is plenty
            time.sleep(1)
            dribbled += 1
            for i in list(open_slow):
                try:
                    slow[i].send(b"X")
                except (BrokenPipeError, ConnectionResetError):
                    open_slow.discard(i)
                    continue
                try:
                    if slow[i].recv(65536).startswith(b"HTTP/1.1 408 "):
                        open_slow.discard(i)
                except BlockingIOError:
                    pass
                except ConnectionResetError:
                    open_slow.discard(i)
        assert not open_slow, f"{len(open_slow)} slowloris connections still open"
        for conn in idle:
            assert answer_of(conn) == b""  # closed without a word: nothing was asked
        assert answer_of(half).startswith(b"HTTP/1.1 408 ")
    assert rx.post(payload(unique("AfterSlowloris"))).status_code == 200


def test_a_flood_of_idle_sockets_does_not_keep_alertmanager_out(
        tmp_path: Path, fresh_sandbox: Sandbox) -> None:
    """With `ulimit -n 1024`, 1,100 idle sockets used to block every new connection: serve
    could not accept one more. Now it keeps at most half its descriptors for clients and
    closes the connection idle longest to make room."""
    config, env = receiver_config(tmp_path, fresh_sandbox)
    command = ["prlimit", "--nofile=1024:1024", "--", *serve_command(config)]
    proc, url, lines = start_ready(command, tmp_path / "serve.log", READY, child_env(**env))
    rx = Serve(url, proc, tmp_path / "serve.log", lines)
    try:
        with ExitStack() as stack:
            flood = [stack.enter_context(connect(rx)) for _ in range(1100)]
            answer = rx.post(payload(unique("DuringFlood")), timeout=15)
            assert answer.status_code == 200, answer.text
            closed = 0
            for conn in flood:
                conn.setblocking(False)
                try:
                    closed += conn.recv(1) == b""
                except BlockingIOError:
                    pass
                except ConnectionResetError:
                    closed += 1
            print(f"\n{closed} of {len(flood)} idle sockets closed to make room")
            assert closed >= len(flood) - 512
        assert "Too many open files" not in rx.log(), rx.log()[-2000:]
        assert rx.terminate() == 0, rx.log()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
