"""The values that cross the hooks: providers, accounts, submissions and their results."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from .errors import Category, ProviderError

COMMON_OPTIONS: Mapping[str, str] = {
    "from": "sender ID (alphanumeric name or number)",
    "to": "more recipients, comma-separated",
    "endpoint": "replace scheme://host[:port] of the gateway's address, keep its path",
    "timeout": "seconds to wait for one gateway request (default 10)",
    "region": "region for national numbers, e.g. GB",
    "max_segments": "most SMS parts a text may take; longer texts are shortened (default 1)",
}
# Other names a URL may use for an option, as Apprise's own SMS plugins accept them.
OPTION_ALIASES: Mapping[str, str] = {"source": "from"}
VALIDITY_OPTION = "validity"
VALIDITY_HELP = "how long the network keeps trying to deliver a text (30m, 1h, ...)"


@dataclass(frozen=True)
class Provider:
    """What a gateway plugin declares about its gateway; the core's policy reads these limits."""

    scheme: str
    name: str
    base_url: str  # documented scheme://host, replaced by endpoint=
    credentials: tuple[str, ...] = ("user", "password")  # or ("token",): what USER[:PASSWORD]@ holds
    max_recipients: int = 1  # recipients in one request
    max_segments: int = 1  # most parts the gateway sends for one text
    unicode: bool = True  # can send UCS-2 texts
    # Sender-ID rules, checked in one place (check_sender): up to `sender_max_digits` digits, or
    # up to `sender_max_alnum` characters each matching `sender_char`; `sender_required` when
    # the gateway refuses a send without one.
    sender_max_alnum: int = 11
    sender_max_digits: int = 15
    sender_char: str = r"[A-Za-z0-9 .\-_&]"
    sender_required: bool = False
    # The longest validity= the gateway takes, in seconds; 0 when it takes none.
    max_validity: float = 0.0
    options: Mapping[str, str] = field(default_factory=dict)  # provider-specific query arguments
    # Values a provider option may take (lower case), where only some can work (live=yes|no).
    option_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    list_options: tuple[str, ...] = ()  # options naming gateway-side lists (?list=, ?group=, ...)
    # "balance", "status", "lookup", "login"; "receipts" and "receipt_push" (delivery reports
    # asked for or pushed), "replies" and "reply_push" (replies read from a feed or pushed)
    capabilities: frozenset[str] = frozenset()
    summary: str = ""

    @property
    def url_options(self) -> dict[str, str]:
        """Every query argument a URL for this gateway may carry, with what it does."""
        extra = {VALIDITY_OPTION: VALIDITY_HELP} if self.max_validity else {}
        return {**COMMON_OPTIONS, **extra, **self.options}

    @property
    def url_form(self) -> str:
        creds = "TOKEN" if self.credentials == ("token",) else "USER:PASSWORD"
        return f"{self.scheme}://{creds}@TARGET/TARGET?from=SENDER"


@dataclass
class Account:
    """One gateway account, parsed from a provider URL (see sms_notify.urls)."""

    scheme: str
    user: str = ""
    password: str = ""
    targets: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    name: str = ""  # the config's account name, when it came from one

    @property
    def sender(self) -> str | None:
        return self.options.get("from") or None

    @property
    def timeout(self) -> float:
        return float(self.options.get("timeout", "10"))

    @property
    def max_segments(self) -> int | None:
        value = self.options.get("max_segments")
        return int(value) if value else None

    @property
    def validity(self) -> float | None:
        """Seconds the network keeps trying a text (`validity=`, seconds once parsed)."""
        value = self.options.get(VALIDITY_OPTION)
        return float(value) if value else None

    def url(self, provider: Provider, path: str) -> str:
        """The gateway's documented address, or `endpoint=` with the documented path kept."""
        base = self.options.get("endpoint") or provider.base_url
        return base.rstrip("/") + path

    def secrets(self, provider: Provider) -> list[str]:
        """What must never be shown: the password, and a token (which sits in the user part).
        ProviderError.redact masks each in every form a gateway may echo it (percent-, JSON-
        and XML-encoded...)."""
        values = [self.password]
        if provider.credentials == ("token",):
            values.append(self.user)
        return [v for v in values if v]

    def label(self) -> str:
        """How output and logs name this account: its config name, else scheme and endpoint host.
        Never a secret."""
        if self.name:
            return self.name
        endpoint = self.options.get("endpoint")
        return f"{self.scheme}@{urlsplit(endpoint).netloc}" if endpoint else self.scheme


@dataclass(frozen=True)
class Recipient:
    """A destination: an E.164 number, or a gateway-side list (kind = "list", "group", ...)."""

    address: str
    reference: str = ""  # our own reference, echoed by gateways that take one
    kind: str = "number"

    @property
    def digits(self) -> str:
        """International format without the plus, as most gateways want it."""
        return self.address.lstrip("+")


@dataclass
class Submission:
    """One gateway request's worth of sending: one text to at most max_recipients recipients."""

    text: str
    recipients: list[Recipient]
    sender: str | None = None
    max_segments: int = 1
    reference: str = ""  # one reference for the whole request (24x UserField)
    # Where the gateway may push what became of each text (serve's /receipts/ACCOUNT with its
    # secret); empty when nobody listens. Sent by providers that declare "receipt_push".
    receipt_url: str = ""

    @property
    def sender_field(self) -> str:
        """The sender as every gateway here takes it: a number in digits without its plus,
        else the name; empty when there is none."""
        digits = (self.sender or "").removeprefix("+")
        return digits if digits.isdigit() else self.sender or ""


@dataclass
class Receipt:
    """What happened to one recipient: the gateway's message id, or the error."""

    recipient: Recipient
    message_id: str | None = None
    parts: int = 1
    error: ProviderError | None = None
    account: str = ""  # label of the account that took (or refused) it
    request_ref: str = ""  # the reference of the request it went in (24x keeps only that one)
    unconfirmed: bool = False  # given up with an unknown outcome: it may have been sent

    @property
    def ok(self) -> bool:
        return self.error is None


class Feed(Protocol):
    """Where a gateway's change feed was read to, for one account, and what it said about our
    references: kept by the core (sms_notify.feeds) and handed to the status and look-up hooks,
    so that a provider reads on from where its last call stopped."""

    @property
    def position(self) -> int: ...

    def seen(self, items: Iterable[str]) -> dict[str, dict[str, str]]:
        """What was read about these items (their latest change), where it was."""

    def advance(self, position: int, items: Mapping[str, Mapping[str, str]]) -> None:
        """Record a page read: the feed's new position and the latest change of its items."""

    def rewind(self) -> None:
        """The gateway's feed went back behind the position (a gateway reset or restored):
        read it from the start again. What was read about items is kept."""


# What became of a text, as a gateway reports it (docs/design.md, Decision 15): delivered to
# the handset; undelivered (the network gave up on it: no such subscriber, barred, refused);
# expired (its validity ran out before the handset took it); unknown (final, and the gateway
# does not say which, or no report came while one was expected).
HANDSET_STATES = ("delivered", "undelivered", "expired", "unknown")


@dataclass(frozen=True)
class DeliveryReport:
    """One text's fate at the handset, naming the text by our `reference` (Recipient.reference,
    where the gateway echoes it) or the gateway's `message_id` (as the send's Receipt had it)."""

    state: str  # one of HANDSET_STATES
    message_id: str = ""
    reference: str = ""
    at: float | None = None  # when it happened (Unix time), where the gateway says so
    detail: str = ""  # the gateway's own words

    def __post_init__(self) -> None:
        if self.state not in HANDSET_STATES:
            raise ValueError(f"DeliveryReport state {self.state!r} is not one of "
                             f"{', '.join(HANDSET_STATES)}")
        if not (self.message_id or self.reference):
            raise ValueError("a DeliveryReport names its text by message_id or reference")


@dataclass(frozen=True)
class Reply:
    """A text a phone sent back, as a gateway passes it on."""

    sender: str  # the number it came from, as the gateway writes it
    text: str
    id: str = ""  # the gateway's id for it: the same reply delivered twice acts once
    received: float | None = None  # when the gateway got it (Unix time), where it says so
    to: str = ""  # the number it was sent to (a virtual mobile number), where given
    reference: str = ""  # our reference of the text it answers, where the gateway keeps one
    cursor: int = 0  # read from a feed: the feed's position once this reply is taken


@dataclass(frozen=True)
class Push:
    """An HTTP request a gateway made to `serve` (a delivery report, a reply): the query
    string's and a form body's fields together, names exactly as sent, and the raw body."""

    method: str
    params: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = ""


@dataclass(frozen=True)
class Balance:
    credits: float
    unit: str = "credits"


@dataclass(frozen=True)
class DeliveryStatus:
    """A message's state: queued, sent, delivered, failed or unknown; `final` once it cannot change."""

    message_id: str
    state: str
    final: bool = False
    detail: str = ""


@functools.cache
def _sender_pattern(char: str) -> re.Pattern[str]:
    return re.compile(f"^(?:{char})+$")


def check_sender(provider: Provider, sender: str | None) -> None:
    """The provider's sender-ID rules: up to N digits (an optional +), or up to M characters of
    its alphabet; and one at all where the gateway requires it. A refusal is `sender`: it is the
    account's `from`, and the next account has its own."""
    if not sender:
        if provider.sender_required:
            raise ProviderError(
                Category.SENDER, f"{provider.name} needs a sender: add from=NAME or a number",
                provider=provider.name,
            )
        return
    digits = sender[1:] if sender.startswith("+") else sender
    if digits.isdigit():
        if len(digits) > provider.sender_max_digits:
            raise ProviderError(
                Category.SENDER,
                f"sender {sender!r} is longer than {provider.sender_max_digits} digits",
                provider=provider.name,
            )
        return
    if len(sender) > provider.sender_max_alnum or not _sender_pattern(provider.sender_char).match(sender):
        raise ProviderError(
            Category.SENDER,
            f"sender {sender!r} must be at most {provider.sender_max_alnum} characters of "
            f"{provider.sender_char}, or at most {provider.sender_max_digits} digits",
            provider=provider.name,
        )
