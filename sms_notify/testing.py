"""Helpers for testing a provider plugin (and sms-notify itself); docs/plugins.md shows them.

- `FakeGateway`: a provider plugin whose answers a test queues; it records every request.
- `registered(plugin)`: a plugin registered for the length of a ``with`` block.
- `ManualClock`: time that moves only when told; sleeps pass at once and are recorded. It is a
  `delivery.Clock` for `deliver`/`balance`, and a ``now=`` callable for the outbox and dispatcher.
- Wire helpers for `responses` mocks: what one recorded call sent (`form`, `json_body`,
  `query`, `path`), and `account(url)`, an account parsed as the CLI parses it.

Nothing here imports pytest or responses: use them with any test runner.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

from . import manager
from .delivery import Clock
from .errors import Category, ProviderError
from .hookspecs import hookimpl
from .model import (
    Account, Balance, DeliveryReport, DeliveryStatus, Feed, Provider, Push, Receipt, Reply,
    Submission,
)

if TYPE_CHECKING:
    from requests import PreparedRequest

__all__ = [
    "FakeGateway", "ManualClock", "account", "form", "json_body", "path", "query", "registered",
]

Answer = ProviderError | Callable[[Submission], Sequence[Receipt]]


@dataclass(eq=False)
class FakeGateway:
    """A provider plugin for tests, registered like a third-party one (`registered(fake)`).

    Each send takes the next entry of `answers`: a ProviderError is raised (the whole request
    failed), a function of the submission returns its receipts; with the queue empty every
    recipient gets an id. `requests` keeps every (account, submission) in order. Balance,
    status, lookup and login answer from what it sent, for the capabilities it declares: a
    look-up finds the references of the receipts it gave without an error (`taken`), and
    `took_without_answer` as an answer takes the text and never answers (an unknown outcome).

    Closing the loop (declare "receipts", "receipt_push", "replies", "reply_push"): `reports`
    maps a message id or reference to the state the receipts hook reports for it (texts not in
    it are still on their way); a pushed report is the fields `ref` and `state`; `inbound` is
    the feed of replies (each Reply's `cursor` its position); a pushed reply is the fields
    `from`, `text` and `id`.
    """

    scheme: str = "fake"
    max_recipients: int = 2
    max_segments: int = 3
    capabilities: frozenset[str] = frozenset({"balance"})
    options: Mapping[str, str] = field(default_factory=dict)
    list_options: tuple[str, ...] = ()
    credits: float = 42.0
    answers: list[Answer] = field(default_factory=list)
    requests: list[tuple[Account, Submission]] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)  # references of the texts it sent
    asked: list[list[str]] = field(default_factory=list)  # every look-up's references
    reports: dict[str, str] = field(default_factory=dict)  # message id or reference -> state
    inbound: list[Reply] = field(default_factory=list)  # the feed of replies

    @property
    def provider(self) -> Provider:
        return Provider(
            scheme=self.scheme, name=self.scheme.title(), base_url="https://gw.invalid",
            max_recipients=self.max_recipients, max_segments=self.max_segments,
            options=self.options, list_options=self.list_options, capabilities=self.capabilities,
        )

    def recipients_sent(self) -> list[str]:
        """Every recipient of every request, in order."""
        return [r.address for _, s in self.requests for r in s.recipients]

    def message_ids(self) -> dict[str, str]:
        """message id -> our reference, of every recipient that got an id."""
        return {
            f"{self.scheme}-{n}-{i}": r.reference
            for n, (_, s) in enumerate(self.requests, 1) for i, r in enumerate(s.recipients)
        }

    @hookimpl
    def sms_notify_register_providers(self, register: Callable[[Provider], None]) -> None:
        register(self.provider)

    def took_without_answer(self, submission: Submission) -> list[Receipt]:
        """An entry for `answers`: the gateway sends the text, and its answer never comes."""
        self.taken.update(r.reference for r in submission.recipients)
        raise ProviderError(Category.UNAVAILABLE, "no answer from gw.invalid within 10s",
                            unknown_outcome=True)

    @hookimpl
    def sms_notify_send(self, account: Account, submission: Submission) -> Sequence[Receipt]:
        self.requests.append((account, submission))
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, ProviderError):
            raise answer
        n = len(self.requests)
        receipts = answer(submission) if answer is not None else [
            Receipt(r, message_id=f"{self.scheme}-{n}-{i}")
            for i, r in enumerate(submission.recipients)]
        if isinstance(receipts, (list, tuple)):  # a test may answer wrongly on purpose
            self.taken.update(r.recipient.reference for r in receipts
                              if isinstance(r, Receipt) and r.error is None)
        return receipts

    @hookimpl
    def sms_notify_balance(self, account: Account) -> Balance:
        return Balance(self.credits)

    @hookimpl
    def sms_notify_status(self, account: Account, message_id: str) -> DeliveryStatus:
        if message_id not in self.message_ids():
            raise ProviderError(Category.REQUEST, f"unknown message id {message_id}")
        return DeliveryStatus(message_id, "delivered", final=True)

    @hookimpl
    def sms_notify_lookup(self, account: Account, references: Sequence[str]) -> dict[str, bool]:
        self.asked.append(list(references))
        return {ref: ref in self.taken for ref in references}

    @hookimpl
    def sms_notify_check_login(self, account: Account) -> bool:
        return True

    @hookimpl
    def sms_notify_receipts(self, texts: Sequence[Receipt]) -> list[DeliveryReport]:
        found = []
        for text in texts:
            key = next((k for k in (text.message_id, text.recipient.reference)
                        if k and k in self.reports), None)
            if key is not None:
                found.append(DeliveryReport(self.reports[key], text.message_id or "",
                                            text.recipient.reference))
        return found

    @hookimpl
    def sms_notify_receipt_push(self, push: Push) -> list[DeliveryReport]:
        if "ref" not in push.params:
            raise ProviderError(Category.REQUEST, "not a report: no ref")
        return [DeliveryReport(push.params.get("state", "delivered"), push.params["ref"],
                               push.params["ref"])]

    @hookimpl
    def sms_notify_replies(self, feed: Feed) -> list[Reply]:
        return [r for r in self.inbound if r.cursor > feed.position]

    @hookimpl
    def sms_notify_reply_push(self, push: Push) -> list[Reply]:
        if "from" not in push.params:
            raise ProviderError(Category.REQUEST, "not a reply: no from")
        return [Reply(push.params["from"], push.params.get("text", ""),
                      id=push.params.get("id", ""))]


@contextmanager
def registered(plugin: object, name: str | None = None) -> Iterator[object]:
    """`plugin` registered with sms-notify inside the block, as an installed one would be."""
    name = name or f"test-{getattr(plugin, 'scheme', id(plugin))}"
    manager.register(plugin, name=name)
    try:
        yield plugin
    finally:
        manager.unregister(name)


class ManualClock(Clock):
    """Time that moves only when told: `sleep` returns at once, records the pause and moves
    the time on. Pass it as `clock=` to deliver/balance/status, or as `now=` (it is callable)
    to the outbox and the dispatcher with `sleep=clock.sleep`."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start
        self.slept: list[float] = []
        super().__init__(now=self, sleep=self.sleep_for, rng=random.Random(0))

    def __call__(self) -> float:
        return self.t

    def sleep_for(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass without anyone sleeping."""
        self.t += seconds


def account(url: str) -> Account:
    """An account parsed from a provider URL the way the CLI and config parse it."""
    from .urls import parse

    return parse(url, manager.Providers())


class Call(Protocol):
    """A recorded call of a `responses` mock (responses.Call)."""

    @property
    def request(self) -> PreparedRequest: ...


def _body(call: Call) -> str:
    body = call.request.body or ""
    return body.decode() if isinstance(body, bytes) else str(body)


def form(call: Call) -> dict[str, str]:
    """The form-encoded body a call sent, as a flat dict; a repeated field is an error."""
    body = _body(call)
    pairs = parse_qs(body, keep_blank_values=True, strict_parsing=bool(body))
    repeated = sorted(k for k, v in pairs.items() if len(v) != 1)
    if repeated:
        raise AssertionError(f"fields sent more than once: {repeated}")
    return {k: v[0] for k, v in pairs.items()}


def json_body(call: Call) -> Any:
    """The JSON body a call sent."""
    return json.loads(_body(call))


def path(call: Call) -> str:
    """The path a call went to."""
    return urlsplit(str(call.request.url)).path


def query(call: Call) -> dict[str, list[str]]:
    """The query string a call carried, each name with its values."""
    return parse_qs(urlsplit(str(call.request.url)).query)
