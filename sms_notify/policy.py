"""What comes after each attempt to send one recipient's text, written once (docs/design.md,
Decisions 2, 12 and 13) for `send`, `nagios` and Apprise (delivery.deliver) and for `serve`
(the dispatcher).

A caller keeps a Progress per recipient (the outbox keeps it in the job), makes the request or
the look-up, and asks `decide` what that outcome means: sent; the same account again after a
pause; ask the gateway whether it has the text; the next account; or given up, either `dead`
(not sent) or `unconfirmed` (it may have been sent). The rules:

- Transient errors (unavailable, rate_limited: refused connections, connect timeouts, 5xx, 429)
  are retried with exponential backoff and jitter until the deadline (the command's --timeout,
  the job's max_age), `tries_per_account` times on an account before the next is tried; after
  the last account the round starts again from the first. No pause is longer than half the
  time left, so a short budget ends in several tries, not one long wait.
- auth, credit and sender refusals belong to the account: the next one is tried at once. After
  a round of nothing but refusals the round starts again only if `account_pause` is left before
  the deadline: nobody fixes a password or tops up credit within a one-shot command's seconds.
- recipient and request errors are final.
- An unknown outcome (a request written but never answered, an answer that cannot be read) is
  never retried blindly: where the gateway can be asked, it is asked once the account's timeout
  has passed again, and the text is sent again only if it has no trace; a look-up that fails
  is asked again, with backoff, until the deadline, and only then is the text unconfirmed.
  Where it cannot, the
  text moves on to the next account once; a second unknown outcome, or none left to move to,
  makes it `unconfirmed`. An account that may have sent it is never used for it again, so a
  recipient gets at most one text per account.

Where many texts share an account (`serve`), the account has a Breaker: after a transient
failure it is open, and its texts wait instead of each retrying on its own; one probe request
at a time goes after a backoff, and the first success closes it and lets every waiting text
go, batched again. A text whose account is open moves on to the route's next account at once
when it has one (`held`): an open breaker never makes a route with a healthy backup wait.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum, StrEnum

from .errors import ProviderError


class Step(StrEnum):
    SENT = "sent"  # the gateway took it
    RETRY = "retry"  # the same account again, after the pause
    ASK = "ask"  # ask the gateway whether it has the text, after the pause
    NEXT = "next"  # the account Progress.account names now, after the pause
    UNCONFIRMED = "unconfirmed"  # given up with an unknown outcome: it may have been sent
    DEAD = "dead"  # given up: not sent


class Asked(Enum):
    """What a look-up at the gateway said about the text."""

    FOUND = "found"
    NO_TRACE = "no trace"
    FAILED = "could not ask"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try, for every caller alike; `budget` is deliver()'s deadline."""

    budget: float = 30.0  # seconds for one text, every try included (send, nagios, Apprise)
    tries_per_account: int = 2  # transient failures on one account before the next is tried
    base_delay: float = 0.5
    max_delay: float = 300.0
    jitter: float = 0.5  # the delay is scaled by a random factor in [1 - jitter, 1]
    account_pause: float = 60.0  # time that must be left to try again after every account refused
    reserve: float = 0.5  # the least time a request needs: no pause ends closer to the deadline
    probe_max: float = 5.0  # longest pause between two probes of a failing account: an alert
    # waits at most this long after a gateway comes back

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Pause after the `attempt`-th failed request: exponential, capped, jittered."""
        full = min(self.max_delay, self.base_delay * 2 ** (max(1, attempt) - 1))
        return full * (1 - self.jitter * rng.random())


@dataclass
class Progress:
    """Where one recipient's text stands across attempts."""

    account: int = 0  # index of the account it goes through next
    tries: int = 0  # transient failures on that account since the text moved to it
    attempts: int = 0  # requests made for it (the caller counts them); the backoff grows with them
    refused: int = 0  # bit i: account i refused it in this round (auth, credit, sender)
    unsure: int = 0  # bit i: account i may have sent it (unknown outcome): never used again
    ask: bool = False  # the last request to `account` has an unknown outcome: ask, don't send


@dataclass(frozen=True)
class Situation:
    """What the decision needs besides the outcome."""

    accounts: int  # accounts on the route
    askable: bool  # the current account's gateway can say whether it has this text
    timeout: float  # the current account's request timeout
    now: float
    deadline: float  # when trying stops (the command's --timeout, the job's max_age)
    policy: RetryPolicy
    rng: random.Random


@dataclass(frozen=True)
class Decision:
    step: Step
    pause: float = 0.0  # seconds before the step is taken


Outcome = ProviderError | Asked | None  # a send's error (None: taken), or a look-up's answer


def decide(progress: Progress, outcome: Outcome, at: Situation) -> Decision:
    """The next step for one recipient after `outcome`; updates `progress` to match."""
    if outcome is None or outcome is Asked.FOUND:
        return Decision(Step.SENT)
    if outcome is Asked.NO_TRACE:  # the gateway never had it: sending again is safe, and now
        progress.ask = False
        return Decision(Step.RETRY)
    if outcome is Asked.FAILED:
        return _ask_again(progress, at)
    error = outcome
    if error.unknown_outcome:
        latest = at.deadline - at.policy.reserve - at.now
        if at.askable and latest > 0:
            progress.ask = True
            return Decision(Step.ASK, min(at.timeout, latest))
        return _unsure(progress, at)
    if not error.category.fails_over:
        return _give_up(progress)
    if error.transient:
        progress.tries += 1
        others = [i for i in _usable(progress, at) if i != progress.account]
        if progress.tries < at.policy.tries_per_account or not others:
            return _later(progress, Step.RETRY, _backoff(progress, at), at)
        return _move_on(progress, at)
    progress.refused |= 1 << progress.account  # auth, credit, sender: this account is out
    return _move_on(progress, at)


def _usable(progress: Progress, at: Situation) -> list[int]:
    return [i for i in range(at.accounts) if not progress.unsure & (1 << i)]


def _backoff(progress: Progress, at: Situation, failures: int | None = None) -> float:
    """The policy's delay after `failures` (the text's requests by default), but never more
    than half the time left: a short budget (a one-shot command's) keeps room for several more
    tries instead of one long wait."""
    count = progress.attempts if failures is None else failures
    return min(at.policy.delay(count, at.rng), max(0.0, at.deadline - at.now) / 2)


def _switch(progress: Progress, index: int) -> None:
    progress.account, progress.tries, progress.ask = index, 0, False


def _give_up(progress: Progress) -> Decision:
    """Unconfirmed where an account may have sent it, else dead."""
    return Decision(Step.UNCONFIRMED if progress.unsure else Step.DEAD)


def _later(progress: Progress, step: Step, pause: float, at: Situation,
           least: float = 0.0) -> Decision:
    """`step` after `pause`, cut short to leave a request's time before the deadline; given up
    when not even that, or not the `least` pause, is left."""
    latest = at.deadline - at.policy.reserve - at.now
    if latest <= 0 or least > latest:
        return _give_up(progress)
    return Decision(step, min(pause, latest))


def _move_on(progress: Progress, at: Situation) -> Decision:
    """The next account of this round at once; after the last, a new round from the first,
    after a backoff (when every account refused, only with `account_pause` left)."""
    usable = _usable(progress, at)
    later = [i for i in usable if i > progress.account]
    if later:
        _switch(progress, later[0])
        return _later(progress, Step.NEXT, 0.0, at)
    if not usable:
        return _give_up(progress)
    least = 0.0
    if all(progress.refused & (1 << i) for i in usable):  # only worth it with time to fix them
        least = at.policy.account_pause
    progress.refused = 0
    _switch(progress, usable[0])
    return _later(progress, Step.NEXT, _backoff(progress, at), at, least)


def _ask_again(progress: Progress, at: Situation) -> Decision:
    """A look-up that failed (the gateway hangs or is down) says nothing about the text. With
    another account on the route it is asked `tries_per_account` times, then the text moves on
    once (at most one text per account): a gateway down behind a load balancer, answering 502
    to the send and to every question, must not hold a page until max_age. With none, it is
    asked again after a backoff that grows with the failed look-ups until the deadline; only
    then is it unconfirmed."""
    progress.tries += 1
    if at.deadline - at.policy.reserve - at.now <= 0:
        return _unsure(progress, at)
    others = [i for i in _usable(progress, at) if i != progress.account]
    if others and progress.tries >= at.policy.tries_per_account:
        return _unsure(progress, at)
    return _later(progress, Step.ASK, _backoff(progress, at, progress.tries), at)


def _unsure(progress: Progress, at: Situation) -> Decision:
    """The current account may have sent it: never again through it. The text moves on once;
    a second time, or with nowhere to go, it is unconfirmed."""
    first = not progress.unsure
    progress.unsure |= 1 << progress.account
    progress.ask = False
    usable = _usable(progress, at)
    if not first or not usable or at.now >= at.deadline - at.policy.reserve:
        return Decision(Step.UNCONFIRMED)
    following = [i for i in usable if i > progress.account] or usable
    _switch(progress, following[0])
    return Decision(Step.NEXT)


def held(progress: Progress, at: Situation, until: float) -> Decision:
    """The text's account is failing (its breaker is open until `until`): the next usable
    account at once, as after its last transient try there; with none other, wait for the
    account (nothing is counted against the text: no request was made)."""
    if any(i != progress.account for i in _usable(progress, at)):
        return _move_on(progress, at)
    return _later(progress, Step.RETRY, max(0.0, until - at.now), at)


@dataclass
class Breaker:
    """One account's circuit, for the dispatcher: closed while the account works; open after a
    transient failure (unavailable, rate_limited), when one probe at a time may go, each after
    a pause that grows with the failures in a row (the same backoff as a text's, at most
    `probe_max`). Not thread-safe: the caller holds a lock."""

    failures: int = 0  # transient failures in a row; 0: closed
    until: float = 0.0  # no probe before this
    probing: bool = False  # a probe is on the wire

    @property
    def open(self) -> bool:
        return self.failures > 0

    def admit(self, now: float) -> bool:
        """Whether a request may go now; while open, it is the probe."""
        if not self.failures:
            return True
        if self.probing or now < self.until:
            return False
        self.probing = True
        return True

    def record(self, failed: bool, probe: bool, now: float, policy: RetryPolicy,
               seed: float, retry_at: float = float("inf")) -> None:
        """A request's outcome: any success closes it; a failure opens it, or, from the probe,
        keeps it open with a longer pause, never past `retry_at` (when the failed request's
        own texts are due again on this account: they are the next probe, as they would
        have been without a breaker). Failures of requests sent before it opened add nothing:
        they tell what the probe will."""
        if not failed:
            self.failures, self.until, self.probing = 0, 0.0, False
            return
        if self.failures and not probe:
            return
        self.failures += 1
        self.probing = False
        pause = min(policy.probe_max, policy.delay(self.failures, random.Random(seed)))
        self.until = min(now + pause, retry_at)
