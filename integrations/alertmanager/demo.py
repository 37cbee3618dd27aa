"""`sms-notify demo`: the whole Alertmanager path on this machine, with no account anywhere.

It starts the sandbox (all five gateway simulators) and the receiver on free ports of
127.0.0.1, with an embedded config and an outbox in a temporary directory, posts a real
Alertmanager 0.25 firing payload and then its resolved one, waits until the texts arrived, and
prints what each gateway received. After the firing texts, the first phone replies `ACK 30m`:
the sandbox's FastSMS forwards the reply to the receiver, which silences the group in a stand-in
for Alertmanager's API and texts a confirmation back (docs/design.md, Decision 15). Then the
sandbox's FastSMS account runs out of credit, so the resolved text shows failover to the route's
second account. Everything stops and is removed at the end, in a few seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

# A real payload, as Alertmanager 0.25 posted it (e2e/RECIPES.md, "Real payloads").
FIRING: dict[str, Any] = {
    "receiver": "sms-webhook",
    "status": "firing",
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "DiskFull1", "instance": "db1:9100", "job": "node",
                   "severity": "critical"},
        "annotations": {"description": "Host db1 unreachable", "summary": "DiskFull1 is down"},
        "startsAt": "2026-11-22T11:20:23.312Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up%3D%3D0",
        "fingerprint": "5e3c3e0f7af73df2",
    }],
    "groupLabels": {"alertname": "DiskFull1"},
    "commonLabels": {"alertname": "DiskFull1", "instance": "db1:9100", "job": "node",
                     "severity": "critical"},
    "commonAnnotations": {"description": "Host db1 unreachable", "summary": "DiskFull1 is down"},
    "externalURL": "http://vm:19093",
    "version": "4",
    "groupKey": '{}:{alertname="DiskFull1"}',
    "truncatedAlerts": 0,
}


def resolved(firing: dict[str, Any], ends_at: str = "2026-11-22T11:20:26.499Z") -> dict[str, Any]:
    """The resolved notification of the same group: only status and endsAt change."""
    alerts = [{**a, "status": "resolved", "endsAt": ends_at} for a in firing["alerts"]]
    return {**firing, "status": "resolved", "alerts": alerts}


TOKEN = "sandbox"
SECRET = "demo-inbound-secret"  # server.inbound_secret: what FastSMS forwards replies with
RECIPIENTS = ("+447700900123", "+447700900456")
REPLY = "ACK 30m"
CONFIG = """\
accounts:
  primary: fastsms://sandbox@?from=Alerts&endpoint={endpoint}
  backup: server2sms://sandbox:sandbox@?from=Alerts&endpoint={endpoint}
routes:
  sms-webhook:
    to: [{to}]
    via: [primary, backup]
    max_segments: 1
    send_resolved: true
dedup_window: 10m
alertmanager:
  url: {alertmanager}
acks: {{duration: 1h, max_duration: 24h}}
server:
  listen: 127.0.0.1:0
  bearer_token: {token}
  outbox: {outbox}
  inbound_secret: {secret}
"""


class ThreadedServer:
    """An ASGI app on uvicorn in a background thread, on a free port of 127.0.0.1: the demo
    runs the sandbox and the receiver in one process, and the tests use it too."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        import uvicorn

        from sms_notify.listen import address, bind

        self.sock = bind(host, 0)
        self.url = address(self.sock)
        self.server = uvicorn.Server(uvicorn.Config(  # uvicorn logs through ours (logs.py)
            app, log_config=None, access_log=False, lifespan="on",
            timeout_graceful_shutdown=5,
        ))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="sms-notify-demo-server", daemon=True)

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 40.0) -> None:
        """Stop as on SIGTERM: the app's lifespan shutdown (a drain) runs before this returns."""
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def sandbox_server() -> Iterator[tuple[ThreadedServer, Any]]:
    """The sandbox app in this process; yields the server and its state (inbox, faults)."""
    from sms_notify.sandbox import build_app, collect_simulators

    app, state = build_app(collect_simulators())
    with ThreadedServer(app) as server:
        yield server, state


def demo_config(endpoint: str, outbox: str, alertmanager: str) -> Any:
    from sms_notify.config import loads

    to = ", ".join(json.dumps(n) for n in RECIPIENTS)
    return loads(CONFIG.format(endpoint=endpoint, to=to, token=TOKEN, outbox=outbox,
                               alertmanager=alertmanager, secret=SECRET), "demo")


def stand_in_alertmanager() -> tuple[Any, list[dict[str, Any]]]:
    """Alertmanager's silences API, enough for the demo: POST and GET /api/v2/silences. The
    real one is used by the end-to-end tests (tests/e2e/test_acks.py)."""
    import uuid

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    silences: list[dict[str, Any]] = []

    async def endpoint(request: Request) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse(silences)
        silence = {**await request.json(), "id": str(uuid.uuid4())}
        silences.append(silence)
        return JSONResponse({"silenceID": silence["id"]})

    return Starlette(routes=[Route("/api/v2/silences", endpoint, methods=["GET", "POST"])]), \
        silences


def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                        help="how long to wait for each delivery (default 20)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def demo(args: argparse.Namespace) -> int:
    """Run the path end to end and print what the phones received."""
    from .server import build, create_app

    timeout = float(getattr(args, "timeout", 20.0))
    if not getattr(args, "verbose", 0):  # the example numbers are fictional: no range warnings
        logging.getLogger("sms_notify").setLevel(logging.ERROR)
    told = StoryLines()  # what serve tells an operator is part of the story, in its place
    accounts = logging.getLogger("sms_notify.accounts")
    accounts.propagate = False
    accounts.addHandler(told)
    am_app, silences = stand_in_alertmanager()
    with tempfile.TemporaryDirectory(prefix="sms-notify-demo-") as tmp, \
            sandbox_server() as (sandbox, state), ThreadedServer(am_app) as alertmanager:
        config = demo_config(sandbox.url, str(Path(tmp) / "outbox.sqlite"), alertmanager.url)
        outbox, dispatcher, metrics = build(config)
        try:
            with ThreadedServer(create_app(config, outbox, dispatcher, metrics=metrics,
                                           drain_timeout=5.0)) as receiver:
                print(f"sandbox gateways on {sandbox.url} (inbox: {sandbox.url}/)")
                print(f"receiver (sms-notify serve) on {receiver.url}, route sms-webhook via "
                      "primary (FastSMS), then backup (server2sms)")
                steps = (
                    ("firing", FIRING, None),
                    ("resolved", resolved(FIRING), "FastSMS account runs out of credit"),
                )
                for name, body, fault in steps:
                    if fault:
                        from sms_notify.sandbox import parse_fault

                        state.add_fault(parse_fault(
                            {"gateway": "fastsms", "kind": "error_code", "code": "credit"},
                            state.simulators))
                        print(f"\n(sandbox: the {fault})")
                    before = len(state.inbox)
                    answer = requests.post(
                        f"{receiver.url}/alert", json=body, timeout=10,
                        headers={"Authorization": f"Bearer {TOKEN}"})
                    print(f"\nAlertmanager posts the {name} DiskFull1 group to /alert: "
                          f"HTTP {answer.status_code} {answer.text}")
                    if answer.status_code != 200:
                        return 1
                    want = before + len(RECIPIENTS)
                    if not wait_for(lambda: len(state.inbox) >= want, timeout):
                        print(f"sms-notify demo: the {name} texts did not arrive within "
                              f"{timeout:g}s")
                        return 1
                    told.flush()
                    show(state.inbox[before:])
                    if name == "firing" and not acknowledge(state, receiver.url, silences,
                                                            timeout):
                        return 1
                dispatcher.wait_idle(5.0)
        finally:
            outbox.close()
    print("\nDone: both gateways received the texts, and a reply silenced the alert. Next: "
          "'sms-notify help alertmanager' "
          "shows the config and alertmanager.yml to do this for real, and 'sms-notify help' "
          "lists every guide.")
    return 0


class StoryLines(logging.Handler):
    """What serve tells an operator (an account failing), kept to be printed in its place in
    the story (before the texts it explains), not as a log line on stderr after it."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def flush(self) -> None:
        lines, self.lines = self.lines, []
        for line in lines:
            print(f"  serve logs: {line}")


def show(messages: list[Any]) -> None:
    """What the phones received."""
    for message in messages:
        part = "part" if message.parts == 1 else "parts"
        print(f"  {message.gateway:<11} -> {message.to} ({message.parts} {part}, "
              f"from {message.sender}):")
        for line in message.text.splitlines():
            print(f"      {line}")


def acknowledge(state: Any, receiver: str, silences: list[dict[str, Any]],
                timeout: float) -> bool:
    """The first phone replies ACK: FastSMS forwards it to the receiver, which silences the
    group in Alertmanager and texts a confirmation back."""
    from sms_notify.sandbox.server import carry_out

    fastsms = state.simulators["fastsms"]
    fastsms.forwarding({"url": f"{receiver}/inbound/primary", "method": "POST", "auth": SECRET})
    before = len(state.inbox)
    started = time.monotonic()
    _, outgoing = fastsms.reply(RECIPIENTS[0], REPLY)
    forwarded = [carry_out(state, out) for out in outgoing]
    print(f"\n{RECIPIENTS[0]} replies {REPLY!r}; FastSMS forwards it to the receiver's "
          f"/inbound/primary: HTTP {forwarded[0]['status']}")
    if not wait_for(lambda: silences and len(state.inbox) > before, timeout):
        print(f"sms-notify demo: no silence and confirmation within {timeout:g}s")
        return False
    silence = silences[-1]
    matchers = ", ".join(f"{m['name']}={m['value']}" for m in silence["matchers"])
    print(f"  Alertmanager API: silence {matchers} by {silence['createdBy']} until "
          f"{silence['endsAt']} ({silence['comment']}), "
          f"{time.monotonic() - started:.2f}s after the reply")
    show(state.inbox[before:])
    return True
