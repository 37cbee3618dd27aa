"""The receiver over HTTP: a real uvicorn, a real SqliteOutbox and dispatcher, and the sandbox's
gateway simulators, all in this process on free ports of 127.0.0.1.

What Alertmanager sees (status codes, JSON errors) and what the phones get (the sandbox inbox).
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sms_notify.config import loads
from sms_notify.errors import ConfigError
from sms_notify.integrations.alertmanager.demo import (
    FIRING,
    ThreadedServer,
    resolved,
    sandbox_server,
    wait_for,
)
from sms_notify.integrations.alertmanager.server import build, create_app
from sms_notify.outbox import OutboxError

TOKEN = "s3cret-T0ken/+="
NUMBERS = ("+447700900123", "+447700900124")
CONFIG = """\
accounts:
  primary: fastsms://sandbox@?from=Alerts&endpoint={endpoint}
  backup: server2sms://sandbox:sandbox@?from=Alerts&endpoint={endpoint}
routes:
  sms-webhook: {{to: ["+447700900123", "+447700900124"], via: [primary, backup]}}
  web.hook: {{to: ["+447700900125"], via: [primary]}}
  team a/b c: {{to: ["+447700900126"], via: [backup]}}
  quiet: {{to: ["+447700900127"], via: [primary], send_resolved: false}}
  long: {{to: ["+447700900128"], via: [primary], max_segments: 3}}
{routes}
dedup_window: 10m
server:
  outbox: {outbox}
  max_body: {max_body}
{auth}
"""


@dataclass
class Receiver:
    url: str
    outbox: Any
    dispatcher: Any
    state: Any  # the sandbox's state: inbox, faults
    headers: dict[str, Any]

    def post(self, payload: Any, route: str | None = None, **kwargs: Any) -> requests.Response:
        """POST as Alertmanager does: its credentials and Content-Type: application/json,
        unless `headers` says otherwise."""
        kwargs["headers"] = {"Content-Type": "application/json",
                             **kwargs.get("headers", self.headers)}
        path = "/alert" if route is None else f"/alert/{route}"
        if isinstance(payload, (dict, list)):
            kwargs["json"] = payload
        else:
            kwargs["data"] = payload
        return requests.post(self.url + path, timeout=10, **kwargs)

    def texts(self, name: str) -> list[Any]:
        return [m for m in self.state.inbox if name in m.text]

    def delivered(self, name: str, count: int, timeout: float = 10.0) -> list[Any]:
        wait_for(lambda: len(self.texts(name)) >= count, timeout)
        return self.texts(name)


@pytest.fixture(scope="module")
def gateways() -> Iterator[tuple[ThreadedServer, Any]]:
    with sandbox_server() as pair:
        yield pair


@contextmanager
def receiver(directory: Path, gateways: tuple[ThreadedServer, Any], auth: str = "bearer",
             max_body: int = 8192, token: str = TOKEN, routes: str = "") -> Iterator[Receiver]:
    sandbox, state = gateways
    directory.mkdir(parents=True, exist_ok=True)
    auth_yaml = {
        "bearer": f"  bearer_token: {json.dumps(token)}",
        "basic": "  basic_auth: {username: am, password: " + json.dumps(token) + "}",
        "none": "",
    }[auth]
    config = loads(CONFIG.format(endpoint=sandbox.url, outbox=directory / "outbox.sqlite",
                                 max_body=max_body, auth=auth_yaml, routes=routes))
    outbox, dispatcher, metrics = build(config)
    headers = {"bearer": {"Authorization": f"Bearer {token}".encode()},
               "basic": {"Authorization": "Basic " + base64.b64encode(
                   f"am:{token}".encode()).decode()},
               "none": {}}[auth]
    try:
        app = create_app(config, outbox, dispatcher, metrics=metrics, drain_timeout=5)
        with ThreadedServer(app) as server:
            yield Receiver(server.url, outbox, dispatcher, state, headers)
    finally:
        outbox.close()


@pytest.fixture
def rx(tmp_path: Path, gateways: tuple[ThreadedServer, Any]) -> Iterator[Receiver]:
    with receiver(tmp_path, gateways) as r:
        yield r


def alert(name: str | None = None, receiver_name: str = "sms-webhook", n: int = 1,
          status: str = "firing") -> dict[str, Any]:
    """A real-shaped payload whose alertname (and so group and fingerprints) is unique."""
    name = name or "Alert" + uuid.uuid4().hex[:10]
    data = copy.deepcopy(FIRING)
    data["receiver"] = receiver_name
    data["groupKey"] = '{}:{alertname="%s"}' % name
    data["groupLabels"] = {"alertname": name}
    data["commonLabels"] = {"alertname": name, "severity": "critical"}
    base = data["alerts"][0]
    data["alerts"] = [
        {**copy.deepcopy(base), "labels": {**base["labels"], "alertname": name,
                                           "instance": f"db{i}:9100"},
         "annotations": {"summary": f"{name} is down"}, "fingerprint": f"{name}-{i}"}
        for i in range(n)
    ]
    return data if status == "firing" else resolved(data)


# Routing, delivery, dedup.

def test_firing_then_resolved_reach_the_phones(rx: Receiver) -> None:
    payload = alert()
    name = payload["groupLabels"]["alertname"]
    answer = rx.post(payload)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "accepted", "jobs": 2, "duplicates": 0,
                             "route": "sms-webhook"}
    texts = rx.delivered(f"FIRING {name}", 2)
    assert sorted(m.to for m in texts) == list(NUMBERS)
    assert {m.gateway for m in texts} == {"fastsms"}
    assert texts[0].text == f"FIRING {name} critical\ndb0:9100: {name} is down"
    assert rx.post(resolved(payload)).status_code == 200
    assert len(rx.delivered(f"RESOLVED {name}", 2)) == 2


@pytest.mark.parametrize(
    ("receiver_name", "route"),
    [("web.hook", "web.hook"), (r"web\.hook", "web.hook"), ("team a/b c", "team a/b c"),
     (r"team a/b c", "team a/b c")],
)
def test_routes_by_receiver_name_as_alertmanager_sends_it(
        rx: Receiver, receiver_name: str, route: str) -> None:
    payload = alert(receiver_name=receiver_name)
    answer = rx.post(payload)
    assert answer.status_code == 200, answer.text
    assert answer.json()["route"] == route
    assert len(rx.delivered(payload["groupLabels"]["alertname"], 1)) == 1


@pytest.mark.parametrize("path", ["web.hook", "team%20a/b%20c", "team a/b c"])
def test_route_in_the_path_wins_over_the_receiver(rx: Receiver, path: str) -> None:
    payload = alert(receiver_name="not-a-route")
    del payload["receiver"]
    answer = rx.post(payload, route=path)
    assert answer.status_code == 200, answer.text
    assert answer.json()["route"] == path.replace("%20", " ")


def test_unknown_route_is_a_404_naming_it(rx: Receiver) -> None:
    answer = rx.post(alert(receiver_name="nobody"))
    assert answer.status_code == 404
    assert answer.json()["error"].startswith('receiver: no route named "nobody"')
    assert rx.post(alert(), route="nobody").status_code == 404


def test_a_resent_payload_sends_nothing_again(rx: Receiver) -> None:
    payload = alert(n=3)
    name = payload["groupLabels"]["alertname"]
    assert rx.post(payload).json()["jobs"] == 2
    rx.delivered(name, 2)
    again = rx.post(payload)
    assert again.status_code == 200
    assert again.json() == {"status": "accepted", "jobs": 0, "duplicates": 2,
                            "route": "sms-webhook"}
    payload["alerts"].reverse()  # same set of alerts in another order: still the same
    assert rx.post(payload).json()["duplicates"] == 2
    rx.dispatcher.wait_idle(5)
    assert len(rx.texts(name)) == 2
    # a new alert in the group is news
    payload["alerts"].append({**payload["alerts"][0], "fingerprint": "another"})
    assert rx.post(payload).json()["jobs"] == 2


def test_concurrent_copies_of_one_payload_are_accepted_once(rx: Receiver) -> None:
    """Both members of an HA pair (and a retry) at the same instant: commits are shared between
    concurrent requests, and dedup still holds inside one commit."""
    from concurrent.futures import ThreadPoolExecutor

    payload = alert()
    with ThreadPoolExecutor(10) as pool:
        answers = [a.json() for a in pool.map(lambda _: rx.post(payload), range(10))]
    assert sum(a["jobs"] for a in answers) == 2
    assert sum(a["duplicates"] for a in answers) == 18
    others = [alert() for _ in range(20)]
    with ThreadPoolExecutor(10) as pool:
        assert all(a.json()["jobs"] == 2 for a in pool.map(rx.post, others))
    rx.dispatcher.wait_idle(10)
    assert len(rx.texts(payload["groupLabels"]["alertname"])) == 2


def test_send_resolved_false_accepts_and_sends_nothing(rx: Receiver) -> None:
    payload = alert(receiver_name="quiet")
    name = payload["groupLabels"]["alertname"]
    assert rx.post(payload).status_code == 200
    rx.delivered(name, 1)
    answer = rx.post(resolved(payload))
    assert answer.status_code == 200
    assert answer.json()["status"] == "ignored"
    rx.dispatcher.wait_idle(5)
    assert [m.text.split()[0] for m in rx.texts(name)] == ["FIRING"]


def test_send_resolved_false_leaves_resolved_alerts_out_of_a_firing_text(rx: Receiver) -> None:
    payload = alert(receiver_name="quiet", n=2)
    payload["alerts"][1]["status"] = "resolved"
    assert rx.post(payload).status_code == 200
    (text,) = rx.delivered(payload["groupLabels"]["alertname"], 1)
    assert "db1:9100" not in text.text and "resolved" not in text.text


def test_route_max_segments_allows_longer_texts(rx: Receiver) -> None:
    payload = alert(receiver_name="long", n=12)
    assert rx.post(payload).status_code == 200
    (text,) = rx.delivered(payload["groupLabels"]["alertname"], 1)
    assert 1 < text.parts <= 3


# Authentication.

@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer wrong", f"bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN,
     "Basic " + base64.b64encode(f"am:{TOKEN}".encode()).decode()],
)
def test_bearer_auth_refuses_anything_else(rx: Receiver, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    answer = rx.post(alert(), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="sms-notify"'
    assert "error" in answer.json()
    assert rx.post(alert(), headers={"Authorization": f"bearer  {TOKEN} "}).status_code == 200


def test_basic_auth(tmp_path: Path, gateways: tuple[ThreadedServer, Any]) -> None:
    with receiver(tmp_path, gateways, auth="basic") as r:
        assert r.post(alert()).status_code == 200
        for user, password in (("am", "nope"), ("other", TOKEN), ("", "")):
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            answer = r.post(alert(), headers={"Authorization": f"Basic {token}"})
            assert answer.status_code == 401
            assert answer.headers["WWW-Authenticate"] == 'Basic realm="sms-notify"'
        for junk in ("Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(),
                     f"Bearer {TOKEN}"):
            assert r.post(alert(), headers={"Authorization": junk}).status_code == 401


@pytest.mark.parametrize("secret", ["p\u00e4ss-\u00e9t\u00e9-\u2603", "\u00fcser:\u00e9"])
def test_a_non_ascii_secret_matches_its_utf8_bytes(tmp_path: Path,
                                                   gateways: tuple[ThreadedServer, Any],
                                                   secret: str) -> None:
    """Clients send a token's UTF-8 bytes (curl, Go's net/http): those must match."""
    with receiver(tmp_path, gateways, token=secret) as r:
        bearer = b"Bearer " + secret.encode()
        assert r.post(alert(), headers={"Authorization": bearer}).status_code == 200
        latin1 = b"Bearer " + secret.encode("utf-8").decode("latin-1").encode("utf-8")
        assert r.post(alert(), headers={"Authorization": latin1}).status_code == 401
    with receiver(tmp_path / "basic", gateways, auth="basic", token=secret) as r:
        basic = b"Basic " + base64.b64encode(b"am:" + secret.encode())
        assert r.post(alert(), headers={"Authorization": basic}).status_code == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx"])
def test_a_body_not_declared_json_is_a_415(rx: Receiver, content_type: str | None) -> None:
    """What a web page can POST cross-site without a CORS preflight never gets in."""
    headers = {**rx.headers, "Content-Type": content_type} if content_type else rx.headers
    body = json.dumps(alert()).encode()
    answer = requests.post(rx.url + "/alert", data=body, headers=headers, timeout=10)
    assert answer.status_code == 415, answer.text
    assert "application/json" in answer.json()["error"]
    assert rx.outbox.jobs() == []


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8",
                                          "application/vnd.alertmanager+json"])
def test_json_content_types_are_accepted(rx: Receiver, content_type: str) -> None:
    answer = rx.post(alert(), headers={**rx.headers, "Content-Type": content_type})
    assert answer.status_code == 200, answer.text


def test_no_auth_configured_means_open(tmp_path: Path, gateways: tuple[ThreadedServer, Any]
                                       ) -> None:
    with receiver(tmp_path, gateways, auth="none") as r:
        assert r.post(alert()).status_code == 200


def raw_post(rx: Receiver, headers: list[str], body: bytes) -> int:
    """POST /alert with headers exactly as given (repeats included); the status code."""
    host, port = rx.url.removeprefix("http://").split(":")
    head = "".join(f"{h}\r\n" for h in ["POST /alert HTTP/1.1", "Host: x", "Connection: close",
                                         "Content-Type: application/json",
                                         f"Content-Length: {len(body)}", *headers])
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_the_first_of_two_authorization_headers_counts(rx: Receiver) -> None:
    """As with Starlette's headers.get(): a proxy that appends its own header changes nothing."""
    good, bad = f"Authorization: Bearer {TOKEN}", "Authorization: Bearer wrong"
    body = json.dumps(alert()).encode()
    assert raw_post(rx, [good, bad], body) == 200
    assert raw_post(rx, [bad, good], body) == 401


def test_auth_is_checked_before_the_body_is_read(rx: Receiver) -> None:
    answer = rx.post(b"x" * 100_000, headers={})
    assert answer.status_code == 401


# Size limit.

def test_a_body_over_the_limit_is_a_413(rx: Receiver) -> None:
    answer = rx.post(b"{" + b" " * 9000 + b"}")
    assert answer.status_code == 413
    assert "8192 bytes" in answer.json()["error"]


def test_a_chunked_body_over_the_limit_is_a_413(rx: Receiver) -> None:
    answer = rx.post(iter([b" " * 1000] * 20))  # no Content-Length: counted as it streams
    assert answer.status_code == 413


def test_a_client_gone_mid_body_costs_nothing(rx: Receiver, caplog: Any) -> None:
    """Half a body, then the connection closes: no job, no error logged, the next one works."""
    caplog.set_level(logging.INFO)
    host, port = rx.url.removeprefix("http://").split(":")
    body = json.dumps(alert()).encode()
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"POST /alert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Authorization: Bearer {TOKEN}\r\n".encode()
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[: len(body) // 2])
    name = "After" + uuid.uuid4().hex[:8]
    assert rx.post(alert(name)).status_code == 200
    time.sleep(0.3)  # the receiver notices the closed connection on its own time
    assert [j.text for j in rx.outbox.jobs()] == [j.text for j in rx.outbox.jobs()
                                                  if name in j.text]
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
            and r.name.startswith(("sms_notify.alertmanager", "uvicorn"))]
    assert not said, said  # not a 400 for half a body, not a 500


def test_a_body_just_under_the_limit_is_read(rx: Receiver) -> None:
    payload = alert()
    payload["commonAnnotations"] = {"pad": ""}
    size = len(json.dumps(payload))
    payload["commonAnnotations"]["pad"] = "x" * (8192 - size)
    assert len(json.dumps(payload)) == 8192
    assert rx.post(payload).status_code == 200
    assert rx.post(iter([json.dumps(payload).encode()])).json()["duplicates"] == 2


# Errors that are not the client's.

def test_outbox_failure_is_a_503_and_nothing_is_lost(rx: Receiver, monkeypatch: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OutboxError("outbox /x: database or disk is full")

    payload = alert()
    monkeypatch.setattr(rx.outbox, "enqueue", broken)
    answer = rx.post(payload)
    assert answer.status_code == 503
    assert "disk is full" in answer.json()["error"]
    monkeypatch.undo()
    assert rx.post(payload).json()["jobs"] == 2  # Alertmanager's retry goes through
    assert len(rx.delivered(payload["groupLabels"]["alertname"], 2)) == 2


def test_health_and_readiness(rx: Receiver, monkeypatch: Any) -> None:
    assert requests.get(rx.url + "/-/healthy", timeout=5).status_code == 200
    assert requests.get(rx.url + "/-/ready", timeout=5).status_code == 200

    def broken() -> Any:
        raise OutboxError("closed")

    monkeypatch.setattr(rx.outbox, "check", broken)
    answer = requests.get(rx.url + "/-/ready", timeout=5)
    assert answer.status_code == 503 and "outbox" in answer.text


def test_unknown_paths_and_methods_are_json_errors(rx: Receiver) -> None:
    answer = requests.get(rx.url + "/alert", timeout=5)
    assert answer.status_code == 405 and "error" in answer.json()
    answer = requests.post(rx.url + "/nothing", timeout=5)
    assert answer.status_code == 404 and "error" in answer.json()


# Metrics and secrets.

def test_metrics(rx: Receiver) -> None:
    payload = alert()
    rx.post(payload)
    rx.post(payload)
    rx.post(alert(receiver_name="nobody"))
    rx.post(alert(), headers={})
    rx.delivered(payload["groupLabels"]["alertname"], 2)
    rx.dispatcher.wait_idle(5)
    text = requests.get(rx.url + "/metrics", timeout=5).text
    assert 'sms_notify_webhooks_total{code="200",route="sms-webhook"} 2.0' in text
    assert 'sms_notify_webhooks_total{code="404",route="(unknown)"} 1.0' in text
    assert 'sms_notify_webhooks_total{code="401",route="(unknown)"} 1.0' in text
    assert 'sms_notify_jobs_duplicate_total{route="sms-webhook"} 2.0' in text
    assert ('sms_notify_messages_total{account="primary",outcome="sent",provider="fastsms"} 2.0'
            in text)
    assert ('sms_notify_message_parts_total{account="primary",outcome="sent",provider="fastsms"}'
            ' 2.0' in text)
    assert 'sms_notify_send_seconds_count{account="primary",provider="fastsms"}' in text
    assert "sms_notify_outbox_depth 0.0" in text
    assert "sms_notify_outbox_oldest_pending_age_seconds 0.0" in text
    assert "sms_notify_dead_letters 0.0" in text
    assert 'sms_notify_jobs_finished_total{route="sms-webhook",state="sent"} 2.0' in text
    assert 'sms_notify_jobs_finished_total{route="quiet",state="dead"} 0.0' in text  # from start
    assert 'sms_notify_account_failing{account="primary",provider="fastsms"} 0.0' in text
    assert "nobody" not in text and "_created" not in text


def test_a_failing_account_is_said_once_and_counted_until_it_works(
    rx: Receiver, caplog: Any
) -> None:
    from sms_notify.sandbox import parse_fault

    caplog.set_level(logging.INFO, logger="sms_notify.accounts")
    rx.state.add_fault(parse_fault({"gateway": "fastsms", "kind": "error_code", "code": "auth",
                                    "count": 1}, rx.state.simulators))
    first, second = alert(), alert()
    rx.post(first)
    rx.delivered(first["groupLabels"]["alertname"], 2)  # through the backup
    failing = requests.get(rx.url + "/metrics", timeout=5).text
    assert 'sms_notify_account_failing{account="primary",provider="fastsms"} 1.0' in failing
    rx.post(second)
    rx.delivered(second["groupLabels"]["alertname"], 2)  # the primary works again
    rx.dispatcher.wait_idle(5)
    text = requests.get(rx.url + "/metrics", timeout=5).text
    assert 'sms_notify_account_failing{account="primary",provider="fastsms"} 0.0' in text
    said = [r.getMessage() for r in caplog.records if r.name == "sms_notify.accounts"]
    assert len(said) == 2, said
    assert said[0].startswith("event=account_failing account=primary provider=fastsms "
                              'category=auth reason="auth: -501 ')
    assert said[1].startswith("event=account_ok account=primary provider=fastsms was=auth ")


def test_no_secret_in_answers_metrics_or_logs(rx: Receiver, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [
        rx.post(alert()),
        rx.post(alert(), headers={"Authorization": f"Bearer {TOKEN}x"}),
        rx.post(b"{", headers=rx.headers),
        rx.post(alert(receiver_name="nobody")),
    ]
    rx.dispatcher.wait_idle(5)
    answers.append(requests.get(rx.url + "/metrics", timeout=5))
    seen = "\n".join(a.text for a in answers) + caplog.text
    assert "sandbox:sandbox@" not in seen and "//sandbox@" not in seen  # account URLs
    assert TOKEN not in seen


def test_config_with_an_impossible_number_fails_at_start(tmp_path: Path) -> None:
    from sms_notify.integrations.alertmanager.server import compile_routes

    with pytest.raises(ConfigError, match=r"routes\.r\.to\[0\]"):  # the config check refuses it
        loads("accounts: {a: 'fastsms://t@?from=A'}\nroutes: {r: {to: ['+44', '12ab'], via: [a]}}")
    config = loads("accounts: {a: 'fastsms://t@?from=A'}\nroutes: {r: {via: [a]}}")
    with pytest.raises(ConfigError, match=r"routes\.r\.to: no recipient"):
        compile_routes(config)


def test_recipients_from_account_urls_count(tmp_path: Path) -> None:
    from sms_notify.integrations.alertmanager.server import compile_routes

    config = loads("accounts: {a: 'fastsms://t@+447700900123?from=A'}\nroutes: {r: {via: [a]}}")
    assert compile_routes(config)["r"].recipients == ("+447700900123",)


def test_an_accounts_region_reads_its_national_numbers(tmp_path: Path) -> None:
    """As `send` reads them: the account's ?region= when the config sets none."""
    from sms_notify.integrations.alertmanager.server import compile_routes

    config = loads("accounts: {a: 'fastsms://t@07700900123?region=GB&from=A'}\nroutes: {r: {via: [a]}}")
    assert compile_routes(config)["r"].recipients == ("+447700900123",)


def test_a_route_with_only_a_gateway_list_says_the_receiver_texts_numbers() -> None:
    from sms_notify.integrations.alertmanager.server import compile_routes

    config = loads("accounts: {a: 'fastsms://t@?list=oncall&from=A'}\nroutes: {r: {via: [a]}}")
    with pytest.raises(ConfigError, match=r"routes\.r\.to: no recipient.*\?list= are for send"):
        compile_routes(config)


# Templates and huge labels: off the event loop, within a budget.

SLOW = ("{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}"
        "{{ status }} custom")
ROUTES = "\n".join(f"  {name}: {{to: [\"+447700900129\"], via: [primary], template: {json.dumps(t)}}}"
                    for name, t in (("slow", SLOW), ("quick", "{{ status }} custom {{ groupKey }}")))


def test_a_slow_template_neither_blocks_the_receiver_nor_holds_the_alert(
        tmp_path: Path, gateways: tuple[ThreadedServer, Any], caplog: Any) -> None:
    """A template that loops for seconds: other requests are answered meanwhile, and its alert
    goes out with the default text once the template is over its budget, with one log line."""
    caplog.set_level(logging.WARNING, "sms_notify.alertmanager")
    with receiver(tmp_path, gateways, routes=ROUTES) as r:
        payload = alert(receiver_name="slow")
        answers: list[requests.Response] = []
        post = threading.Thread(target=lambda: answers.append(r.post(payload)))
        post.start()
        time.sleep(0.3)  # the slow one is rendering now
        quick = r.post(alert(receiver_name="quick"))  # another route, meanwhile
        answered_meanwhile = post.is_alive()
        post.join(30)
        assert quick.status_code == 200, quick.text
        assert answered_meanwhile, "the quick alert waited for the slow template"
        assert answers and answers[0].status_code == 200, answers
        (text,) = r.delivered(payload["groupLabels"]["alertname"], 1)
        assert text.text.startswith("FIRING") and "custom" not in text.text  # the default
        timeouts = [m for m in caplog.messages if "event=template_timeout" in m]
        assert len(timeouts) == 1, caplog.messages


def test_huge_labels_make_a_short_text(tmp_path: Path, gateways: tuple[ThreadedServer, Any]
                                       ) -> None:
    with receiver(tmp_path, gateways, max_body=20_000_000) as r:
        payload = alert()
        payload["alerts"][0]["annotations"]["summary"] = "disk full " * 500_000  # 5 MB
        payload["alerts"][0]["labels"]["instance"] = "db" * 1_000_000
        answer = r.post(payload)
        assert answer.status_code == 200, answer.text
        texts = r.delivered(payload["groupLabels"]["alertname"], 2)
        assert texts[0].parts == 1 and texts[0].text.startswith("FIRING"), texts[0]


# Bad input: never a 5xx, never a crash, and a valid alert afterwards is still delivered.

CORPUS: list[tuple[Any, dict[str, str] | None]] = [
    (b"", None), (b"{", None), (b"null", None), (b"[]", None), (b'"x"', None), (b"1e999", None),
    (b"\xff\xfe\xfd", None), (b"\x00" * 100, None), (b"[" * 100_000, None),
    (b'{"a":' * 50_000, None), (b"9" * 5000, None), (b'{"receiver": "\\ud800"}', None),
    ({"receiver": "sms-webhook"}, None), ({"receiver": "sms-webhook", "status": "firing"}, None),
    ({"receiver": "sms-webhook", "status": "firing", "alerts": [None]}, None),
    ({"receiver": "sms-webhook", "status": "firing", "alerts": [{"labels": {"a": {}}}]}, None),
    ({"receiver": "sms-webhook", "status": "firing", "alerts": [{"labels": {}}],
      "truncatedAlerts": 10**30}, None),
    ({"receiver": "x" * 5000, "status": "firing", "alerts": [{"labels": {}}]}, None),
    ({"receiver": "\\", "status": "firing", "alerts": [{"labels": {}}]}, None),
    (b"x" * 50_000, None),
    (b"{}", {"Authorization": "Basic"}), (b"{}", {"Authorization": "\u00ff"}),
    (b"{}", {"Content-Length": "-1"}), (b"{}", {"Content-Type": "text/plain"}),
]


@pytest.fixture(scope="module")
def shared_rx(tmp_path_factory: Any, gateways: tuple[ThreadedServer, Any]) -> Iterator[Receiver]:
    with receiver(tmp_path_factory.mktemp("rx"), gateways) as r:
        yield r


@pytest.mark.parametrize(("body", "headers"), CORPUS)
def test_bad_input_corpus(shared_rx: Receiver, body: Any, headers: dict[str, str] | None
                          ) -> None:
    extra = {**shared_rx.headers, **(headers or {})}
    try:
        answer = shared_rx.post(body, headers=extra)
    except requests.exceptions.InvalidHeader:
        return  # requests itself refuses it: nothing reached the receiver
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    assert answer.json()["error"]


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


def mutated() -> st.SearchStrategy[Any]:
    """A valid payload with one field, anywhere, replaced by an arbitrary JSON value."""
    paths = [("receiver",), ("status",), ("alerts",), ("groupKey",), ("truncatedAlerts",),
             ("commonLabels",), ("groupLabels",), ("alerts", 0), ("alerts", 0, "labels"),
             ("alerts", 0, "status"), ("alerts", 0, "annotations"), ("alerts", 0, "fingerprint"),
             ("alerts", 0, "labels", "alertname"), ("alerts", 0, "annotations", "summary")]

    def build_one(path: tuple[Any, ...], value: Any) -> Any:
        data = alert()
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return data

    return st.builds(build_one, st.sampled_from(paths), json_values())


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.one_of(json_values(), mutated(), st.binary(max_size=300)))
def test_bad_input_fuzz(shared_rx: Receiver, body: Any) -> None:
    if isinstance(body, bytes):
        answer = shared_rx.post(body)
    else:
        answer = shared_rx.post(json.dumps(body).encode())
    assert answer.status_code < 500, answer.text
    assert answer.status_code in (200, 400, 404, 413, 422), answer.text
    if answer.status_code != 200:
        assert answer.json()["error"]


def test_after_bad_input_a_valid_alert_is_still_delivered(shared_rx: Receiver) -> None:
    for body, headers in CORPUS:
        try:
            shared_rx.post(body, headers={**shared_rx.headers, **(headers or {})})
        except requests.exceptions.InvalidHeader:
            pass
    # concurrent garbage and a good alert
    threads = [threading.Thread(target=shared_rx.post, args=(b"[" * 50_000,)) for _ in range(8)]
    for t in threads:
        t.start()
    payload = alert()
    assert shared_rx.post(payload).status_code == 200
    for t in threads:
        t.join()
    assert len(shared_rx.delivered(payload["groupLabels"]["alertname"], 2)) == 2
    assert requests.get(shared_rx.url + "/-/ready", timeout=5).status_code == 200


# Grafana's alerting webhook contact point: Alertmanager's shape plus orgId, title, state,
# message, and per alert values, silenceURL, dashboardURL, panelURL (the example payload of
# Grafana's "Configure the webhook notifier for Alerting" page).
GRAFANA = Path(__file__).parent / "fixtures" / "grafana" / "grafana-webhook-firing.json"


def test_grafana_contact_point_posting_to_a_route_path(rx: Receiver) -> None:
    payload = json.loads(GRAFANA.read_text())
    payload["alerts"][0]["labels"]["alertname"] += " " + uuid.uuid4().hex[:8]  # this test's own
    name = payload["alerts"][0]["labels"]["alertname"]
    answer = rx.post(payload, route="sms-webhook")
    assert answer.status_code == 200, answer.text
    assert answer.json()["jobs"] == 2
    texts = rx.delivered(name, 2)
    assert {t.to for t in texts} == set(NUMBERS)
    assert texts[0].text == (f"FIRING:2\n{name}: This alert was triggered for zone us-1\n"
                             "High CPU usage: This alert was triggered for zone eu-1")
    # Grafana's receiver is the contact point's name, not a route: point it at /alert/ROUTE.
    missing = rx.post(payload)
    assert missing.status_code == 404
    assert 'no route named "My Super Webhook"' in missing.json()["error"]
    gone = resolved(payload)
    gone["state"] = "ok"
    assert rx.post(gone, route="sms-webhook").status_code == 200
    back = [t.text for t in rx.delivered(name, 4) if t.text.startswith("RESOLVED")]
    assert back and back[0].startswith(f"RESOLVED:2\n{name}: ")


def test_without_server_outbox_serve_says_where_the_outbox_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))  # as systemd sets it
    config = loads("accounts: {p: 'fastsms://t@?from=A'}\n"
                   "routes: {r: {to: ['+447911123456'], via: [p]}}\n")
    with caplog.at_level(logging.WARNING, logger="sms_notify.alertmanager"):
        outbox, _, _ = build(config)
    outbox.close()
    where = tmp_path / "state" / "outbox.sqlite"
    assert where.exists()
    (said,) = [r.getMessage() for r in caplog.records if "outbox_default" in r.getMessage()]
    assert said.startswith(f"event=outbox_default outbox={where} hint=")
