"""The example third-party plugin (examples/sms-notify-example, installed as a user would) through
all of sms-notify: `send`, `nagios`, `serve` and the `apprise` command, against its own
simulator in the real sandbox process. Its hooks check no scheme: the core calls them only for
example:// accounts, and a fastsms:// send beside it never reaches it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import Cli, Sandbox, child_env
from .receiver import TOKEN, serving, wait_until

pytestmark = pytest.mark.e2e

TO, TO2 = "+447700900123", "+447700900124"
FIRING = Path(__file__).parents[1] / "fixtures" / "alertmanager" / "am-0.25-firing.json"


def example_url(box: Sandbox, *targets: str) -> str:
    return box.url_for("example", *targets, from_="Alerts")


def test_the_sandbox_serves_the_plugins_simulator(sandbox: Sandbox) -> None:
    assert "example" in sandbox.get("/admin/gateways").json()["gateways"]


def test_send_beside_a_built_in_gateway(fresh_sandbox: Sandbox, cli: Cli) -> None:
    done = cli("send", example_url(fresh_sandbox, TO), "-m", "DISK FULL on db1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.fullmatch(rf"\{TO}: sent, 1 part, id ex-\d+ \(via example@127\.0\.0\.1:\d+\)\n",
                        done.stdout)
    fast = cli("send", fresh_sandbox.url_for("fastsms", TO2, from_="Alerts"), "-m", "and FastSMS")
    assert fast.returncode == 0, fast.stdout + fast.stderr
    assert [(m["gateway"], m["to"], m["text"]) for m in fresh_sandbox.inbox()] == [
        ("example", TO, "DISK FULL on db1"), ("fastsms", TO2, "and FastSMS")]
    assert [(r["gateway"], r["operation"]) for r in fresh_sandbox.requests()] == [
        ("example", "send"), ("fastsms", "Send")]
    message_id = done.stdout.split(" id ")[1].split()[0]
    status = cli("status", fresh_sandbox.url_for("example"), message_id)
    assert re.match(rf"{message_id}: (sent, not final|delivered, final)", status.stdout), \
        status.stdout


def test_nagios(fresh_sandbox: Sandbox, cli: Cli) -> None:
    done = cli("nagios", example_url(fresh_sandbox), "--to", TO, "-t", "PROBLEM", "-l", "db1",
               "-s", "DOWN", "-o", "PING CRITICAL - Packet loss = 100%")
    assert done.returncode == 0, done.stdout + done.stderr
    (message,) = fresh_sandbox.inbox("example")
    assert message["to"] == TO and "db1" in message["text"] and "DOWN" in message["text"]


def test_serve(tmp_path: Path, fresh_sandbox: Sandbox) -> None:
    config = tmp_path / "sms-notify.yml"
    config.write_text(yaml.safe_dump({
        "accounts": {"example": example_url(fresh_sandbox)},
        "routes": {"oncall": {"to": [TO], "via": ["example"]}},
        "server": {"bearer_token": "${SMS_NOTIFY_TOKEN}", "outbox": str(tmp_path / "o.sqlite")},
    }), encoding="utf-8")
    payload = json.loads(FIRING.read_text(encoding="utf-8"))
    payload["receiver"] = "oncall"
    with serving(config, {"SMS_NOTIFY_TOKEN": TOKEN}, tmp_path / "serve.log") as receiver:
        assert receiver.post(payload).status_code == 200
        inbox = wait_until(lambda: fresh_sandbox.inbox("example"), 20, "the text through serve",
                           receiver.log)
    assert [m["to"] for m in inbox] == [TO] and "FIRING" in inbox[0]["text"].upper()


def test_apprise(fresh_sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    assert cli("apprise-plugin", str(plugins)).returncode == 0
    done = subprocess.run(
        ["apprise", "--plugin-path", str(plugins), "-b", "via Apprise",
         example_url(fresh_sandbox, TO)],
        capture_output=True, text=True, timeout=60, env=child_env(HOME=str(tmp_path)),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [(m["to"], m["text"]) for m in fresh_sandbox.inbox("example")] == [
        (TO, "via Apprise")]
