"""Acknowledgement by reply (docs/design.md, Decision 15).

A reply whose first word is ACK (any case), optionally with a duration (`ACK 30m`, capped by
acks.max_duration), from a number on a route, silences in Alertmanager the group of the latest
firing text sent to that number (of the very text it answers, where the gateway says which), and
the number gets a short confirmation through the outbox, like any text. The page is then
acknowledged: it no longer escalates.

Each reply is noted once (the outbox's replies), so the same reply pushed twice or read twice
from a feed acts once. Replies from numbers on no route, that are no ACK, or that match no recent
page are ignored, logged and counted; a number acts at most PER_NUMBER times.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from .config import AckSettings
from .errors import ProviderError
from .logs import event
from .model import Reply
from .outbox import Job, Outbox, Page
from .urls import duration

if TYPE_CHECKING:
    from .silences import AlertmanagerApi

log = logging.getLogger("sms_notify.acks")

RECENT = 86400.0  # a text sent longer ago than this is no recent page
PER_NUMBER = "5/minute"  # replies a number may act on


class Outcome(StrEnum):
    """What came of one reply (the label of its count in /metrics)."""

    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"  # its group had resolved already: nothing to silence
    FAILED = "failed"  # Alertmanager did not create the silence
    NOT_ACK = "not_ack"
    UNKNOWN_NUMBER = "unknown_number"
    NO_PAGE = "no_page"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"


# What a person types on a phone after ACK: `30m`, `30 m`, `30 min`, `2 hours`, `1w`, `1h30m`;
# a bare number is minutes (`ACK 90`: the next hour and a half, not 90 seconds).
_SPOKEN = re.compile(r"(\d{1,6})(?:[.,](\d{1,3}))?\s*(w|wks?|weeks?|d|days?|h|hrs?|hours?"
                     r"|m|mins?|minutes?|s|secs?|seconds?)?\b", re.ASCII | re.IGNORECASE)
_SPOKEN_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def ack_duration(text: str, settings: AckSettings) -> float | None:
    """Seconds to silence for, when the reply's first word is ACK; None when it is not. A
    duration that is not one (`ACK thanks`, `ACK 0`, `ACK -5m`) is the default; any is capped
    at acks.max_duration. The confirmation says which it was."""
    words = text.split(maxsplit=1)
    if not words or words[0].strip(".,;:!").lower() != "ack":
        return None
    wanted = spoken_duration(words[1]) if len(words) > 1 else None
    return min(wanted or settings.duration, settings.max_duration)


def spoken_duration(text: str) -> float | None:
    """The duration at the start of `text` as a person writes it; None when there is none."""
    first = text.split()[0] if text.split() else ""
    try:
        if re.search(r"\d[a-z]+\d", first):  # the config's own form: 1h30m
            return duration(first)
    except ValueError:
        pass
    found = _SPOKEN.match(text.strip())
    if found is None:
        return None
    whole, fraction, unit = found.groups()
    number = float(f"{whole}.{fraction or 0}")
    return number * _SPOKEN_UNITS[(unit or "m")[0].lower()]


def span(seconds: float) -> str:
    """`1h`, `30m`, `1h30m`, `45s`: how a confirmation says a duration."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


def labels(matchers: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(matchers.items()))


class Acks:
    """Acts on replies, pushed or read from a feed."""

    def __init__(
        self, outbox: Outbox, alertmanager: AlertmanagerApi, settings: AckSettings,
        routes: Mapping[str, tuple[str, ...]], numbers: Mapping[str, str], *,
        region: str | None = None,
        on_reply: Callable[[str, Outcome], None] | None = None,
        on_confirm: Callable[[], None] | None = None, now: Callable[[], float] = time.time,
    ) -> None:
        """`routes`: each route's accounts, in order; `numbers`: every number on a route (its
        recipients and escalation numbers) with the first route it is on."""
        from limits import parse, storage, strategies

        self.outbox = outbox
        self.alertmanager = alertmanager
        self.settings = settings
        self.routes = routes
        self.numbers = numbers
        self.region = region
        self.on_reply = on_reply
        self.on_confirm = on_confirm  # a confirmation is in the outbox (the dispatcher's wake)
        self.now = now
        self._limit = parse(PER_NUMBER)
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def take(self, account: str, replies: Sequence[Reply]) -> list[Outcome]:
        """Act on replies that came through `account`, each once."""
        outcomes = []
        for reply in replies:
            outcome = self.act(account, reply)
            outcomes.append(outcome)
            if self.on_reply is not None:
                self.on_reply(account, outcome)
        return outcomes

    def act(self, account: str, reply: Reply) -> Outcome:
        shown = {"account": account, "reply": reply.id or "-", "text": reply.text[:40]}
        if not self.outbox.reply_seen(account, reply.id or fingerprint(reply)):
            log.info(event("reply_duplicate", **shown))
            return Outcome.DUPLICATE
        number = self._number(reply.sender)
        if number is None:
            log.warning(event("reply_ignored", **shown, reason="from a number on no route"))
            return Outcome.UNKNOWN_NUMBER
        shown["from"] = number
        if not self._limiter.hit(self._limit, number):
            log.warning(event("reply_ignored", **shown, reason=f"over {PER_NUMBER} replies"))
            return Outcome.RATE_LIMITED
        seconds = ack_duration(reply.text, self.settings)
        if seconds is None:
            log.info(event("reply_ignored", **shown, reason="not an ACK"))
            return Outcome.NOT_ACK
        now = self.now()
        page = self.outbox.last_page(number, now - RECENT, reply.reference)
        if page is None:
            log.warning(event("reply_ignored", **shown, reason="no firing text sent to it in "
                              f"the last {span(RECENT)}"))
            return Outcome.NO_PAGE
        if page.state == "resolved":
            self._confirm(number, page, f"ACK: {labels(page.matchers)} has resolved already; "
                          "nothing silenced")
            log.info(event("reply_resolved", **shown, page=page.id))
            return Outcome.RESOLVED
        return self._silence(number, page, seconds, now, shown)

    def _silence(self, number: str, page: Page, seconds: float, now: float,
                 shown: dict[str, str]) -> Outcome:
        from .silences import SilenceError

        until = now + seconds
        comment = f"acknowledged by SMS from {number}"
        try:
            silence = self.alertmanager.silence(page.matchers, now, until, comment)
        except SilenceError as exc:
            log.error(event("ack_failed", **shown, page=page.id, error=str(exc)))
            self._confirm(number, page, f"ACK failed: Alertmanager did not silence "
                          f"{labels(page.matchers)}; try again or silence it there")
            return Outcome.FAILED
        self.outbox.acknowledge(page.id, until)
        clock = datetime.fromtimestamp(until, UTC).strftime("%H:%M")
        self._confirm(number, page, f"ACK: silenced {labels(page.matchers)} for {span(seconds)}"
                      f", until {clock} UTC")
        log.info(event("acknowledged", **shown, page=page.id, route=page.route, silence=silence,
                       duration=span(seconds), page_to_ack=f"{now - page.fired:.1f}s"))
        return Outcome.ACKNOWLEDGED

    def _number(self, sender: str) -> str | None:
        from .numbers import normalize

        try:
            number = normalize(sender, self.region, warn=False)
        except ProviderError:
            return None
        return number if number in self.numbers else None

    def _confirm(self, number: str, page: Page, text: str) -> None:
        """A short text back through the page's route (the number's own, if that route is
        gone from the config), through the outbox like any other."""
        route = page.route if page.route in self.routes else self.numbers[number]
        self.outbox.enqueue([Job(route, number, text, self.routes[route], kind="ack",
                                 summary_key="ack")], 0.0)
        if self.on_confirm is not None:
            self.on_confirm()


def fingerprint(reply: Reply) -> str:
    """A key for a reply the gateway gave no id: who, what and when."""
    material = f"{reply.sender}\0{reply.text}\0{reply.received}\0{reply.to}"
    return "sha256:" + hashlib.sha256(material.encode()).hexdigest()[:32]
