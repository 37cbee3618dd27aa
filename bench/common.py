"""What the benchmarks share: a real `sms-notify sandbox` process and a table printer."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import requests

READY = "sandbox listening on "


def command(python: str = sys.executable) -> str:
    """The `sms-notify` console script of the install `python` belongs to. A bench runs from
    the repository root, where `python -m sms_notify` would import the source folder, which
    has no sms_notify.plugins; the installed script imports the installed package."""
    return str(Path(python).with_name("sms-notify"))


@contextmanager
def started(cmd: list[str], ready: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start a server that prints `ready` and its URL; yield the URL; stop it after."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)
    assert proc.stdout is not None
    url = ""
    for line in proc.stdout:
        if line.startswith(ready):
            url = line[len(ready):].strip()
            break
    if not url:
        proc.kill()
        raise SystemExit(f"{' '.join(cmd[2:4])} did not start")
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def sandbox(*extra: str) -> AbstractContextManager[str]:
    """Start `sms-notify sandbox` on a free port; yield its URL; stop it after."""
    return started([command(), "sandbox", "--listen", "127.0.0.1:0", *extra], READY)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall time of one whole process, and its last output line when it failed ("" if not)."""
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if result.returncode == 0:
        return elapsed, ""
    lines = (result.stdout + result.stderr).strip().splitlines()
    return elapsed, lines[-1] if lines else f"exit {result.returncode}"


def url_for(sandbox_url: str, scheme: str, **options: str) -> str:
    """A provider URL with the sandbox's credentials, pointed at the sandbox."""
    creds = "sandbox" if scheme == "fastsms" else "sandbox:sandbox"
    query = "&".join(f"{k}={v}" for k, v in {"endpoint": sandbox_url, **options}.items())
    return f"{scheme}://{creds}@?{query}"


def sandbox_requests(sandbox_url: str, gateway: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{sandbox_url}/admin/requests", params={"gateway": gateway}, timeout=10)
    answer.raise_for_status()
    return list(answer.json()["requests"])


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, as the README carries it."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])
