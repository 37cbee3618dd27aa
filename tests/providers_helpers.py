"""What the HTTP provider tests share: accounts through the public URL parser, and the request
a mocked gateway received, decoded (sms_notify.testing's wire helpers)."""

from __future__ import annotations

from sms_notify import manager
from sms_notify.delivery import RetryPolicy
from sms_notify.model import Account
from sms_notify.testing import form, json_body, path, query
from sms_notify.urls import parse

__all__ = ["ENDPOINT", "FAST", "NUMBERS", "account", "form", "json_body", "path", "query"]

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
