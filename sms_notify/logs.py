"""Log lines: one event per line, as logfmt or JSON, set up once for every command.

A log line is read by people at 3 a.m. and by Loki or journald filters, so a value never spans
lines or breaks the `key=value` shape: anything but plain words is quoted, as JSON quotes it
(a gateway's HTML error page becomes one quoted value, not twenty lines). Code that has fields
to say logs an `event(...)`; the formatter renders it as logfmt, JSON, or for the one-shot
commands a `sms-notify: warning: ...` line, and renders a plain message as `msg="..."`.

Levels: WARNING by default, INFO with -v, DEBUG with -vv. Libraries that flood (zeep, urllib3,
uvicorn's own lines) stay at WARNING until -vvv; urllib3 and zeep's transport never go below
INFO, as their DEBUG lines carry whole requests, credentials included. A few loggers say what
an operator must see at the default level even when it is good news (an account that works
again): they log at INFO and are always on.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

FORMATS = ("text", "logfmt", "json")  # text: the one-shot commands' `sms-notify: warning: ...`
ALWAYS_ON = ("sms_notify.accounts",)  # INFO at the default level: account failing / working
ACCESS = "sms_notify.access"
NOISY = ("zeep", "urllib3", "uvicorn", "asyncio", "multipart", "watchfiles")
NEVER_DEBUG = ("urllib3", "zeep.transports")  # their DEBUG lines hold requests with secrets
_PLAIN = re.compile(r"[\w.,:/@+%\-]+")
_LEVELS = {"WARNING": "warn", "CRITICAL": "crit"}


class Event:
    """A log message made of fields: `log.warning(event("rejected", code=401, error=...))`.
    Rendering waits until a handler formats it, so a disabled level costs no formatting."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return logfmt(self.fields)


def event(name: str, **fields: Any) -> Event:
    """A structured log message whose first field is `event=name`."""
    return Event({"event": name, **fields})


def quote(value: Any) -> str:
    """One logfmt value: plain words as they are, anything else JSON-quoted (spaces, quotes,
    `=`, newlines, markup, control characters, the empty string)."""
    text = value if isinstance(value, str) else str(value)
    if _PLAIN.fullmatch(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def logfmt(fields: dict[str, Any]) -> str:
    return " ".join(f"{key}={quote(value)}" for key, value in fields.items())


def _level(record: logging.LogRecord) -> str:
    return _LEVELS.get(record.levelname, record.levelname.lower())


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + (
        f".{int(record.msecs):03d}Z")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """What a record says: its event's fields, or msg; then the traceback, if any."""
    if isinstance(record.msg, Event) and not record.args:
        said = dict(record.msg.fields)
    else:
        said = {"msg": record.getMessage()}
    if record.exc_info:
        said["exc"] = logging.Formatter().formatException(record.exc_info)
    elif record.exc_text:
        said["exc"] = record.exc_text
    return said


class LogfmtFormatter(logging.Formatter):
    """`ts=... level=warn logger=sms_notify.outbox event=job state=dead error="..."`."""

    def format(self, record: logging.LogRecord) -> str:
        head = {"ts": _timestamp(record), "level": _level(record), "logger": record.name}
        return logfmt({**head, **_fields(record)})


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the same keys as logfmt; numbers stay numbers."""

    def format(self, record: logging.LogRecord) -> str:
        head = {"ts": _timestamp(record), "level": _level(record), "logger": record.name}
        fields = {k: v if isinstance(v, (int, float, bool)) or v is None else str(v)
                  for k, v in _fields(record).items()}
        return json.dumps({**head, **fields}, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """For people at a terminal: `sms-notify: warning: ...` (the one-shot commands)."""

    def format(self, record: logging.LogRecord) -> str:
        said = _fields(record)
        exc = said.pop("exc", "")
        message = said["msg"] if set(said) == {"msg"} else logfmt(said)
        line = f"sms-notify: {record.levelname.lower()}: {message}"
        return f"{line}\n{exc}" if exc else line


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr as it is when a record is written, not when the handler was made (tests swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_FORMATTERS: dict[str, type[logging.Formatter]] = {
    "text": TextFormatter, "logfmt": LogfmtFormatter, "json": JsonFormatter,
}


def setup(verbose: int = 0, fmt: str = "text", *, access_log: bool = False) -> None:
    """Logging for one command: one stderr handler on the root logger, in `fmt`, at the level
    -v asks for. Calling it again replaces what the last call set up."""
    level = logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(_FORMATTERS[fmt]())
    root.addHandler(handler)
    root.setLevel(level)
    noisy = level if verbose >= 3 else max(level, logging.WARNING)
    for name in NOISY:
        logging.getLogger(name).setLevel(noisy)
    for name in NEVER_DEBUG:
        logging.getLogger(name).setLevel(max(noisy, logging.INFO))
    for name in ALWAYS_ON:
        logging.getLogger(name).setLevel(min(level, logging.INFO))
    logging.getLogger(ACCESS).setLevel(min(level, logging.INFO) if access_log else logging.WARNING)


class AccessLog:
    """ASGI middleware for `--access-log`: one line per request once it is answered, on the
    `sms_notify.access` logger, in the chosen format. The path is logged without its query
    string and no header but the user agent is read, so no credential reaches the log."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.log = logging.getLogger(ACCESS)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer = {"status": 0, "bytes": 0}

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client") or ("-", 0)
            agent = next((v.decode("latin-1") for k, v in scope.get("headers", ())
                          if k == b"user-agent"), "-")
            self.log.info(event(
                "request", method=scope.get("method", "-"), path=scope.get("path", "")[:200],
                status=answer["status"] or "-", bytes=answer["bytes"],
                seconds=round(time.perf_counter() - started, 4),
                client=f"{client[0]}:{client[1]}", agent=agent[:100],
            ))
