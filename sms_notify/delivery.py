"""Sending policy, once, for every provider: batching, retries, failover.

- Batching: recipients go in as few requests as the gateway allows (Provider.max_recipients).
- Retries: only transient categories (unavailable, rate_limited), with exponential backoff and
  jitter, within one time budget for the whole text.
- Failover: accounts are tried in order and each recipient gets the text through one of them
  only; a recipient moves on on auth, credit, rate_limited and unavailable, while recipient and
  request errors are final at once (docs/design.md, Decision 2).
"""

from __future__ import annotations

import logging
import random
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from .errors import Category, ProviderError
from .model import (
    Account, Balance, DeliveryStatus, Provider, Receipt, Recipient, Submission, check_sender,
)
from .numbers import normalize
from .manager import Gateway, gateway, provider_for
from .text import count_parts, gsm_friendly, is_gsm, shorten

log = logging.getLogger("sms_notify")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` per account for transient errors, all inside `budget` seconds."""

    budget: float = 30.0
    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.5  # the delay is scaled by a random factor in [1 - jitter, 1]

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Pause after the `attempt`-th failure: exponential, capped, jittered."""
        full = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return full * (1 - self.jitter * rng.random())


@dataclass
class Clock:
    """Time as the policy sees it; tests replace it to run retries without waiting."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = random.Random()  # noqa: RUF009 - one shared generator is fine


def new_reference() -> str:
    """Our own reference for a message: short, unique, safe in every gateway's field."""
    return secrets.token_hex(6)


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
    """Strip accents GSM-7 lacks and replace what is left outside GSM-7 by '?'."""
    out = []
    for c in text:
        if is_gsm(c):
            out.append(c)
            continue
        base = unicodedata.normalize("NFKD", c)
        base = "".join(b for b in base if is_gsm(b))
        out.append(base or "?")
    return "".join(out)


def retrying(call: Callable[[], T], policy: RetryPolicy, deadline: float, clock: Clock) -> T:
    """Run `call`, retrying transient ProviderErrors with backoff until attempts or time run out."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except ProviderError as exc:
            if not exc.transient or attempt >= policy.attempts:
                raise
            pause = policy.delay(attempt, clock.rng)
            if clock.now() + pause >= deadline:
                raise
            log.info("transient error (%s); retrying in %.1fs", exc.describe(), pause)
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
    policy: RetryPolicy = RetryPolicy(),
    deadline: float | None = None,
    clock: Clock | None = None,
) -> list[Receipt]:
    """Send one text through one account: batched, transient errors retried. Never raises a
    ProviderError: whole-request failures become a failed Receipt for each recipient.

    Recipients keep their `reference`, so a caller that stored one (the outbox) can look the
    message up at the gateway after a crash."""
    clock = clock or Clock()
    deadline = clock.now() + policy.budget if deadline is None else deadline
    provider = provider_for(account.scheme)
    label = account.label()
    try:
        if account.sender:
            check_sender(provider, account.sender)
    except ProviderError as exc:
        return [Receipt(r, error=exc, account=label, parts=0) for r in recipients]
    segments = segments_allowed(account, provider, max_segments)
    prepared = prepare_text(text, provider, segments)
    out: list[Receipt] = []
    for batch in chunks(list(recipients), provider.max_recipients):
        submission = Submission(
            prepared, list(batch), account.sender, segments, reference=batch[0].reference
        )
        try:
            out.extend(
                retrying(
                    lambda: attempt(_with_timeout(account, deadline, clock), submission),
                    policy,
                    deadline,
                    clock,
                )
            )
        except ProviderError as exc:
            log.info("%d recipient(s) via %s: %s", len(batch), label, exc.describe())
            out.extend(Receipt(r, error=exc, account=label, parts=0) for r in batch)
    return out


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


def deliver(
    accounts: Sequence[Account],
    text: str,
    to: Iterable[str] = (),
    *,
    region: str | None = None,
    max_segments: int = 1,
    policy: RetryPolicy = RetryPolicy(),
    clock: Clock | None = None,
) -> list[Receipt]:
    """Send one text to every recipient, through the first account that can take it.

    Recipients are `to` plus every account's targets; gateway lists go through their own
    account only. Returns one Receipt per recipient, in order.
    """
    if not accounts:
        raise ValueError("deliver() needs at least one account")
    clock = clock or Clock()
    deadline = clock.now() + policy.budget
    raw = [*to, *(t for a in accounts for t in a.targets)]
    region = region or next((a.options["region"] for a in accounts if "region" in a.options), None)
    pending, final = recipients_from(raw, region)
    for index, account in enumerate(accounts):
        if not pending:
            break
        last = index == len(accounts) - 1
        moved: list[Recipient] = []
        for receipt in submit(
            account, pending, text, max_segments=max_segments, policy=policy,
            deadline=deadline, clock=clock,
        ):
            if receipt.ok or last or not receipt.error.category.fails_over:  # type: ignore[union-attr]
                final.append(receipt)
            else:
                log.warning(
                    "%s: %s failed (%s); trying the next account",
                    receipt.recipient.address, account.label(), receipt.error.describe(),  # type: ignore[union-attr]
                )
                moved.append(receipt.recipient)
        pending = moved
    for account in accounts:
        for named_list in gateway_lists(account):  # one request per list: they don't batch
            final.extend(
                submit(account, [named_list], text, max_segments=max_segments, policy=policy,
                       deadline=deadline, clock=clock)
            )
    return final


def _ask(
    account: Account,
    capability: str,
    ask: Callable[[Gateway, Account], T],
    clock: Clock | None,
    budget: float | None = None,
) -> T:
    """Ask the gateway (balance, status, ...) with the same retries as a send, inside
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
    return retrying(
        lambda: ask(gw, _with_timeout(account, deadline, clock)), policy, deadline, clock
    )


def balance(
    account: Account, *, clock: Clock | None = None, budget: float | None = None
) -> Balance:
    """The account's credit, from the gateway, within `budget` seconds for every try."""
    return _ask(account, "balance", Gateway.balance, clock, budget)


def status(account: Account, message_id: str, *, clock: Clock | None = None) -> DeliveryStatus:
    """A message's delivery state, where the gateway offers a look-up (docs/design.md,
    Decision 3)."""
    return _ask(account, "status", lambda gw, a: gw.status(a, message_id), clock)


def check_login(account: Account, *, clock: Clock | None = None) -> bool:
    """Check credentials online, where the gateway offers it without sending."""
    return _ask(account, "login", Gateway.check_login, clock)


def lookup(
    account: Account, references: Sequence[str], *, clock: Clock | None = None
) -> dict[str, bool]:
    """Which references the gateway has accepted (crash recovery, docs/design.md, Decision 1)."""
    return _ask(account, "lookup", lambda gw, a: gw.lookup(a, references), clock)
