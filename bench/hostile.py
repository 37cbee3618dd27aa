"""Hostile inputs and faults against a real `sms-notify serve` and the one-shot commands: what
each gets as an answer, what it costs in memory (RSS), and how long it holds the receiver.

    python bench/hostile.py                      # the sms_notify this interpreter imports
    python bench/hostile.py --python OTHER/python  # another install, e.g. main's, for "before"

Everything runs on 127.0.0.1; the gateways are local stand-ins. The behaviour each row shows is
also a test (tests/e2e/test_receiver_limits.py, test_receiver_guard.py, test_outbox_faults.py,
tests/test_gateway_answers.py, test_secrets.py, test_config.py, test_alertmanager_server.py);
this script gives the figures those tests must not assert.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

from common import command, table

READY = "sms-notify serve listening on "
TOKEN = "bench-token"
CONFIG = """\
accounts:
  primary: fastsms://tok@?from=Alerts&endpoint=http://127.0.0.1:9&timeout=1
routes:
  r: {{to: ["+447700900123"], via: [primary]}}
  slow: {{to: ["+447700900123"], via: [primary], template: {template}}}
server:
  bearer_token: {token}
  outbox: {outbox}
"""
SLOW_TEMPLATE = json.dumps("{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}"
                           "{% endfor %}{{ status }}")
ALERT = {"receiver": "r", "status": "firing", "groupKey": "{}:{alertname=\"X\"}",
         "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "annotations": {},
                     "fingerprint": "x", "startsAt": "2024-01-01T00:00:00Z"}],
         "groupLabels": {"alertname": "X"}, "commonLabels": {"alertname": "X"},
         "commonAnnotations": {}, "externalURL": "http://am", "version": "4"}
HEAD = b"POST /alert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def serve(python: str, work: Path, *prefix: str, template: str = SLOW_TEMPLATE
          ) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    config = work / "sms.yml"
    config.write_text(CONFIG.format(template=template, token=TOKEN,
                                    outbox=work / f"outbox-{time.monotonic_ns()}.sqlite"))
    proc = subprocess.Popen([*prefix, command(python), "serve", "--config",
                             str(config), "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(READY):
        proc.kill()
        raise SystemExit(f"serve did not start: {line!r}")
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    try:
        yield line[len(READY):].strip(), proc
    finally:
        proc.kill()
        proc.wait()


def post(url: str, route: str = "r", timeout: float = 10.0, **headers: str) -> str:
    try:
        answer = requests.post(f"{url}/alert/{route}", data=json.dumps(ALERT), timeout=timeout,
                               headers={"Authorization": f"Bearer {TOKEN}",
                                        "Content-Type": "application/json", **headers})
        return str(answer.status_code)
    except requests.RequestException as exc:
        return f"no answer ({type(exc).__name__})"


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def huge_headers(python: str, work: Path) -> list[str]:
    """Four unterminated 64 MB headers, one connection after another."""
    with serve(python, work) as (url, proc):
        before = rss_mb(proc.pid)
        taken = []
        for _ in range(4):
            with connect(url) as conn:
                conn.sendall(HEAD + b"X-Pad: ")
                sent = 0
                try:
                    while sent < 64 << 20:
                        conn.sendall(b"a" * 65536)
                        sent += 65536
                except OSError:
                    pass
                taken.append(sent >> 20)
        return [f"MB sent before the server hung up: {taken}",
                f"RSS {before:.0f} -> {rss_mb(proc.pid):.0f} MB", post(url)]


def slowloris(python: str, work: Path) -> list[str]:
    """A header byte a second: how long the server keeps the connection (cap 60 s)."""
    with serve(python, work) as (url, proc), connect(url) as conn:
        conn.sendall(HEAD)
        start = time.monotonic()
        answer = b""
        while time.monotonic() - start < 60:
            try:
                conn.sendall(b"X")
                conn.settimeout(1)
                answer = conn.recv(100)
                if not answer or answer:
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        held = time.monotonic() - start
        said = answer.split(b"\r\n")[0].decode() or "closed"
        return [f"held {held:.0f} s" + (" (still open)" if held >= 60 else ""), said,
                post(url)]


def idle_flood(python: str, work: Path) -> list[str]:
    """1,100 idle sockets under `ulimit -n 1024`, then an alert."""
    with serve(python, work, "prlimit", "--nofile=1024:1024", "--") as (url, proc), \
            ExitStack() as stack:
        opened = 0
        for _ in range(1100):
            try:
                stack.enter_context(connect(url))
                opened += 1
            except OSError:
                break
        start = time.monotonic()
        status = post(url, timeout=10)
        return [f"{opened} sockets open", f"alert: {status} in {time.monotonic() - start:.1f} s",
                f"RSS {rss_mb(proc.pid):.0f} MB"]


def template_blocks(python: str, work: Path) -> list[str]:
    """A route template that loops 10**8 times: how long /-/healthy waits meanwhile."""
    with serve(python, work) as (url, proc):
        result: list[str] = []
        thread = threading.Thread(target=lambda: result.append(post(url, "slow", timeout=120)))
        thread.start()
        time.sleep(0.2)
        worst = 0.0
        while thread.is_alive():
            start = time.monotonic()
            requests.get(f"{url}/-/healthy", timeout=120)
            worst = max(worst, time.monotonic() - start)
            time.sleep(0.05)
        return [f"alert: {result[0]}", f"/-/healthy waited up to {worst:.2f} s"]


def gateway_answer(python: str, size: int, body: bytes = b"") -> tuple[float, str]:
    """`send` through FastSMS to a local server answering `size` bytes (or `body`) to every
    request: the peak RSS of the command and the line it printed."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                payload = body or b"1" * size
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                 b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n"
                                 + payload)
                except OSError:
                    pass

    threading.Thread(target=answer, daemon=True).start()
    url = (f"fastsms://tok@447700900123?from=Alerts"
           f"&endpoint=http://127.0.0.1:{listener.getsockname()[1]}")
    code = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], "
            "capture_output=True, text=True); print(resource.getrusage(resource.RUSAGE_CHILDREN)"
            ".ru_maxrss); print(repr(done.stdout.splitlines()[0][:150]))")
    out = subprocess.run([sys.executable, "-c", code, command(python), "send", url,
                          "-m", "x", "--timeout", "5"], capture_output=True, text=True,
                         timeout=120).stdout.splitlines()
    listener.close()
    return int(out[0]) / 1024, out[1]


def alias_bomb(python: str, work: Path) -> list[str]:
    """check-config on a billion laughs under dedup_window, under a 3 GB address-space cap."""
    bomb = work / "bomb.yml"
    levels = ["&a [" + ", ".join(["lol"] * 9) + "]"] + [
        f"&{x} [{', '.join([f'*{y}'] * 9)}]" for y, x in zip("abcdefg", "bcdefgh")]
    bomb.write_text("dedup_window: [" + ", ".join([*levels, "[" + ", ".join(["*h"] * 9) + "]"])
                    + "]\n")
    code = ("import resource, subprocess, sys, time; t = time.monotonic(); done = "
            "subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=300); "
            "print(round(time.monotonic() - t, 1), resource.getrusage(resource.RUSAGE_CHILDREN)"
            ".ru_maxrss // 1024, done.returncode); print(repr((done.stdout + done.stderr)"
            ".strip().splitlines()[-1][:150]))")
    out = subprocess.run([sys.executable, "-c", code, "prlimit", "--as=3000000000", "--",
                          command(python), "check-config", str(bomb)],
                         capture_output=True, text=True, timeout=400).stdout.splitlines()
    seconds, peak, status = out[0].split()
    return [f"{len(bomb.read_bytes())} bytes", f"{seconds} s, peak {peak} MB, exit {status}",
            out[1]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter whose sms_notify is measured")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, measure in (("4 unterminated 64 MB headers", huge_headers),
                              ("slowloris (a header byte a second)", slowloris),
                              ("1,100 idle sockets, ulimit -n 1024", idle_flood),
                              ("route template looping 10**8 times", template_blocks),
                              ("YAML alias bomb (check-config)", alias_bomb)):
            rows.append([name, " / ".join(measure(args.python, work))])
        peak, said = gateway_answer(args.python, 20 << 20)
        rows.append(["20 MB gateway answer to `send`", f"peak RSS {peak:.0f} MB / {said}"])
        peak, said = gateway_answer(args.python, 0, b"-501\nUnknown\x00\x1b[2J user")
        rows.append(["NUL and ESC in a gateway answer", f"peak RSS {peak:.0f} MB / {said}"])
    print(f"python: {args.python}\n")
    print(table(["input or fault", "what happened (last: a normal alert afterwards)"], rows))
    return 0


if __name__ == "__main__":
    os.environ.pop("SMS_NOTIFY_CONFIG", None)
    raise SystemExit(main())
