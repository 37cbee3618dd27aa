"""One small family of errors, with categories a caller can act on."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Category(StrEnum):
    """What went wrong, in terms a caller can act on; every provider error maps to one."""

    AUTH = "auth"  # credentials refused, account suspended
    CREDIT = "credit"  # out of credit
    RECIPIENT = "recipient"  # this number cannot be reached
    SENDER = "sender"  # the account's sender ID refused: another account has its own `from`
    REQUEST = "request"  # the request itself is wrong: body, options
    RATE_LIMITED = "rate_limited"  # too many messages for now
    UNAVAILABLE = "unavailable"  # gateway down, timeout, 5xx: worth retrying

    @property
    def transient(self) -> bool:
        """Worth retrying against the same account after a pause."""
        return self in (Category.RATE_LIMITED, Category.UNAVAILABLE)

    @property
    def fails_over(self) -> bool:
        """Worth trying the next account: the text itself is fine (docs/design.md, Decision 2)."""
        return self is not Category.RECIPIENT and self is not Category.REQUEST


class SmsError(Exception):
    """Base of every error sms-notify shows to a user."""


class UsageError(SmsError):
    """The command line or arguments are wrong (exit status 2)."""


class ConfigError(SmsError):
    """A config file or provider URL is wrong; `path` names the key (e.g. routes.oncall.via[1])."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


def _cut_prefix(text: str, secret: str, ellipsis: str = "...") -> str:
    """Mask the start of a secret left where an answer was cut short ("...pass..."): a
    shortened gateway answer can end in the middle of an echoed password."""
    if not text.endswith(ellipsis):
        return text
    body = text[: -len(ellipsis)]
    for size in range(min(len(secret) - 1, len(body)), 2, -1):
        if body.endswith(secret[:size]):
            return body[:-size] + "****" + ellipsis
    return text


class ProviderError(SmsError):
    """A gateway refused or failed a request; keeps the gateway's own code and text.

    `unknown_outcome` marks a request that reached the gateway but whose answer never came (a
    read timeout, a connection dropped after the request was written) or cannot be read (a 2xx
    answer that is not the documented format): the gateway may have sent the text, so it is
    never sent again blindly (docs/design.md, Decision 12).
    """

    def __init__(
        self,
        category: Category | str,
        text: str,
        code: str | int | None = None,
        provider: str = "",
        *,
        unknown_outcome: bool = False,
    ) -> None:
        self.category = Category(category)
        self.text = text
        self.code = None if code is None else str(code)
        self.provider = provider
        self.unknown_outcome = unknown_outcome
        super().__init__(self.describe())

    @property
    def transient(self) -> bool:
        return self.category.transient

    def redact(self, secrets: Iterable[str]) -> ProviderError:
        """Mask the account's secrets in the text: some gateways echo the request back in
        their error answers, and this text reaches logs, output and Apprise warnings."""
        for secret in secrets:
            if secret:
                self.text = _cut_prefix(self.text.replace(secret, "****"), secret)
        self.args = (self.describe(),)
        return self

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """`auth: -501 Unknown Username/Password` - category, the gateway's code, its text."""
        code = f"{self.code} " if self.code else ""
        return f"{self.category}: {code}{self.text}"
