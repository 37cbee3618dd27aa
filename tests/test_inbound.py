"""What gateways send back to the receiver, over HTTP (docs/design.md, Decision 15): replies at
/inbound/ACCOUNT and delivery reports at /receipts/ACCOUNT, with a real uvicorn, outbox and
dispatcher, the sandbox's gateways and a stand-in for Alertmanager's silences API, all in this
process on free ports of 127.0.0.1."""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from sms_notify.config import loads
from sms_notify.integrations.alertmanager import inbound
from sms_notify.integrations.alertmanager.demo import (
    FIRING, ThreadedServer, sandbox_server, stand_in_alertmanager, wait_for,
)
from sms_notify.integrations.alertmanager.server import build, create_app

SECRET = "in/b0und+secret"
R = "+447700900123"
CONFIG = """\
accounts:
  primary: fastsms://sandbox@?from=Alerts&endpoint={endpoint}
  backup: server2sms://sandbox:sandbox@?from=Alerts&endpoint={endpoint}
routes:
  sms-webhook: {{to: ["+447700900123"], via: [primary, backup]}}
  reversed: {{to: ["+447700900001"], via: [backup, primary]}}
server:
  outbox: {outbox}
{extra}
"""
LOOP = f"""\
  inbound_secret: {json.dumps(SECRET)}
alertmanager: {{url: "{{am}}"}}
"""


@dataclass
class Receiver:
    url: str
    outbox: Any
    state: Any  # the sandbox's
    silences: list[dict[str, Any]]

    def post(self, path: str, auth: str | None = SECRET, method: str = "POST",
             **fields: str) -> requests.Response:
        if auth is not None:
            fields["auth"] = auth
        if method == "GET":
            return requests.get(self.url + path, params=fields, timeout=10)
        return requests.post(self.url + path, data=fields, timeout=10)

    def alert(self, route: str = "sms-webhook") -> str:
        name = "Disk" + uuid.uuid4().hex[:8]
        body = json.loads(json.dumps(FIRING).replace("DiskFull1", name))
        answer = requests.post(f"{self.url}/alert/{route}", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        assert wait_for(lambda: self.texts(name), 10)
        return name

    def texts(self, needle: str) -> list[Any]:
        return [m for m in self.state.inbox if needle in m.text]


@pytest.fixture(scope="module")
def gateways() -> Iterator[tuple[ThreadedServer, Any]]:
    with sandbox_server() as pair:
        yield pair


@pytest.fixture(scope="module")
def alertmanager() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    app, silences = stand_in_alertmanager()
    with ThreadedServer(app) as server:
        yield server.url, silences


@contextmanager
def receiver(directory: Path, gateways: tuple[ThreadedServer, Any],
             alertmanager: tuple[str, list[dict[str, Any]]], extra: str = LOOP
             ) -> Iterator[Receiver]:
    sandbox, state = gateways
    config = loads(CONFIG.format(endpoint=sandbox.url, outbox=directory / "outbox.sqlite",
                                 extra=extra.replace("{am}", alertmanager[0])))
    outbox, dispatcher, metrics = build(config)
    try:
        with ThreadedServer(create_app(config, outbox, dispatcher, metrics=metrics,
                                       drain_timeout=5)) as server:
            yield Receiver(server.url, outbox, state, alertmanager[1])
    finally:
        outbox.close()


@pytest.fixture
def rx(tmp_path: Path, gateways: tuple[ThreadedServer, Any],
       alertmanager: tuple[str, list[dict[str, Any]]]) -> Iterator[Receiver]:
    with receiver(tmp_path, gateways, alertmanager) as made:
        yield made


def test_a_forwarded_ack_silences_the_group_and_is_confirmed(rx: Receiver, caplog: Any) -> None:
    name = rx.alert()
    before = len(rx.silences)
    with caplog.at_level(logging.DEBUG):
        answer = rx.post("/inbound/primary", source="447700900123", dest="447700900999",
                         msg="ACK 2h", id="4100001", receivedts="2026-07-01 14:05:00")
        assert (answer.status_code, answer.json()) == (200, {"status": "accepted", "replies": 1})
        assert wait_for(lambda: len(rx.silences) > before and rx.texts("ACK: silenced"), 10)
    silence = rx.silences[-1]
    assert [(m["name"], m["value"]) for m in silence["matchers"]] == [("alertname", name)]
    assert silence["createdBy"] == "sms-notify" and R in silence["comment"]
    assert [m.to for m in rx.texts(f"ACK: silenced alertname={name} for 2h")] == [R]
    assert SECRET not in caplog.text and "in%2Fb0und" not in caplog.text
    metrics = requests.get(rx.url + "/metrics", timeout=10).text
    assert 'sms_notify_replies_total{account="primary",outcome="acknowledged"} 1.0' in metrics
    assert 'sms_notify_inbound_requests_total{code="200",endpoint="inbound"} 1.0' in metrics


def test_the_same_reply_forwarded_twice_acts_once(rx: Receiver) -> None:
    rx.alert()
    before = len(rx.silences)
    for _ in range(2):
        assert rx.post("/inbound/primary", method="GET", source="447700900123", msg="ack",
                       id="4100002").status_code == 200
    assert wait_for(lambda: 'outcome="duplicate"} 1.0' in requests.get(
        rx.url + "/metrics", timeout=10).text, 10)
    assert len(rx.silences) == before + 1


@pytest.mark.parametrize(("auth", "error"), [(None, "missing"), ("nope", "wrong"),
                                             (SECRET + "x", "wrong")])
def test_without_the_secret_as_auth_a_request_is_refused(rx: Receiver, auth: str | None,
                                                         error: str) -> None:
    answer = rx.post("/inbound/primary", auth=auth, source="447700900123", msg="ACK")
    assert (answer.status_code, answer.json()) == (
        401, {"error": f"unauthorized: {error} auth (server.inbound_secret)"})


@pytest.mark.parametrize("path", ["/inbound/nobody", "/receipts/primary", "/inbound/primary"])
def test_without_the_secret_no_account_is_named(rx: Receiver, path: str) -> None:
    answer = rx.post(path, auth="nope")
    assert (answer.status_code, answer.json()) == (
        401, {"error": "unauthorized: wrong auth (server.inbound_secret)"})


@pytest.mark.parametrize(("path", "error"), [
    ("/inbound/nobody", "no account named 'nobody' in the config"),
    ("/inbound/backup", "server2sms pushes no replies (account 'backup')"),
    ("/receipts/primary", "FastSMS pushes no delivery reports (account 'primary')")])
def test_what_cannot_come_there_is_not_found(rx: Receiver, path: str, error: str) -> None:
    answer = rx.post(path)
    assert (answer.status_code, answer.json()) == (404, {"error": error})


def test_a_request_the_gateway_would_not_send_is_a_400(rx: Receiver) -> None:
    answer = rx.post("/inbound/primary", msg="ACK")
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("request: not a forwarded FastSMS message")


def test_a_pushed_report_is_recorded_and_the_text_goes_again_through_the_next_account(
        rx: Receiver) -> None:
    name = rx.alert("reversed")  # backup (server2sms) first, to the undeliverable number
    (job,) = [j for j in rx.outbox.jobs("sent") if name in j.text]
    assert job.account_name == "backup" and job.check_at == job.done_at + 5
    answer = rx.post("/receipts/backup", method="GET", TRN=job.reference, DST="2", RSN="108",
                     DSCTSUTC="2026-03-01T09:31:00Z")
    assert (answer.status_code, answer.json()) == (200, {"status": "recorded", "reports": 1})
    assert rx.post("/receipts/backup", method="GET", TRN=job.reference, DST="2").json()[
        "reports"] == 0
    assert wait_for(lambda: [m.gateway for m in rx.texts(name)] == ["server2sms", "fastsms"], 10)
    first = rx.outbox.get(job.id)
    assert (first.receipt, first.check_at) == ("undelivered", 0)


def test_requests_are_rate_limited_per_client(tmp_path: Path, gateways: Any, alertmanager: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbound, "PER_CLIENT", "3/minute")
    with receiver(tmp_path, gateways, alertmanager) as rx:
        codes = [rx.post("/inbound/primary", auth="wrong").status_code for _ in range(4)]
        limited = rx.post("/inbound/primary")
    assert codes == [401, 401, 401, 429]
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"


def test_a_flood_is_logged_once_a_minute_per_refusal_and_counted(
        tmp_path: Path, gateways: Any, alertmanager: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: Any) -> None:
    """A flood must not flood the log too: its refusals are counted in /metrics."""
    monkeypatch.setattr(inbound, "PER_CLIENT", "3/minute")
    with caplog.at_level(logging.INFO, "sms_notify.alertmanager"), \
            receiver(tmp_path, gateways, alertmanager) as rx:
        codes = [rx.post("/inbound/primary", auth="wrong").status_code for _ in range(50)]
        metrics = requests.get(rx.url + "/metrics", timeout=10).text
    assert codes == [401] * 3 + [429] * 47
    lines = [r.getMessage() for r in caplog.records if "event=inbound" in r.getMessage()]
    assert [line for line in lines if "code=429" in line] == [
        "event=inbound account=primary code=429 client=127.0.0.1 "
        'error="too many requests (at most 3/minute from one address); more are logged once '
        'a minute"']
    assert len(lines) == 2  # and one 401
    assert 'sms_notify_inbound_requests_total{code="429",endpoint="inbound"} 47.0' in metrics


def test_without_an_inbound_secret_both_are_off(tmp_path: Path, gateways: Any,
                                               alertmanager: Any) -> None:
    with receiver(tmp_path, gateways, alertmanager, extra="") as rx:
        answer = rx.post("/inbound/primary", source="447700900123", msg="ACK")
        rx.alert()
    assert (answer.status_code, answer.json()) == (
        404, {"error": "reports and replies are off: set server.inbound_secret"})
    with sqlite3.connect(tmp_path / "outbox.sqlite") as db:  # no page kept: nothing uses it
        assert db.execute("SELECT COUNT(*) FROM pages").fetchone()[0] == 0


def test_without_an_alertmanager_replies_are_ignored(tmp_path: Path, gateways: Any,
                                                     alertmanager: Any) -> None:
    extra = f"  inbound_secret: {json.dumps(SECRET)}\n"
    with receiver(tmp_path, gateways, alertmanager, extra=extra) as rx:
        answer = rx.post("/inbound/primary", source="447700900123", msg="ACK")
    assert (answer.status_code, answer.json()["status"]) == (200, "ignored")


def test_a_body_past_64_kib_is_refused(rx: Receiver) -> None:
    answer = requests.post(rx.url + "/inbound/primary", data=b"x" * (64 * 1024 + 1), timeout=10)
    assert (answer.status_code, answer.json()) == (413, {"error": "body: larger than 65536 bytes"})

    def chunks() -> Iterator[bytes]:
        for _ in range(80):
            yield b"y" * 1024

    assert requests.post(rx.url + "/inbound/primary", data=chunks(), timeout=10).status_code == 413
