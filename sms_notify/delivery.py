"""Sending policy, once, for every provider: batching, retries, failover.

- Batching: recipients go in as few requests as the gateway allows (Provider.max_recipients); a
  request the gateway refused whole for one bad number is split until that number is found, so
  the others still get the text (docs/design.md, Decision 13).
- What follows each attempt (retry after a pause, ask the gateway, the next account, give up)
  is sms_notify.policy's, for `send`, `nagios` and Apprise here and for `serve` in the
  dispatcher alike: transient errors are retried until the time budget runs out, recipient and
  request errors are final, and a send whose outcome is unknown is never repeated blindly
  (docs/design.md, Decisions 2 and 12).
"""

from __future__ import annotations

import logging
import random
import os
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

from .errors import Category, OutOfTime, ProviderError
from .model import (
    Account, Balance, DeliveryStatus, Feed, Provider, Receipt, Recipient, Submission,
    check_sender,
)
from .numbers import normalize
from .policy import Asked, Outcome, Progress, RetryPolicy, Situation, Step, decide
from .manager import Gateway, gateway, provider_for
from .text import count_parts, gsm_friendly, is_gsm, shorten

if TYPE_CHECKING:
    from .feeds import Feeds

log = logging.getLogger("sms_notify")
T = TypeVar("T")


@dataclass
class Clock:
    """Time as the policy sees it; tests replace it to run retries without waiting."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = random.Random()  # noqa: RUF009 - one shared generator is fine


def new_reference() -> str:
    """Our own reference for a message: short, unique, safe in every gateway's field (what
    secrets.token_hex(6) gives, without importing hmac and OpenSSL's hashes at start-up)."""
    return os.urandom(6).hex()


def segments_allowed(account: Account, provider: Provider, max_segments: int) -> int:
    """Parts one text may take: the account's `max_segments=`, else the caller's, within what
    the gateway can send."""
    return max(1, min(account.max_segments or max_segments, provider.max_segments))


def prepare_text(text: str, provider: Provider, max_segments: int) -> str:
    """The text as it will travel: GSM-friendly punctuation, GSM-only where the gateway needs it,
    shortened to the parts allowed."""
    text = gsm_friendly(text)
    if not provider.unicode and not is_gsm(text):
        text = to_gsm(text)
    return shorten(text, max(1, min(max_segments, provider.max_segments)))


def to_gsm(text: str) -> str:
    """Strip accents GSM-7 lacks and replace what is left outside GSM-7 by '?': one for each
    symbol, so what only modifies the one before (an emoji's presentation selector or skin
    tone, a joiner, a combining mark) adds none."""
    out = []
    for c in text:
        if is_gsm(c):
            out.append(c)
            continue
        if unicodedata.category(c) in ("Mn", "Me", "Cf") or "\U0001f3fb" <= c <= "\U0001f3ff":
            continue
        base = unicodedata.normalize("NFKD", c)
        base = "".join(b for b in base if is_gsm(b))
        out.append(base or "?")
    return "".join(out)


def _query_retrying(call: Callable[[], T], policy: RetryPolicy, deadline: float, clock: Clock) -> T:
    """Run a query (balance, status, look-up: nothing is sent), asking again after transient
    errors with backoff until the deadline."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except ProviderError as exc:
            pause = policy.delay(attempt, clock.rng)
            if not exc.transient or clock.now() + pause >= deadline:
                raise
            log.info("transient error (%s); asking again in %.1fs", exc.describe(), pause)
            clock.sleep(pause)


def _with_timeout(account: Account, deadline: float, clock: Clock) -> Account:
    """The account with its request timeout cut to what is left of the budget."""
    left = max(0.5, deadline - clock.now())
    if left >= account.timeout:
        return account
    return replace(account, options={**account.options, "timeout": f"{left:.2f}"})


def attempt(account: Account, submission: Submission) -> list[Receipt]:
    """One gateway request through the provider's notify hook, its answer checked."""
    receipts = gateway(account.scheme).send(account, submission)
    parts = count_parts(submission.text).parts
    label = account.label()
    for receipt in receipts:
        receipt.account = label
        receipt.request_ref = submission.reference
        receipt.parts = receipt.parts if receipt.parts > 1 else parts
    return receipts


def recipients_from(
    raw: Iterable[str], region: str | None = None
) -> tuple[list[Recipient], list[Receipt]]:
    """Normalise raw numbers: valid ones as Recipients (deduplicated), bad ones as failed Receipts."""
    good: dict[str, Recipient] = {}
    bad: list[Receipt] = []
    for value in raw:
        try:
            e164 = normalize(value, region)
        except ProviderError as exc:
            bad.append(Receipt(Recipient(value), parts=0, error=exc))
            continue
        good.setdefault(e164, Recipient(e164, reference=new_reference()))
    return list(good.values()), bad


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    size = max(1, size)
    return [items[i : i + size] for i in range(0, len(items), size)]


def submit(
    account: Account,
    recipients: Sequence[Recipient],
    text: str,
    *,
    max_segments: int = 1,
    deadline: float | None = None,
    clock: Clock | None = None,
    receipt_url: str = "",
) -> list[Receipt]:
    """One attempt to send one text to each recipient through one account, batched. Never
    raises a ProviderError: a whole request's failure becomes a failed Receipt for each of its
    recipients. With a `deadline`, each request's timeout is cut to what is left of it; a
    `receipt_url` goes with each request (Submission.receipt_url).

    Recipients keep their `reference`, so a caller that stored one (the outbox) can look the
    message up at the gateway after a crash."""
    clock = clock or Clock()
    provider = provider_for(account.scheme)
    try:
        check_sender(provider, account.sender)
    except ProviderError as exc:
        return [Receipt(r, error=exc, account=account.label(), parts=0) for r in recipients]
    segments = segments_allowed(account, provider, max_segments)
    prepared = prepare_text(text, provider, segments)
    out: list[Receipt] = []
    for batch in chunks(list(recipients), provider.max_recipients):
        out.extend(_request(account, batch, prepared, segments, deadline, clock, receipt_url))
    return out


def _request(
    account: Account, batch: Sequence[Recipient], text: str, segments: int,
    deadline: float | None, clock: Clock, receipt_url: str = "",
) -> list[Receipt]:
    """One gateway request. A gateway that refused it whole for a bad number (server2sms 14)
    sent nothing: the halves go again, until the number is alone (docs/design.md, Decision 13)."""
    submission = Submission(text, list(batch), account.sender, segments,
                            reference=batch[0].reference, receipt_url=receipt_url)
    try:
        return attempt(_with_timeout(account, deadline, clock) if deadline else account,
                       submission)
    except ProviderError as exc:
        if exc.category is Category.RECIPIENT and len(batch) > 1 and not exc.unknown_outcome:
            log.info("%s refused a request of %d for a bad number (%s); splitting it",
                     account.label(), len(batch), exc.describe())
            half = len(batch) // 2
            return [*_request(account, batch[:half], text, segments, deadline, clock, receipt_url),
                    *_request(account, batch[half:], text, segments, deadline, clock, receipt_url)]
        log.info("%d recipient(s) via %s: %s", len(batch), account.label(), exc.describe())
        return [Receipt(r, error=exc, account=account.label(), parts=0,
                        request_ref=submission.reference) for r in batch]


def gateway_lists(account: Account) -> list[Recipient]:
    """Gateway-side lists named by the account's options (?list=, ?group=, ?phonebook=)."""
    provider = provider_for(account.scheme)
    return [
        Recipient(account.options[opt], reference=new_reference(), kind=opt)
        for opt in provider.list_options
        if account.options.get(opt)
    ]


def has_recipient(accounts: Sequence[Account], to: Sequence[str]) -> bool:
    """Whether a text has anyone to go to: numbers given, an account's own numbers, or a
    gateway list one of the accounts names."""
    return bool(to) or any(a.targets or gateway_lists(a) for a in accounts)


def askable(account: Account, recipient: Recipient) -> bool:
    """Whether the gateway can say if it took this text: a provider with the "lookup"
    capability, for a number (a gateway-side list send carries no reference of ours)."""
    return recipient.kind == "number" and "lookup" in provider_for(account.scheme).capabilities


@dataclass(eq=False)
class _Text:
    """One recipient's text in deliver(): its route, where it stands, its latest receipt."""

    recipient: Recipient
    route: Sequence[Account]
    progress: Progress = field(default_factory=Progress)
    due: float = 0.0
    last: Receipt | None = None

    @property
    def account(self) -> Account:
        return self.route[self.progress.account]


def deliver(
    accounts: Sequence[Account],
    text: str,
    to: Iterable[str] = (),
    *,
    region: str | None = None,
    max_segments: int = 1,
    policy: RetryPolicy = RetryPolicy(),
    clock: Clock | None = None,
    feeds: Feeds | None = None,
) -> list[Receipt]:
    """Send one text to every recipient through the first account that can take it, within
    `policy.budget` seconds (sms_notify.policy says what follows each attempt).

    Recipients are `to` plus every account's targets; gateway lists go through their own
    account only. Returns one Receipt per recipient: the numbers that cannot be phone numbers
    first, then the others in order. A receipt that is `unconfirmed` may have been sent.

    A caller's OutOfTime (its hard time limit, perhaps in the middle of a request) goes on
    with the receipts as they stand in its `receipts` (see _cut_short).
    """
    if not accounts:
        raise ValueError("deliver() needs at least one account")
    clock = clock or Clock()
    deadline = clock.now() + policy.budget
    raw = [*to, *(t for a in accounts for t in a.targets)]
    region = region or next((a.options["region"] for a in accounts if "region" in a.options), None)
    numbers, bad = recipients_from(raw, region)
    texts = [_Text(r, accounts) for r in numbers]
    texts += [_Text(named, [a]) for a in accounts for named in gateway_lists(a)]
    active = list(texts)
    in_flight: list[_Text] = []  # the texts of the request being made, until its outcome is in
    try:
        while active:
            now = clock.now()
            due = [t for t in active if t.due <= now]
            if not due:
                clock.sleep(min(t.due for t in active) - now)
                continue
            for group in _requests(due):
                account = group[0].account
                outcomes: list[Outcome]
                in_flight = group
                if group[0].progress.ask:
                    outcomes = list(_look_up(account, group, deadline, clock, feeds))
                else:
                    receipts = submit(account, [t.recipient for t in group], text,
                                      max_segments=max_segments, deadline=deadline, clock=clock)
                    for item, receipt in zip(group, receipts, strict=True):
                        item.progress.attempts += 1
                        item.last = receipt
                    outcomes = [r.error for r in receipts]
                in_flight = []
                seed = clock.rng.random()  # one jitter for the request: its texts stay together
                for item, outcome in zip(group, outcomes, strict=True):
                    if _settled(item, outcome, account, deadline, policy, clock, seed):
                        active.remove(item)
    except OutOfTime as stop:
        stop.receipts = [*bad, *(_cut_short(t, t not in active, t in in_flight) for t in texts)]
        raise
    return [*bad, *(t.last for t in texts if t.last is not None)]


def _cut_short(item: _Text, settled: bool, in_flight: bool) -> Receipt:
    """One recipient's receipt when the caller's time ran out: a settled one as it is; one
    whose send was still out, or whose last send went unanswered (a look-up about it may be
    out), unconfirmed: the gateway may have sent it; any other failed."""
    account = item.account.label()
    last = item.last
    if settled and last is not None:
        return last
    if in_flight and not item.progress.ask:
        error = ProviderError(Category.UNAVAILABLE, "no answer before the time limit",
                              unknown_outcome=True)
        return Receipt(item.recipient, parts=0, error=error, account=account, unconfirmed=True)
    if last is not None and last.error is not None and last.error.unknown_outcome:
        return replace(last, unconfirmed=True)
    if last is not None:
        return last
    error = ProviderError(Category.UNAVAILABLE, "not sent before the time limit")
    return Receipt(item.recipient, parts=0, error=error, account=account)


def _requests(due: Sequence[_Text]) -> list[list[_Text]]:
    """Due texts as requests: numbers through the same account (to send, or to ask about)
    together, up to the gateway's recipients per request; each gateway list alone."""
    groups: dict[tuple[int, bool, int], list[_Text]] = {}
    for item in due:
        alone = id(item) if item.recipient.kind != "number" else 0
        groups.setdefault((id(item.account), item.progress.ask, alone), []).append(item)
    return [list(batch) for group in groups.values() for batch in (
        [group] if group[0].progress.ask
        else chunks(group, provider_for(group[0].account.scheme).max_recipients))]


def _look_up(account: Account, group: Sequence[_Text], deadline: float, clock: Clock,
             feeds: Feeds | None) -> list[Asked]:
    """Ask the gateway which of these texts it has, within what is left of the budget."""
    wanted = {t.recipient.reference: t for t in group}
    for item in group:
        if item.last is not None and item.last.request_ref:
            wanted.setdefault(item.last.request_ref, item)
    try:
        found = lookup(account, list(wanted), clock=clock,
                       budget=max(0.5, deadline - clock.now()), feeds=feeds)
    except ProviderError as exc:
        log.warning("could not ask %s whether it has the text: %s", account.label(),
                    exc.describe())
        return [Asked.FAILED] * len(group)
    has = {id(item) for ref, item in wanted.items() if found.get(ref)}
    return [Asked.FOUND if id(t) in has else Asked.NO_TRACE for t in group]


def _settled(item: _Text, outcome: Outcome, account: Account, deadline: float,
             policy: RetryPolicy, clock: Clock, seed: float) -> bool:
    """Apply the policy's decision to one text; True once it is settled for good."""
    now = clock.now()
    situation = Situation(accounts=len(item.route), askable=askable(account, item.recipient),
                          timeout=account.timeout, now=now, deadline=deadline, policy=policy,
                          rng=random.Random(seed))
    decision = decide(item.progress, outcome, situation)
    who = item.recipient.address
    if decision.step is Step.SENT:
        if outcome is Asked.FOUND:  # the unanswered request did go out
            item.last = Receipt(item.recipient, message_id=item.recipient.reference,
                                account=account.label(),
                                request_ref=item.last.request_ref if item.last else "")
        return True
    if decision.step in (Step.DEAD, Step.UNCONFIRMED):
        if item.last is not None and decision.step is Step.UNCONFIRMED:
            item.last.unconfirmed = True
            log.warning("%s: given up without knowing whether %s sent it", who,
                        item.last.account or account.label())
        return True
    error = item.last.error.describe() if item.last and item.last.error else "-"
    if decision.step is Step.NEXT and item.account is not account:
        log.warning("%s: %s failed (%s); trying %s", who, account.label(), error,
                    item.account.label())
    elif decision.step is Step.ASK:
        log.info("%s: %s did not say whether it took the text (%s); asking in %.1fs", who,
                 account.label(), error, decision.pause)
    else:
        log.info("%s: %s failed (%s); again in %.1fs", who, account.label(), error,
                 decision.pause)
    item.due = now + decision.pause
    return False


def _ask(
    account: Account,
    capability: str,
    ask: Callable[[Gateway, Account], T],
    clock: Clock | None,
    budget: float | None = None,
) -> T:
    """Ask the gateway (balance, status, ...) asking again after transient errors, inside
    `budget` seconds (default: twice the account's request timeout, at least 10 s)."""
    gw = gateway(account.scheme)
    if capability not in gw.provider.capabilities:
        raise ProviderError(
            Category.REQUEST,
            f"{gw.provider.name} offers no {capability} look-up",
            provider=gw.provider.name,
        )
    clock = clock or Clock()
    policy = RetryPolicy(budget=budget or max(account.timeout * 2, 10.0))
    deadline = clock.now() + policy.budget
    return _query_retrying(
        lambda: ask(gw, _with_timeout(account, deadline, clock)), policy, deadline, clock
    )


def balance(
    account: Account, *, clock: Clock | None = None, budget: float | None = None
) -> Balance:
    """The account's credit, from the gateway, within `budget` seconds for every try."""
    return _ask(account, "balance", Gateway.balance, clock, budget)


def status(
    account: Account, message_id: str, *, clock: Clock | None = None, feeds: Feeds | None = None
) -> DeliveryStatus:
    """A message's delivery state, where the gateway offers a look-up (docs/design.md,
    Decision 3)."""
    feed = _feed(account, feeds)
    return _ask(account, "status", lambda gw, a: gw.status(a, message_id, feed), clock)


def check_login(account: Account, *, clock: Clock | None = None) -> bool:
    """Check credentials online, where the gateway offers it without sending."""
    return _ask(account, "login", Gateway.check_login, clock)


def lookup(
    account: Account, references: Sequence[str], *, clock: Clock | None = None,
    budget: float | None = None, feeds: Feeds | None = None,
) -> dict[str, bool]:
    """Which references the gateway has accepted: after an unknown outcome, and after a crash
    (docs/design.md, Decisions 1 and 12)."""
    feed = _feed(account, feeds)
    return _ask(account, "lookup", lambda gw, a: gw.lookup(a, references, feed), clock, budget)


def _feed(account: Account, feeds: Feeds | None) -> Feed:
    """The account's change feed: in `feeds` (serve's outbox), else the one-shot commands' own
    store (sms_notify.feeds), opened only if the provider reads it."""
    from .feeds import feed_for

    return feed_for(account, provider_for(account.scheme), feeds)
