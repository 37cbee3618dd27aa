"""Closing the loop with the real prometheus-alertmanager, the real `sms-notify serve` and the
sandbox (docs/design.md, Decision 15): a reply ACK silences the group in Alertmanager and is
confirmed; a group nobody acknowledges escalates; a text reported undelivered goes again
through the route's next account.

The receiver's config is docs/alertmanager.md's, with its "closing-the-loop" block merged in;
Alertmanager's is the doc's with group_wait 1s, group_interval 2s and repeat_interval 4s, so
that a repeat notification would come every few seconds. Both listen on ports chosen before
either starts: each names the other in its config.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from .conftest import Cli, Sandbox, stop
from .receiver import (
    NUMBERS, TOKEN, Alertmanager, Serve, alertmanager_yml, am_alert, counter, doc_block,
    free_port, receiver_config, serving, start_alertmanager, unique, wait_until,
)

pytestmark = pytest.mark.e2e

SECRET = "e2e-inbound/secret+with=odd&chars"
ROUTE = "sms-webhook"


def merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    """`extra` into `base`, mappings merged key by key."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value


@dataclass
class Loop:
    """The receiver, Alertmanager and the sandbox, wired to each other."""

    serve: Serve
    am: Alertmanager
    sandbox: Sandbox
    config: Path

    def webhooks(self) -> float:
        return counter(self.serve.metrics(), "sms_notify_webhooks_total", route=ROUTE, code="200")

    def texts(self, to: str, needle: str, gateway: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.sandbox.inbox(gateway, to) if needle in m["text"]]

    def silences(self) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.am.url}/api/v2/silences", timeout=10)
        answer.raise_for_status()
        return [s for s in answer.json() if s["createdBy"] == "sms-notify"]

    def evidence(self) -> str:
        return (f"--- serve ---\n{self.serve.log()[-4000:]}\n--- alertmanager ---\n"
                f"{self.am.log()[-2000:]}\n--- pushes ---\n"
                f"{self.sandbox.get('/admin/pushes').text[-1000:]}")


@pytest.fixture
def wired(tmp_path: Path, fresh_sandbox: Sandbox) -> Iterator[Callable[..., Loop]]:
    """Start the three with the doc's config, edited by the test."""
    started: list[Alertmanager] = []
    with_serve: list[Any] = []

    def start(edit: Callable[[dict[str, Any]], None] = lambda data: None) -> Loop:
        am_port, serve_port = free_port(), free_port()

        def configure(data: dict[str, Any]) -> None:
            merge(data, yaml.safe_load(doc_block("closing-the-loop")))
            data["alertmanager"]["url"] = f"http://127.0.0.1:{am_port}"
            data["server"]["public_url"] = f"http://127.0.0.1:{serve_port}"
            edit(data)

        config, env = receiver_config(tmp_path, fresh_sandbox, configure)
        env["SMS_NOTIFY_INBOUND_SECRET"] = SECRET
        context = serving(config, env, tmp_path / "serve.log", port=serve_port)
        serve = context.__enter__()
        with_serve.append(context)
        token_file = tmp_path / "sms-notify.token"
        token_file.write_text(TOKEN + "\n", encoding="utf-8")
        text = alertmanager_yml(serve.url, token_file).replace("repeat_interval: 4h",
                                                                "repeat_interval: 4s")
        started.append(start_alertmanager(tmp_path / "am", text, port=am_port))
        return Loop(serve, started[0], fresh_sandbox, config)

    try:
        yield start
    finally:
        for am in started:
            stop(am.proc)
        for context in with_serve:
            context.__exit__(None, None, None)


def test_a_reply_ack_silences_the_group_in_alertmanager_and_is_confirmed(
        wired: Callable[..., Loop]) -> None:
    loop = wired()
    name = unique("DiskFull")
    posted = time.time()
    loop.am.post_alerts([am_alert(name, datetime.now(UTC))])
    page = wait_until(lambda: loop.texts(NUMBERS[0], name), 20, "the page", loop.evidence)
    wait_until(lambda: loop.webhooks() >= 2, 20, "a repeat notification", loop.evidence)

    forwarding = requests.post(f"{loop.sandbox.url}/admin/forwarding", timeout=10, json={
        "gateway": "fastsms", "url": f"{loop.serve.url}/inbound/primary", "method": "POST",
        "auth": SECRET})
    assert forwarding.status_code == 200, forwarding.text
    replied = time.time()
    reply = requests.post(f"{loop.sandbox.url}/admin/replies", timeout=10, json={
        "gateway": "fastsms", "from": NUMBERS[0], "text": "ack"})
    assert reply.status_code == 200, reply.text
    assert [f["status"] for f in reply.json()["forwarded"]] == [200]

    (silence,) = wait_until(loop.silences, 20, "the silence in Alertmanager", loop.evidence)
    silenced = time.time()
    assert silence["matchers"] == [
        {"name": "alertname", "value": name, "isRegex": False, "isEqual": True}]
    assert silence["status"]["state"] == "active"
    assert NUMBERS[0] in silence["comment"]
    starts, ends = (datetime.fromisoformat(silence[k].replace("Z", "+00:00"))
                    for k in ("startsAt", "endsAt"))
    assert 3500 < (ends - starts).total_seconds() <= 3600  # acks.duration: 1h
    confirmed = wait_until(lambda: loop.texts(NUMBERS[0], f"ACK: silenced alertname={name} "
                                              "for 1h, until "), 20, "the confirmation",
                           loop.evidence)
    assert len(confirmed) == 1 and not loop.texts(NUMBERS[1], "ACK:")

    time.sleep(3)  # a notification that was on its way when the silence came lands now
    before = loop.webhooks()
    time.sleep(10)  # two and a half repeat intervals
    assert loop.webhooks() == before, "a repeat came after the silence\n" + loop.evidence()
    metrics = loop.serve.metrics()
    assert counter(metrics, "sms_notify_replies_total", account="primary",
                   outcome="acknowledged") == 1
    print(f"\nalert posted to Alertmanager to the page at the phone {page[0]['at'] - posted:.2f}s"
          f" (group_wait 1s); reply to the silence in Alertmanager {silenced - replied:.2f}s, to "
          f"the confirmation at the phone {confirmed[0]['at'] - replied:.2f}s")


def test_a_group_nobody_acknowledges_escalates_once(wired: Callable[..., Loop]) -> None:
    escalation = "+447700900125"  # the doc's escalate.to

    def soon(data: dict[str, Any]) -> None:
        data["routes"][ROUTE]["escalate"]["after"] = "3s"

    loop = wired(soon)
    assert yaml.safe_load(loop.config.read_text())["routes"][ROUTE]["escalate"]["to"] == [
        escalation]
    name = unique("NoAck")
    loop.am.post_alerts([am_alert(name, datetime.now(UTC))])
    wait_until(lambda: loop.texts(NUMBERS[0], name), 20, "the page", loop.evidence)
    assert not loop.texts(escalation, name)
    (escalated,) = wait_until(lambda: loop.texts(escalation, name), 20, "the escalation",
                              loop.evidence)
    assert escalated["text"].startswith(f"ESCALATED: FIRING {name}")
    first = loop.webhooks()
    wait_until(lambda: loop.webhooks() >= first + 2, 20, "two more repeat notifications",
               loop.evidence)
    assert len(loop.texts(escalation, name)) == 1, "escalated more than once"
    assert counter(loop.serve.metrics(), "sms_notify_escalation_texts_total", route=ROUTE) == 1


def test_a_text_reported_undelivered_goes_again_through_the_next_account(
        wired: Callable[..., Loop], cli: Cli) -> None:
    """server2sms (the backup, first here) pushes its reports to the receiver: +447700900123
    delivered, +447700900001 (the sandbox's undeliverable number) not; that one goes again
    through FastSMS, which is asked, and reports it undeliverable too: no account is left."""
    undeliverable = "+447700900001"

    def backup_first(data: dict[str, Any]) -> None:
        data["routes"][ROUTE].update(to=[NUMBERS[0], undeliverable], via=["backup", "primary"])
        data["routes"][ROUTE].pop("escalate")

    loop = wired(backup_first)
    name = unique("Undelivered")
    loop.am.post_alerts([am_alert(name, datetime.now(UTC))])
    wait_until(lambda: loop.texts(undeliverable, name, "fastsms"), 30,
               "the text again through FastSMS", loop.evidence)

    outbox = yaml.safe_load(loop.config.read_text())["server"]["outbox"]

    def reports() -> dict[tuple[str, str], str | None]:
        done = cli("outbox", "list", "--outbox", outbox, "--route", ROUTE, "--json")
        assert done.returncode == 0, done.stderr
        return {(j["recipient"], j["account"]): j["receipt"] for j in json.loads(done.stdout)[
            "jobs"] if name in j["text"]}

    expected = {(NUMBERS[0], "backup"): "delivered", (undeliverable, "backup"): "undelivered",
                (undeliverable, "primary"): "undelivered"}
    wait_until(lambda: reports() == expected, 30, "the three reports",
               lambda: f"{reports()}\n{loop.evidence()}")
    assert [m["gateway"] for m in loop.texts(NUMBERS[0], name)] == ["server2sms"]
    assert [m["gateway"] for m in loop.texts(undeliverable, name)] == ["server2sms", "fastsms"]
    pushes = loop.sandbox.get("/admin/pushes").json()["pushes"]
    assert [(p["what"], p["url"].split("/", 3)[3], p["status"]) for p in pushes] == [
        ("delivery notification", "receipts/backup", 200)] * 2
    metrics = loop.serve.metrics()
    assert counter(metrics, "sms_notify_receipts_total", account="backup",
                   state="delivered") == 1
    assert counter(metrics, "sms_notify_receipts_total", account="backup",
                   state="undelivered") == 1
    assert counter(metrics, "sms_notify_receipts_total", account="primary",
                   state="undelivered") == 1
    assert SECRET not in loop.serve.log()
