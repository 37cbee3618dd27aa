"""Operating `sms-notify serve` (docs/design.md, Decision 16), as an operator meets it: the
default log level says every failing account once and every dead letter, in one format; the
access log and JSON logs; the outbox command beside a running receiver."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from .conftest import Cli, Sandbox, child_env, start_ready
from .receiver import NUMBERS, READY, TOKEN, Serve, receiver_config, serve_command, serving, \
    unique, wait_until
from .test_receiver_crash import first_line, payload

pytestmark = pytest.mark.e2e

DEAD_NUMBER = "+447700900000"  # the sandbox's unroutable number


def logfmt(line: str) -> dict[str, str]:
    """One logfmt line as a dict; fails on anything that is not one."""
    fields: dict[str, str] = {}
    for token in shlex.split(line, posix=True):
        key, sep, value = token.partition("=")
        assert sep and key and " " not in key, f"not logfmt: {line!r}"
        fields[key] = value
    return fields


def events(log: str) -> list[dict[str, str]]:
    lines = [line for line in log.splitlines() if line.strip()]
    parsed = [logfmt(line) for line in lines]
    assert all(p.get("ts") and p.get("level") and p.get("logger") for p in parsed), log
    return parsed


def test_what_an_operator_sees_at_the_default_level(fresh_sandbox: Sandbox,
                                                    tmp_path: Path) -> None:
    """A wrong token on the primary, the backup out of credit for one request, a number the
    gateway refuses: each said once, with the account and the gateway's reason."""
    def edit(data: dict[str, Any]) -> None:
        data["accounts"]["primary"] = data["accounts"]["primary"].replace(
            "${FASTSMS_TOKEN}", "wrong-token")
        data["routes"]["unroutable"] = {"to": [DEAD_NUMBER], "via": ["backup"]}
        data["dedup_window"] = "2h"  # long: a start-up warning

    config, env = receiver_config(tmp_path, fresh_sandbox, edit)
    fresh_sandbox.fault(gateway="server2sms", kind="error_code", code="credit", count=1)
    with serving(config, env, tmp_path / "serve.log") as rx:
        names = [unique("Auth"), unique("Auth")]
        for name in names:
            assert rx.post(payload(name)).status_code == 200
        assert rx.post(payload(unique("Dead")), route="unroutable").status_code == 200
        wait_until(lambda: sum(m["text"].startswith(first_line(n)) for m in fresh_sandbox.inbox()
                               for n in names) >= 2 * len(NUMBERS), 30,
                   "delivery through the backup", rx.log)
        wait_until(lambda: "state=dead" in rx.log(), 15, "the dead letter", rx.log)
        wait_until(lambda: "event=account_ok" in rx.log(), 15, "the backup recovering", rx.log)
        said = events(rx.log())
    by_event: dict[str, list[dict[str, str]]] = {}
    for line in said:
        by_event.setdefault(line.get("event", line.get("msg", "")), []).append(line)
    (warning,) = by_event["config_warning"]
    assert "dedup_window: 2h is long" in warning["warning"] and warning["level"] == "warn"
    failing = {(e["account"], e["category"]): e for e in by_event["account_failing"]}
    assert set(failing) == {("primary", "auth"), ("backup", "credit")}, said  # once each
    assert failing["primary", "auth"]["reason"] == "auth: -501 Unknown Username/Password"
    assert failing["primary", "auth"]["provider"] == "fastsms"
    assert failing["backup", "credit"]["reason"].startswith("credit: 5 ")
    (recovered,) = by_event["account_ok"]
    assert (recovered["account"], recovered["was"], recovered["level"]) == (
        "backup", "credit", "info")
    (dead,) = [e for e in by_event["job"] if e["state"] == "dead"]
    assert (dead["to"], dead["account"], dead["route"]) == (DEAD_NUMBER, "backup", "unroutable")
    assert dead["error"].startswith("recipient: 14 ")
    assert not [e for e in by_event["job"] if e["state"] != "dead"]  # per-text lines need -v
    assert "wrong-token" not in rx.log() and TOKEN not in rx.log()


def test_json_logs_and_the_access_log(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    config, env = receiver_config(tmp_path, fresh_sandbox)
    log_path = tmp_path / "serve.log"
    command = [*serve_command(config), "--log-format", "json", "--access-log"]
    proc, url, lines = start_ready(command, log_path, READY, child_env(**env))
    rx = Serve(url, proc, log_path, lines)
    try:
        name = unique("Json")
        import requests

        answer = requests.post(f"{url}/alert?token=in-the-query", json=payload(name), timeout=10,
                               headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        assert requests.post(f"{url}/alert", json={}, timeout=10,
                             headers={"Authorization": "Bearer nope"}).status_code == 401
        wait_until(lambda: "rejected" in rx.log(), 10, "the log lines", rx.log)
    finally:
        assert rx.terminate() == 0, rx.log()
    said = [json.loads(line) for line in rx.log().splitlines() if line.strip()]
    requests_logged = [e for e in said if e.get("event") == "request"]
    assert [(e["method"], e["path"], e["status"]) for e in requests_logged] == [
        ("POST", "/alert", 200), ("POST", "/alert", 401)]
    assert all(e["logger"] == "sms_notify.access" and e["level"] == "info"
               and e["client"].startswith("127.0.0.1:") for e in requests_logged)
    (rejected,) = [e for e in said if e.get("event") == "rejected"]
    assert rejected["code"] == 401 and rejected["level"] == "warn"
    text = rx.log()
    assert "in-the-query" not in text and TOKEN not in text and "nope" not in text


def test_the_outbox_command_beside_a_running_serve(fresh_sandbox: Sandbox, tmp_path: Path,
                                                   cli: Cli) -> None:
    """Every gateway down past max_age: dead letters. Once they are back, `outbox retry`
    sends them through the serve that is still running."""
    def edit(data: dict[str, Any]) -> None:
        data["server"]["max_age"] = "3s"

    config, env = receiver_config(tmp_path, fresh_sandbox, edit)
    for gateway in ("fastsms", "server2sms"):
        fresh_sandbox.fault(gateway=gateway, kind="http_error", status=503)
    with serving(config, env, tmp_path / "serve.log") as rx:
        name = unique("Retry")
        assert rx.post(payload(name)).status_code == 200

        def dead() -> list[dict[str, Any]]:
            done = cli("outbox", "list", "--config", str(config), "--state", "dead", "--json",
                       **env)
            assert done.returncode == 0, done.stderr
            return list(json.loads(done.stdout)["jobs"])

        jobs = wait_until(lambda: len(found := dead()) == len(NUMBERS) and found, 30,
                          "two dead letters", rx.log)
        assert {j["recipient"] for j in jobs} == set(NUMBERS)
        assert all(j["error"].startswith("unavailable") for j in jobs), jobs
        shown = cli("outbox", "show", str(jobs[0]["id"]), "--config", str(config), **env)
        assert shown.returncode == 0 and f"text:\n  {first_line(name)}" in shown.stdout
        fresh_sandbox.clear()  # the gateways are back
        retried = cli("outbox", "retry", "--all", "--config", str(config), **env)
        assert retried.returncode == 0, retried.stdout + retried.stderr
        assert retried.stdout.startswith("requeued 2 jobs: ")
        wait_until(lambda: len([m for m in fresh_sandbox.inbox()
                                if m["text"].startswith(first_line(name))]) == len(NUMBERS),
                   15, "the retried texts", rx.log)
        listed = cli("outbox", "list", "--outbox", str(tmp_path / "outbox.sqlite"), "--json")
        assert {j["state"] for j in json.loads(listed.stdout)["jobs"]} == {"sent"}
