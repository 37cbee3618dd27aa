"""The five Apprise schemas, URL by URL, in the style of Apprise's own plugin tests.

A table of (url, expectations) runs through `check_url`, a small harness modelled on Apprise's
AppriseURLTester: construction from good and bad URLs, privacy URL, round trip, len(), then
notify() under mocked HTTP. HTTP is mocked with `responses`; a 200 answer comes from the
project's own gateway simulators (the sandbox's, called in-process), so each gateway's real wire
format answers, and what reached the "phone" can be checked. Every good URL is also run against
HTTP 500, 401, a garbage 200, a refused connection and a read timeout: notify() must say False.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import apprise
import pytest
import requests
import responses
from apprise import NotificationManager
from sms_notify.integrations.apprise import register
from sms_notify.integrations.apprise.notify import SmsNotifyBase, schema_classes

from sms_notify.manager import providers
from sms_notify.sandbox import build_app, collect_simulators
from sms_notify.testing import ManualClock

GW = "http://gw.test"
SCHEMES = ("fastsms", "intellisms", "server2sms", "sms24x", "mymobileapi")  # built in
CLASSES = schema_classes()
CREDS = {s: "sandbox" if s == "fastsms" else "sandbox:sandbox" for s in SCHEMES}
BAD_CREDS = {s: "wrong" if s == "fastsms" else "sandbox:wrong" for s in SCHEMES}
MASKED = {s: f"{s}://****@" if s == "fastsms" else f"{s}://sandbox:****@" for s in SCHEMES}
SENDER = {"sms24x": "&from=Alerts", "fastsms": "&from=Alerts"}  # they refuse one without
N1, N2, N3 = "+447700900123", "+447700900124", "+447700900125"


pytestmark = pytest.mark.usefixtures("apprise_schemas")


@pytest.fixture(autouse=True)
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    clock = ManualClock()
    monkeypatch.setattr(SmsNotifyBase, "clock_factory", lambda: clock)
    return clock


class Gateways:
    """All five simulators behind `responses`: requests to GW are answered in-process."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.mock = mock
        self.app, self.state = build_app(collect_simulators())
        self.simulate()

    def simulate(self) -> None:
        self.mock.reset()
        for method in (responses.GET, responses.POST):
            self.mock.add_callback(method, re.compile(re.escape(GW) + r"/.*"), self._answer)

    def answer_with(self, **kwargs: Any) -> None:
        """Every request gets this one answer instead (status=, body=, or body=exception)."""
        self.mock.reset()
        for method in (responses.GET, responses.POST):
            self.mock.add(method, re.compile(re.escape(GW) + r"/.*"), **kwargs)

    @property
    def inbox(self) -> list[Any]:
        return list(self.state.inbox)

    def _answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        return asyncio.run(_asgi(self.app, request))


async def _asgi(app: Any, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
    """One HTTP exchange with an ASGI app, without a server."""
    url = urlsplit(request.url or "")
    body = request.body or b""
    body = body.encode() if isinstance(body, str) else body
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": url.scheme,
        "path": unquote(url.path),
        "raw_path": url.path.encode(),
        "query_string": url.query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
        "server": (url.hostname, url.port or 80),
        "client": ("127.0.0.1", 40000),
    }
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    status, headers, chunks = 500, {}, []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
            headers.pop("content-length", None)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, headers, b"".join(chunks)


@pytest.fixture
def gateways() -> Iterator[Gateways]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield Gateways(mock)


@dataclass
class Expect:
    """What a URL must give; None leaves a check out."""

    instance: bool = True  # False: Apprise.instantiate() refuses the URL
    privacy_url: str | None = None  # prefix of url(privacy=True)
    targets: list[str] | None = None
    length: int | None = 1
    notify: bool | None = True  # notify() against the simulators
    inbox: list[str] | None = None  # numbers that got the text, in order
    sender: str | None = None
    logs: list[str] = field(default_factory=list)  # substrings the log must show
    failures: bool = True  # also run the HTTP failure variants


def good(scheme: str, path: str = N1.lstrip("+"), query: str = "") -> str:
    return f"{scheme}://{CREDS[scheme]}@{path}?endpoint={GW}{SENDER.get(scheme, '')}{query}"


def cases() -> list[tuple[str, Expect]]:
    table: list[tuple[str, Expect]] = []
    for s in SCHEMES:
        table += [
            (f"{s}://", Expect(instance=False)),
            (
                f"{s}://{CREDS[s]}@{N1}?bogus=1",
                Expect(instance=False, logs=["unknown option 'bogus'"]),
            ),
            (f"{s}://{CREDS[s]}@{N1}?endpoint=ftp://x", Expect(instance=False, logs=["endpoint="])),
            (f"{s}://{CREDS[s]}@{N1}?timeout=-1", Expect(instance=False, logs=["timeout="])),
            (f"{s}://{CREDS[s]}@{N1}?max_segments=0", Expect(instance=False)),
            (
                f"{s}://{CREDS[s]}@{N1}?from=ThisSenderIsTooLong",
                Expect(instance=False, logs=["sender"]),
            ),
            (good(s), Expect(privacy_url=MASKED[s], targets=[N1], inbox=[N1])),
            (
                good(s, f"{N1}/{N2.lstrip('+')}", f"&to=%2B{N3.lstrip('+')}&from=Alerts"),
                Expect(targets=[N1, N2, N3], inbox=[N1, N2, N3], sender="Alerts"),
            ),
            (good(s, "07700900124", "&region=GB"), Expect(targets=[N2], inbox=[N2])),
            (
                good(s, f"12/{N1}"),
                Expect(targets=[N1], inbox=[N1], logs=["Dropped invalid phone # (12)"]),
            ),
            (
                good(s, "12/abc"),
                Expect(
                    targets=[],
                    notify=False,
                    failures=False,
                    logs=["Dropped invalid phone # (abc)", "no valid"],
                ),
            ),
            (good(s, ""), Expect(targets=[], notify=False, failures=False, logs=["no valid"])),
            (
                f"{s}://{BAD_CREDS[s]}@{N1}?endpoint={GW}{SENDER.get(s, '')}",
                Expect(notify=False, inbox=[], failures=False, logs=[f"to {N1}: auth: "]),
            ),
        ]
        if s != "fastsms":
            table.append((f"{s}://sandbox@{N1}", Expect(instance=False, logs=["USER:PASSWORD@"])))
    table += [
        ("fastsms://sandbox:extra@447700900123", Expect(instance=False, logs=["TOKEN@"])),
        (f"fastsms://sandbox@{N1}?endpoint={GW}", Expect(instance=False, logs=["needs a sender"])),
        (f"sms24x://sandbox:sandbox@{N1}?endpoint={GW}",
         Expect(instance=False, logs=["needs a sender"])),
        (f"sms24x://sandbox:sandbox@{N1}?from=Ops%20Team", Expect(instance=False, logs=["sender"])),
        (f"mymobileapi://sandbox:sandbox@{N1}?live=maybe", Expect(instance=False, logs=["live="])),
        # Apprise's own SMS plugins take source= for from=, and a token as ?token=
        (
            f"fastsms://?token=sandbox&source=Alerts&to={N1.lstrip('+')}&endpoint={GW}",
            Expect(targets=[N1], inbox=[N1], sender="Alerts", privacy_url="fastsms://****@"),
        ),
        (good("server2sms", query="&source=Ops"), Expect(targets=[N1], inbox=[N1], sender="Ops")),
        (
            good("fastsms", "", "&list=Oncall"),
            Expect(targets=[], inbox=["+447700900201", "+447700900202"], logs=["to list:Oncall"]),
        ),
        (
            good("fastsms", N1, "&group=Oncall"),
            Expect(targets=[N1], length=2, inbox=[N1, "+447700900201", "+447700900202"]),
        ),
        (
            good("sms24x", "", "&phonebook=Oncall"),
            Expect(targets=[], inbox=["+447700900201", "+447700900202"]),
        ),
        (good("mymobileapi", N1, "&live=no"), Expect(targets=[N1], inbox=[])),
    ]
    return table


def check_url(
    url: str, expect: Expect, gateways: Gateways, caplog: pytest.LogCaptureFixture
) -> None:
    """The AppriseURLTester checks for one URL."""
    caplog.set_level(logging.INFO)
    obj = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    for text in expect.logs if not expect.instance else ():
        assert text in caplog.text
    if not expect.instance:
        assert obj is None
        return
    scheme = url.split("://")[0]
    assert isinstance(obj, CLASSES[scheme])
    cls = type(obj)
    for junk in (None, object(), 42):
        assert cls.parse_url(junk) is None

    assert isinstance(obj.url(), str) and isinstance(obj.url(privacy=True), str)
    assert isinstance(obj.url_id(), str)
    assert isinstance(len(obj), int) and len(obj) >= 1
    if expect.privacy_url:
        assert obj.url(privacy=True).startswith(expect.privacy_url)
    for secret in {obj.account.password, obj.account.user if scheme == "fastsms" else ""} - {""}:
        assert f"{secret}@" not in obj.url(privacy=True) and f":{secret}@" not in obj.url(
            privacy=True
        )
    if expect.targets is not None:
        assert obj.targets == expect.targets
    if expect.length is not None:
        assert len(obj) == expect.length

    again = apprise.Apprise.instantiate(obj.url(), suppress_exceptions=False)
    assert isinstance(again, cls)
    assert again.url() == obj.url()
    assert again.url_identifier == obj.url_identifier
    assert again.url_id() == obj.url_id()
    assert len(again) == len(obj)
    assert again.targets == obj.targets

    if expect.notify is None:
        return
    gateways.simulate()
    assert obj.notify(body="DISK FULL on db1", title="") is expect.notify
    if expect.inbox is not None:
        assert [m.to for m in gateways.inbox] == expect.inbox
        assert all(m.text == "DISK FULL on db1" for m in gateways.inbox)
        if expect.sender:
            assert {m.sender for m in gateways.inbox} == {expect.sender}
    for text in expect.logs:
        assert text in caplog.text
    if expect.notify and expect.failures:
        check_failures(obj, gateways, caplog)


def check_failures(
    obj: SmsNotifyBase, gateways: Gateways, caplog: pytest.LogCaptureFixture
) -> None:
    """HTTP errors and transport failures: notify() is False and each recipient is named.
    Transient ones are tried again until the budget runs out; a garbled answer and a read
    timeout may have reached the gateway, so they are sent once (and asked about, where the
    gateway can be)."""
    variants: list[tuple[dict[str, Any], str, str]] = [
        ({"status": 500, "body": "Internal Server Error"}, "unavailable", "again"),
        ({"status": 503, "body": ""}, "unavailable", "again"),
        ({"status": 401, "body": "Unauthorized"}, "auth: 401", "once"),
        ({"status": 200, "body": "<html>Service temporarily overloaded</html>"}, "", "once"),
        (
            {"body": requests.ConnectionError("refused")},
            "unavailable: cannot connect to gw.test",
            "again",
        ),
        ({"body": requests.ReadTimeout("slow")}, "unavailable: no answer from gw.test", "once"),
    ]
    batches = math.ceil(len(obj.targets) / obj.provider.max_recipients) + len(obj.lists)
    for answer, message, sends in variants:
        gateways.answer_with(**answer)
        caplog.clear()
        assert obj.notify(body="DISK FULL on db1") is False, answer
        failed = [
            r
            for r in caplog.records
            if r.levelno == logging.WARNING and "Failed to send" in r.getMessage()
        ]
        expected = len(obj.targets) + len(obj.lists)
        assert len(failed) == expected, (answer, caplog.text)
        assert all(message in r.getMessage() for r in failed), (answer, caplog.text)
        sent = [c for c in gateways.mock.calls if _is_send(c.request)]
        if sends == "once":
            assert len(sent) == batches, (answer, len(sent))
        else:
            assert len(sent) > 2 * batches, (answer, len(sent))


def _is_send(request: requests.PreparedRequest) -> bool:
    """A send, not a look-up (server2sms, 24x and MyMobileAPI are asked after a silent send)."""
    body = _body(request)
    return not any(word in body for word in (b"InquireDeliveryNotifications",
                                             b"GetDeliveryReportByDate", b"Sent_STR_STR")) and (
        b"Inquire" not in (request.url or "").encode())


@pytest.mark.parametrize(("url", "expect"), cases(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_url(
    url: str, expect: Expect, gateways: Gateways, caplog: pytest.LogCaptureFixture
) -> None:
    check_url(url, expect, gateways, caplog)


def test_every_schema_is_registered() -> None:
    assert set(SCHEMES) <= set(register())
    for scheme in SCHEMES:
        assert NotificationManager()[scheme] is CLASSES[scheme]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_len_counts_gateway_requests(scheme: str) -> None:
    """ceil(numbers / the gateway's recipients per request), lists on top, at least 1."""
    per = providers()[scheme].max_recipients
    cls = CLASSES[scheme]
    user, _, password = CREDS[scheme].partition(":")
    numbers = [f"+4477009{i:05d}" for i in range(1, 2 * per + 2)]
    make = lambda **kw: cls(user=user, password=password or None, source="Alerts", **kw)  # noqa: E731
    assert len(make(targets=numbers[:per])) == 1
    assert len(make(targets=numbers[: per + 1])) == 2
    assert len(make(targets=numbers)) == 3
    assert len(make(targets=[])) == 1
    assert len(make(targets=numbers[:1], retry=2)) == 3


@pytest.mark.parametrize("scheme", SCHEMES)
def test_title_is_merged_into_the_body(scheme: str, gateways: Gateways) -> None:
    obj = apprise.Apprise.instantiate(good(scheme))
    assert obj.notify(title="FIRING", body="Disk full on db1") is True
    assert [m.text for m in gateways.inbox] == ["FIRING\r\nDisk full on db1"] or [
        m.text for m in gateways.inbox
    ] == ["FIRING\nDisk full on db1"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_long_text_is_shortened_by_the_core(scheme: str, gateways: Gateways) -> None:
    """Apprise passes the body upstream whole; the core cuts it to max_segments parts."""
    obj = apprise.Apprise.instantiate(good(scheme, query="&max_segments=2"))
    assert obj.body_maxlen == 306
    assert obj.notify(body="x" * 1000) is True
    (message,) = gateways.inbox
    assert 150 < len(message.text) <= 306


@pytest.mark.parametrize("scheme", ["fastsms", "intellisms", "mymobileapi"])
def test_apprise_retry_resends_only_to_who_failed(scheme: str, gateways: Gateways) -> None:
    """With ?retry=1 a number that took the text is not sent it again (gateways that refuse one
    number of a request at once; the others report it later)."""
    apobj = apprise.Apprise()
    assert apobj.add(good(scheme, f"{N1}/447700900000", "&retry=1&wait=0"))
    assert not apobj.notify(body="DISK FULL")
    assert [m.to for m in gateways.inbox] == [N1]
    first, second = gateways.mock.calls
    assert b"447700900123" in _body(first.request) and b"447700900000" in _body(first.request)
    assert b"447700900123" not in _body(second.request)
    assert b"447700900000" in _body(second.request)


def _body(request: requests.PreparedRequest) -> bytes:
    body = request.body or b""
    return unquote(body if isinstance(body, str) else body.decode()).encode()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_secure_flag_follows_the_endpoint_not_the_schema(scheme: str) -> None:
    """Trap G1: every schema ends in "s" or not by chance; endpoint= alone picks http/https."""
    assert apprise.Apprise.instantiate(good(scheme)).secure is False
    user, _, password = CREDS[scheme].partition(":")
    assert CLASSES[scheme](user=user, password=password or None, source="Alerts").secure is True


def test_len_counts_a_request_per_list_as_the_core_sends_them() -> None:
    obj = apprise.Apprise.instantiate(f"fastsms://TOKEN@{N1}/{N2}?list=L1&group=G1&from=A",
                                      suppress_exceptions=False)
    assert len(obj) == 3  # the two numbers in one request, then the list, then the group
