"""End-to-end fixtures: the real `sms-notify sandbox` process on a free port of 127.0.0.1.

`sandbox` (session scope) starts ``python -m sms_notify sandbox --listen 127.0.0.1:0`` once,
waits for its ready line and stops it at the end; `fresh_sandbox` is the same process, emptied
(inbox, faults, request log) before the test. `cli` runs ``sms-notify`` as a real subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

READY = "sandbox listening on "
USER = PASSWORD = TOKEN = "sandbox"
STATE_HOME = tempfile.mkdtemp(prefix="sms-notify-e2e-state-")  # the commands' feed cursors


def child_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: no user config, every plugin loaded, state in a
    folder of the test run's own."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SMS_NOTIFY_CONFIG", "SMS_NOTIFY_LOAD_PLUGINS")}
    env["PYTHONUNBUFFERED"] = "1"
    env["XDG_STATE_HOME"] = STATE_HOME
    env.update(extra)
    return env


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Terminate a child we started and wait for it; kill it if it does not go."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


@dataclass
class Sandbox:
    """A running sandbox: its address, provider URLs pointing at it, its inbox and faults."""

    url: str
    proc: subprocess.Popen[str]
    log_path: Path
    stdout: list[str] = field(default_factory=list)

    def url_for(self, scheme: str, *targets: str, **options: str) -> str:
        """A provider URL with the sandbox's credentials and `endpoint=` this sandbox.

        Options are query arguments; `from_` stands for `from`. Values are percent-encoded
        (a `+` becomes %2B), targets keep their `+`. The gateways that need a sender get
        `Alerts` unless the test gives one (`from_=""`: none at all).
        """
        from sms_notify.manager import provider_for

        provider = provider_for(scheme)
        creds = TOKEN if provider.credentials == ("token",) else f"{USER}:{PASSWORD}"
        path = "/".join(quote(t, safe="+") for t in targets)
        query = {"endpoint": self.url}
        if provider.sender_required:
            options = {"from_": "Alerts", **options}
        for key, value in options.items():
            if value != "":
                query[key.rstrip("_")] = str(value)
        args = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
        return f"{scheme}://{creds}@{path}?{args}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(self.url + path, params=params, timeout=10)

    def inbox(self, gateway: str | None = None, to: str | None = None) -> list[dict[str, Any]]:
        """Accepted messages, one per recipient, oldest first."""
        params = {k: v for k, v in (("gateway", gateway), ("to", to)) if v}
        response = self.get("/inbox", **params)
        response.raise_for_status()
        return list(response.json()["messages"])

    def requests(self, gateway: str | None = None) -> list[dict[str, Any]]:
        """Every request that arrived (gateway, operation, recipients, outcome), oldest first."""
        params = {"gateway": gateway} if gateway else {}
        response = self.get("/admin/requests", **params)
        response.raise_for_status()
        return list(response.json()["requests"])

    def fault(self, **spec: Any) -> dict[str, Any]:
        """Inject a fault: gateway, kind (http_error|timeout|slow|error_code|garble), status, code,
        delay, count, seconds (see docs/sandbox.md)."""
        response = requests.post(self.url + "/admin/faults", json=spec, timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def clear(self) -> None:
        """Empty the inbox, the request log, the pushes and the faults (balances and ids carry
        on)."""
        for path in ("/inbox", "/admin/faults", "/admin/requests", "/admin/pushes"):
            requests.delete(self.url + path, timeout=10).raise_for_status()

    def reset(self) -> None:
        """Everything back to the start: inbox, faults, request log, balances, messages."""
        requests.post(self.url + "/admin/reset", timeout=10).raise_for_status()

    def log(self) -> str:
        """What the sandbox wrote on stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_ready(
    cmd: list[str], log_path: Path, ready: str, env: dict[str, str], timeout: float = 30.0
) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Start a server process (stderr to `log_path`) and wait for the stdout line that starts
    with `ready` and ends with its URL; its stdout keeps being collected in the list."""
    with open(log_path, "a", encoding="utf-8") as log_file:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log_file, text=True, env=env,
                                stdin=subprocess.DEVNULL)
    lines: list[str] = []
    seen = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith(ready):
                seen.set()
        seen.set()

    threading.Thread(target=drain, daemon=True).start()
    if not seen.wait(timeout) or not any(line.startswith(ready) for line in lines):
        stop(proc)
        raise RuntimeError(f"{cmd[3:5]} did not start: stdout={lines!r}\n{log_path.read_text()}")
    url = next(line for line in lines if line.startswith(ready))[len(ready):].strip()
    return proc, url, lines


def start_sandbox(log_path: Path, *extra: str, timeout: float = 30.0) -> Sandbox:
    """Start `sms-notify sandbox` on a free port and wait for its ready line."""
    cmd = [sys.executable, "-m", "sms_notify", "sandbox", "--listen", "127.0.0.1:0", *extra]
    proc, url, lines = start_ready(cmd, log_path, READY, child_env(), timeout)
    return Sandbox(url=url, proc=proc, log_path=log_path, stdout=lines)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One real sandbox process for the whole session; tests that count use `fresh_sandbox`."""
    box = start_sandbox(tmp_path_factory.mktemp("sandbox") / "sandbox.log")
    try:
        yield box
    finally:
        stop(box.proc)


@pytest.fixture
def fresh_sandbox(sandbox: Sandbox) -> Sandbox:
    """The session's sandbox with an empty inbox, request log and no faults."""
    sandbox.clear()
    return sandbox


@dataclass
class Cli:
    """Runs `sms-notify` as a real subprocess of the interpreter running the tests."""

    env: dict[str, str]

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 90.0, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sms_notify", *args], input=input, capture_output=True,
            text=True, timeout=timeout, env={**self.env, **env}, check=False,
            **({"stdin": subprocess.DEVNULL} if input is None else {}),
        )


@pytest.fixture
def cli() -> Cli:
    return Cli(child_env())
