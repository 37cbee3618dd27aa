"""`serve`'s work for closing the loop (docs/design.md, Decision 15), in two background
threads. One asks the gateways about sent texts whose time has come (sms_notify.receipts),
every second: a slow gateway, asked about hundreds of texts one request each, delays only that.
The other escalates the pages whose time has come (sms_notify.escalation) every second, reads
the reply feeds of gateways that keep one every REPLY_POLL seconds, and acts on replies
(sms_notify.acks), pushed ones too, which a request hands over without waiting for
Alertmanager. Each thread runs where it has work: `serve` delivers in a process of its own
(sms_notify.deliverer), which asks about receipts, and serve runs the other thread.

All of it is state in the outbox, so the thread may stop at any moment: the next start takes up
where it was.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from .config import Route
from .escalation import escalate
from .manager import gateway, provider_for
from .model import Account, Reply
from .outbox import Outbox
from .receipts import Receipts

if TYPE_CHECKING:
    from .acks import Acks

log = logging.getLogger("sms_notify.loop")

TICK = 1.0  # seconds between passes
REPLY_POLL = 10.0  # seconds between reads of a reply feed

Handed = tuple[str, Sequence[Reply]] | None


class Loop:
    """Receipts, replies and escalations for one outbox, in threads of their own."""

    def __init__(
        self, outbox: Outbox, accounts: Mapping[str, Account], routes: Mapping[str, Route],
        receipts: Receipts, acks: Acks | None = None, *, asks: bool = True,
        on_escalation: Callable[[str, int], None] | None = None,
        wake: Callable[[], None] = lambda: None, now: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.accounts = accounts
        self.routes = routes
        self.receipts = receipts
        self.acks = acks
        self.asks = asks  # whether this loop asks the gateways about receipts
        self.on_escalation = on_escalation  # route, texts added
        self.wake = wake  # new jobs are in the outbox
        self.now = now
        self._queue: queue.SimpleQueue[Handed] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._polled = 0.0

    @property
    def escalates(self) -> bool:
        return any(r.escalate for r in self.routes.values())

    def start(self) -> None:
        self._threads = []
        if self.acks is not None or self.escalates:
            self._threads.append(threading.Thread(target=self._run, name="sms-notify-loop",
                                                  daemon=True))
        if self.asks:
            self._threads.append(threading.Thread(target=self._check, name="sms-notify-receipts",
                                                  daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """After the passes under way; replies handed over and not acted on yet are dropped
        (the gateway's feed is read again from its cursor; a push is not)."""
        self._stopping.set()
        self._queue.put(None)  # wakes the loop's thread
        for thread in self._threads:
            thread.join(timeout)

    def hand_over(self, account: str, replies: Sequence[Reply]) -> None:
        """Pushed replies, to act on in the loop's thread."""
        self._queue.put((account, replies))

    def step(self) -> None:
        """One pass of each: reports asked for, escalations, reply feeds when due, and every
        reply handed over (tests call it; start() runs them in their threads)."""
        self._pass(*([self.receipts.check] if self.asks else []), self._escalate,
                   self._read_replies)
        while True:
            try:
                handed = self._queue.get_nowait()
            except queue.Empty:
                return
            if handed is not None:
                self._act(*handed)

    @staticmethod
    def _pass(*parts: Callable[[], object]) -> None:
        for part in parts:
            try:
                part()
            except Exception:  # noqa: BLE001 - one failing part must not stop the others
                log.exception("closing the loop: %s failed", getattr(part, "__name__", part))

    def _check(self) -> None:
        while not self._stopping.wait(TICK):
            self._pass(self.receipts.check)

    def _run(self) -> None:
        next_pass = 0.0
        while not self._stopping.is_set():
            if time.monotonic() >= next_pass:
                self._pass(self._escalate, self._read_replies)
                next_pass = time.monotonic() + TICK
            try:
                handed = self._queue.get(timeout=max(0.0, next_pass - time.monotonic()))
            except queue.Empty:
                continue
            if handed is not None:
                self._act(*handed)

    def _act(self, account: str, replies: Sequence[Reply]) -> bool:
        """Act on replies; False when that failed (a feed is then read again)."""
        if self.acks is None:
            return True
        try:
            self.acks.take(account, replies)
        except Exception:  # noqa: BLE001 - the loop outlives a reply it could not act on
            log.exception("acting on replies through %s failed", account)
            return False
        return True

    def _escalate(self) -> None:
        if not self.escalates:
            return
        added = escalate(self.outbox, self.routes, self.now())
        if added:
            self.wake()
            if self.on_escalation is not None:
                for route in {j.route for j in added}:
                    self.on_escalation(route, sum(1 for j in added if j.route == route))

    def _read_replies(self) -> None:
        """Each account whose gateway keeps a feed of replies, every REPLY_POLL seconds: the
        replies acted on, then the feed advanced past them."""
        now = time.monotonic()
        if self.acks is None or now - self._polled < REPLY_POLL:
            return
        self._polled = now
        from .errors import ProviderError
        from .feeds import feed_for

        for name, account in self.accounts.items():
            provider = provider_for(account.scheme)
            if "replies" not in provider.capabilities:
                continue
            feed = feed_for(account, provider, self.outbox.feeds(), kind="replies")
            try:
                replies = gateway(account.scheme).replies(account, feed)
            except ProviderError as exc:
                log.info("replies through %s not read: %s", name, exc.describe())
                continue
            if replies and self._act(name, replies):
                feed.advance(max(r.cursor for r in replies), {})
