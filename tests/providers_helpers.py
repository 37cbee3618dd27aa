"""What the HTTP provider tests share: accounts through the public URL parser, and the request
a mocked gateway received, decoded."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from sms_notify import manager
from sms_notify.delivery import RetryPolicy
from sms_notify.model import Account
from sms_notify.urls import parse

ENDPOINT = "http://127.0.0.1:8025"
NUMBERS = [f"+4477009001{i:02d}" for i in range(5)]
# Pauses of 0.5 s and 1 s on an instant clock: a budget that fits three requests on one account.
FAST = RetryPolicy(budget=2.0, base_delay=0.5, jitter=0.0)
FAST_TRIES = 3


def account(url: str) -> Account:
    """An account parsed the way the CLI and config parse it, with every built-in loaded."""
    scheme = url.partition("://")[0]
    if scheme not in manager.providers():
        manager._reset()
    return parse(url, manager.providers())


def _body(call: responses.Call) -> str:
    body = call.request.body or ""
    return body.decode() if isinstance(body, bytes) else str(body)


def form(call: responses.Call) -> dict[str, str]:
    """A form-encoded request body as a flat dict; fails on repeated keys."""
    body = _body(call)
    pairs = parse_qs(body, keep_blank_values=True, strict_parsing=bool(body))
    assert all(len(v) == 1 for v in pairs.values()), pairs
    return {k: v[0] for k, v in pairs.items()}


def json_body(call: responses.Call) -> Any:
    return json.loads(_body(call))


def path(call: responses.Call) -> str:
    return urlsplit(str(call.request.url)).path


def query(call: responses.Call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(call.request.url)).query)
