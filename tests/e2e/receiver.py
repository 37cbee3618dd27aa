"""Helpers for the receiver's end-to-end tests: `sms-notify serve` and the real Alertmanager as
child processes on free ports of 127.0.0.1.

The receiver's config, its env file and alertmanager.yml are read from docs/alertmanager.md (the
blocks marked `<!-- test: NAME -->`), and the command line from the systemd unit that ships in
deploy/, so the tests run what the documentation shows. Only addresses, paths, secrets and
timings are replaced.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from .conftest import Sandbox, child_env, start_ready, stop

DOC = Path(__file__).resolve().parents[2] / "docs" / "alertmanager.md"
UNIT = Path(__file__).resolve().parents[2] / "deploy" / "sms-notify.service"
READY = "sms-notify serve listening on "
TOKEN = "e2e-Token/with+odd=chars"
DOC_COMMAND = "/opt/sms-notify/bin/sms-notify"  # the unit's venv
DOC_CONFIG = "/etc/sms-notify/sms-notify.yml"
NUMBERS = ("+447700900123", "+447700900124")  # the doc config's route
AM_BINARY = "prometheus-alertmanager"


def doc_block(name: str) -> str:
    """The fenced block after `<!-- test: NAME -->` in docs/alertmanager.md."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- test: {re.escape(name)} -->\n```\w*\n(.*?)```", text, re.DOTALL)
    assert match, f"docs/alertmanager.md has no block marked {name}"
    return match.group(1)


def receiver_config(directory: Path, sandbox: Sandbox, edit: Callable[[dict[str, Any]], None]
                    | None = None) -> tuple[Path, dict[str, str]]:
    """The doc's config pointed at the sandbox (and optionally edited), and the environment the
    doc's env file gives it, with the sandbox's credentials."""
    text = doc_block("sms-notify.yml").replace("?from=Alerts",
                                               f"?from=Alerts&endpoint={sandbox.url}")
    data = yaml.safe_load(text)
    data["server"]["outbox"] = str(directory / "outbox.sqlite")
    if edit:
        edit(data)
    path = directory / "sms-notify.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    env: dict[str, str] = {}
    for line in doc_block("env").splitlines():
        key, _, _ = line.partition("=")
        env[key] = "sandbox"
    env["SMS_NOTIFY_TOKEN"] = TOKEN
    return path, env


def serve_command(config: Path, port: int = 0) -> list[str]:
    """The systemd unit's ExecStart with this interpreter and config, on `port` (0: a free
    one)."""
    unit = UNIT.read_text(encoding="utf-8")
    line = next(l for l in unit.splitlines() if l.startswith("ExecStart="))
    argv = shlex.split(line.removeprefix("ExecStart="))
    assert argv[0] == DOC_COMMAND and DOC_CONFIG in argv, argv
    argv = [str(config) if a == DOC_CONFIG else a for a in argv[1:]]
    return [sys.executable, "-m", "sms_notify", *argv, "--listen", f"127.0.0.1:{port}"]


@dataclass
class Serve:
    """A running `sms-notify serve`."""

    url: str
    proc: subprocess.Popen[str]
    log_path: Path
    lines: list[str] = field(default_factory=list)

    def post(self, payload: Any, route: str | None = None, token: str = TOKEN,
             timeout: float = 10.0) -> requests.Response:
        path = "/alert" if route is None else f"/alert/{route}"
        return requests.post(self.url + path, data=json.dumps(payload), timeout=timeout,
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": "application/json"})

    def metrics(self) -> str:
        return requests.get(self.url + "/metrics", timeout=10).text

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, as systemd stops it; the exit status."""
        self.proc.terminate()
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def start_serve(config: Path, env: dict[str, str], log_path: Path, timeout: float = 30.0,
                port: int = 0) -> Serve:
    """Start the receiver as the unit does and wait for its ready line."""
    proc, url, lines = start_ready(serve_command(config, port), log_path, READY,
                                   child_env(**env), timeout)
    return Serve(url, proc, log_path, lines)


@contextmanager
def serving(config: Path, env: dict[str, str], log_path: Path, port: int = 0
            ) -> Iterator[Serve]:
    """`serve` for the length of a test, which it must end cleanly (SIGTERM, exit 0)."""
    receiver = start_serve(config, env, log_path, port=port)
    try:
        yield receiver
    finally:
        if receiver.proc.poll() is None:
            assert receiver.terminate() == 0, receiver.log()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require(binary: str) -> str:
    """The binary's path; missing, the test fails (CI installs it), it never skips."""
    path = shutil.which(binary)
    if not path:
        pytest.fail(f"{binary} is not installed (apt-get install prometheus-alertmanager; "
                    ".ci/run does it)")
    return path


@dataclass
class Alertmanager:
    """A real prometheus-alertmanager, standalone (no cluster), alerts in memory only."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        answer = requests.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10)
        assert answer.status_code == 200, answer.text

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def alertmanager_yml(receiver_url: str, token_file: Path) -> str:
    """The doc's alertmanager.yml pointed at this receiver, with test timings."""
    text = doc_block("alertmanager.yml")
    for old, new in (("http://127.0.0.1:9717/alert", f"{receiver_url}/alert"),
                     ("/etc/prometheus/sms-notify.token", str(token_file)),
                     ("group_wait: 30s", "group_wait: 1s"),
                     ("group_interval: 5m", "group_interval: 2s")):
        assert old in text, old
        text = text.replace(old, new)
    return text


def start_alertmanager(directory: Path, config_text: str, timeout: float = 20.0,
                       cluster: tuple[str, ...] = ("--cluster.listen-address=",),
                       port: int = 0) -> Alertmanager:
    """Standalone by default; `cluster`: the --cluster.* flags of an HA peer; `port` 0: a free
    one."""
    binary = require(AM_BINARY)
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "alertmanager.yml"
    config.write_text(config_text, encoding="utf-8")
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = directory / "alertmanager.log"
    with open(log_path, "w", encoding="utf-8") as log_file:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", *cluster,
             f"--web.external-url={url}", "--log.level=debug"],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"alertmanager exited {proc.returncode}:\n{log_path.read_text()}")
        try:
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return Alertmanager(url, proc, log_path)
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    stop(proc)
    raise AssertionError(f"alertmanager not ready in {timeout}s:\n{log_path.read_text()}")


def am_alert(name: str, starts: datetime, resolved: bool = False) -> dict[str, Any]:
    """One alert for Alertmanager's API, as in RECIPES.md's post_and_wait.sh."""
    fmt = "%Y-%m-%dT%H:%M:%S.%f"
    alert: dict[str, Any] = {
        "labels": {"alertname": name, "severity": "critical", "instance": "db1:9100",
                   "job": "node"},
        "annotations": {"summary": f"{name} is down", "description": "Host db1 unreachable"},
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up%3D%3D0",
        "startsAt": starts.strftime(fmt)[:-3] + "Z",
    }
    if resolved:
        ends = datetime.now(UTC) - timedelta(seconds=1)
        alert["endsAt"] = ends.strftime(fmt)[:-3] + "Z"
    return alert


def counter(metrics: str, name: str, **labels: str) -> float:
    """A sample's value from /metrics text (0 when absent)."""
    for line in metrics.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def unique(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:8]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               why: Callable[[], str] = lambda: "") -> Any:
    """Poll until predicate() is truthy; fail with `what` and the evidence from `why`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g}s\n{why()}")
        time.sleep(0.1)


def group(name: str) -> dict[str, Any]:
    """The demo's firing webhook as the group of one alert named `name` (its own group key and
    fingerprint: never a duplicate of another)."""
    from sms_notify.integrations.alertmanager.demo import FIRING

    data = copy.deepcopy(FIRING)
    data["groupKey"] = '{}:{alertname="%s"}' % name
    data["groupLabels"] = {"alertname": name}
    data["commonLabels"] = {**data["commonLabels"], "alertname": name}
    data["alerts"][0]["labels"] = {**data["alerts"][0]["labels"], "alertname": name}
    data["alerts"][0]["fingerprint"] = name
    return data
