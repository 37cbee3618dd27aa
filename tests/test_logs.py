"""Log lines (sms_notify.logs): one event per line, values quoted, quiet libraries, the access
log, and the account tracker that says when an account starts or stops failing."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from sms_notify import logs
from sms_notify.errors import Category, ProviderError
from sms_notify.health import AccountHealth
from sms_notify.logs import AccessLog, event
from sms_notify.model import Receipt, Recipient
from sms_notify.outbox import Job

HTML = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body>\n</html>"


def record(msg: Any, level: int = logging.WARNING, name: str = "sms_notify.outbox",
           args: Any = None) -> logging.LogRecord:
    rec = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    rec.created, rec.msecs = 1_700_000_000.25, 250.0
    return rec



def test_logfmt_quotes_what_would_break_a_line() -> None:
    line = logs.LogfmtFormatter().format(record(event(
        "job", job=7, to="+447700900123", state="dead", account="primary",
        error=f"unavailable: HTTP 502 {HTML}", empty="", eq="a=b", quote='say "hi"')))
    assert "\n" not in line
    assert line.startswith("ts=2023-11-14T22:13:20.250Z level=warn logger=sms_notify.outbox "
                           "event=job job=7 to=+447700900123 state=dead account=primary error=\"")
    fields = dict(kv.split("=", 1) for kv in ["error=" + line.split(" error=", 1)[1]])
    assert json.loads(fields["error"].rsplit(" empty=", 1)[0]) == f"unavailable: HTTP 502 {HTML}"
    assert 'empty="" eq="a=b" quote="say \\"hi\\""' in line


def test_a_plain_message_is_one_quoted_msg_and_a_traceback_one_quoted_exc() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        import sys

        rec = record("sending failed for %s", logging.ERROR, args=("db1 <b>",))
        rec.exc_info = sys.exc_info()
    line = logs.LogfmtFormatter().format(rec)
    assert "\n" not in line
    assert ' msg="sending failed for db1 <b>" exc="Traceback' in line
    assert "ValueError: bad\\nthing" in line


def test_json_keeps_numbers_and_has_the_same_keys() -> None:
    line = logs.JsonFormatter().format(record(event("job", job=7, attempts=2, error=HTML)))
    data = json.loads(line)
    assert data == {"ts": "2023-11-14T22:13:20.250Z", "level": "warn",
                    "logger": "sms_notify.outbox", "event": "job", "job": 7, "attempts": 2,
                    "error": HTML}
    assert "\n" not in line


def test_text_for_people_at_a_terminal() -> None:
    assert logs.TextFormatter().format(record("a plain %s", args=("message",))) == \
        "sms-notify: warning: a plain message"
    assert logs.TextFormatter().format(record(event("job", state="dead"))) == \
        "sms-notify: warning: event=job state=dead"


def test_setup_keeps_zeep_and_urllib3_quiet_unless_asked() -> None:
    logs.setup(2, "logfmt")
    assert logging.getLogger("sms_notify").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("zeep.wsdl").isEnabledFor(logging.INFO)
    assert not logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.DEBUG)
    logs.setup(3, "logfmt")
    assert logging.getLogger("zeep.wsdl").isEnabledFor(logging.DEBUG)
    # whole requests, credentials included: never
    assert not logging.getLogger("zeep.transports").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.DEBUG)
    logs.setup(0, "logfmt")
    assert not logging.getLogger("zeep.transports").isEnabledFor(logging.INFO)
    assert not logging.getLogger("sms_notify.outbox").isEnabledFor(logging.INFO)
    assert logging.getLogger("sms_notify.accounts").isEnabledFor(logging.INFO)  # always on
    ours = [h for h in logging.getLogger().handlers if isinstance(h, logs._Stderr)]
    assert len(ours) == 1  # a second setup replaces the first


def test_setup_writes_one_line_per_event_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup(0, "json")
    logging.getLogger("sms_notify.outbox").warning(event("job", state="dead", error=HTML))
    logging.getLogger("sms_notify.outbox").info(event("job", state="sent"))  # below the level
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and json.loads(err[0])["error"] == HTML


def asgi_call(app: Any, path: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    scope = {"type": "http", "method": "POST", "path": path, "query_string": query,
             "headers": headers, "client": ("127.0.0.1", 50000)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    asyncio.run(app(scope, receive, send))


def test_the_access_log_has_no_query_string_or_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b'{"error": "unauthorized"}'})

    logs.setup(0, "logfmt", access_log=True)
    asgi_call(AccessLog(app), "/alert/oncall", b"token=s3cret-query",
              [(b"authorization", b"Bearer s3cret-header"),
               (b"user-agent", b"Alertmanager/0.25.0")])
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "level=info logger=sms_notify.access event=request method=POST path=/alert/oncall " \
           "status=401 bytes=25 seconds=" in err
    assert "client=127.0.0.1:50000 agent=Alertmanager/0.25.0" in err
    assert "s3cret" not in err and "token" not in err


def receipt(account: str, error: ProviderError | None = None) -> Receipt:
    return Receipt(Recipient("+447700900123"), message_id="1" if error is None else "",
                   account=account, error=error)


def test_an_account_is_said_to_fail_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sms_notify.accounts")
    clock = iter([100.0, 340.0])
    health = AccountHealth({"primary": type("A", (), {"scheme": "fastsms"})()},
                           now=lambda: next(clock))
    job = Job("oncall", "+447700900123", "x", ("primary",))
    auth = ProviderError(Category.AUTH, "Unknown Username/Password", "-501")
    for _ in range(5):  # five texts, one line
        health.on_result(job, receipt("primary", auth), 0.1)
    health.on_result(job, receipt("primary", ProviderError(Category.RECIPIENT, "bad")), 0.1)
    health.on_result(job, receipt("primary", ProviderError(Category.RATE_LIMITED, "slow")), 0.1)
    health.on_result(job, None, 0.0)  # a job ended without a send: nothing about the account
    assert list(health.failing()) == ["primary"]
    credit = ProviderError(Category.CREDIT, "Insufficient credits", "-100")
    health.on_result(job, receipt("primary", credit), 0.1)  # another reason: said
    health.on_result(job, receipt("primary"), 0.1)
    health.on_result(job, receipt("primary"), 0.1)
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        'event=account_failing account=primary provider=fastsms category=auth '
        'reason="auth: -501 Unknown Username/Password" was=ok',
        'event=account_failing account=primary provider=fastsms category=credit '
        'reason="credit: -100 Insufficient credits" was=auth',
        "event=account_ok account=primary provider=fastsms was=credit failing_for=240s "
        "failed_texts=6",
    ]
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING, logging.INFO]
    assert health.failing() == {}
