"""Which accounts are failing, said once per change (docs/design.md, Decision 16).

A wrong token, an empty account or a gateway that is down costs every text sent through that
account, and the outbox keeps retrying for hours: an operator must hear of it at once, and
hear it once, not once per text. The dispatcher reports every send (`on_result`); this keeps
one state per account and logs only when it changes: failing (with the category and the
gateway's own reason), failing for another reason, working again.

Only categories that belong to the account count: auth, credit, sender and unavailable. A
recipient or request error is about one text, and rate limiting is the gateway pacing us.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .logs import event

log = logging.getLogger("sms_notify.accounts")  # always on at the default level (logs.py)

ACCOUNT_FAILURES = frozenset({"auth", "credit", "sender", "refused", "unavailable"})


@dataclass
class Failing:
    """An account's current trouble: since when, why, how many texts it failed."""

    category: str
    reason: str
    since: float
    failures: int = 1


class AccountHealth:
    """The dispatcher's on_result callback that tracks each account's state."""

    def __init__(self, accounts: Mapping[str, Any] | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self._providers = {name: getattr(a, "scheme", "") for name, a in (accounts or {}).items()}
        self._failing: dict[str, Failing] = {}
        self._lock = threading.Lock()
        self.now = now

    def failing(self) -> dict[str, Failing]:
        """Accounts failing now, by name (a copy: metrics read it at scrape time)."""
        with self._lock:
            return dict(self._failing)

    def on_result(self, job: Any, receipt: Any, seconds: float) -> None:
        """A send finished (receipt) or a job ended without one (None: nothing about the
        account)."""
        if receipt is None:
            return
        account = receipt.account or getattr(job, "account", "") or "-"
        error = receipt.error
        if error is None:
            self._works(account)
        elif str(error.category) in ACCOUNT_FAILURES:
            self._fails(account, str(error.category), error.describe())

    def _fails(self, account: str, category: str, reason: str) -> None:
        with self._lock:
            state = self._failing.get(account)
            if state is not None and state.category == category:
                state.failures += 1
                return
            self._failing[account] = Failing(  # since and count: from the first failure
                category, reason, state.since if state else self.now(),
                state.failures + 1 if state else 1)
        log.warning(event("account_failing", account=account,
                          provider=self._providers.get(account, "-"), category=category,
                          reason=reason, was=state.category if state else "ok"))

    def _works(self, account: str) -> None:
        if account not in self._failing:  # the usual case, without the lock
            return
        with self._lock:
            state = self._failing.pop(account, None)
        if state is not None:
            log.info(event("account_ok", account=account,
                           provider=self._providers.get(account, "-"), was=state.category,
                           failing_for=f"{max(0.0, self.now() - state.since):.0f}s",
                           failed_texts=state.failures))
