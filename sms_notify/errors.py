"""One small family of errors, with categories a caller can act on."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Receipt


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


class OutOfTime(BaseException):
    """A command's hard time limit passed (an alarm raised it, maybe in the middle of a gateway
    request): a BaseException, so that no `except Exception` on the way swallows it.
    deliver() fills `receipts` on its way out: what is known of each recipient at that
    instant, a text whose request was still unanswered `unconfirmed` (it may have gone out)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.receipts: list[Receipt] = []


class UsageError(SmsError):
    """The command line or arguments are wrong (exit status 2)."""


class ConfigError(SmsError):
    """A config file or provider URL is wrong; `path` names the key (e.g. routes.oncall.via[1])."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


MASK = "****"
MIN_SECRET = 3  # shorter values are not masked: every such fragment would garble the text
MIN_ENCODED = 8  # the same for a secret's base64 or hex form: shorter ones are left
_PREFIX_CHARS = 64  # how much of a secret's start is recognised where an answer was cut
# the start of an encoded character, where the cut fell inside it: %C3%A, \u00, &#x2
_PARTIAL = (r"(?:(?:%[0-9a-fA-F]{0,2})+|\\(?:u[0-9a-fA-F]{0,4})?(?:\\(?:u[0-9a-fA-F]{0,3})?)?"
            r"|&\#?[xX]?[0-9a-zA-Z]{0,7})?")


def _char_forms(char: str) -> str:
    """A regex for one character of a secret in every form a gateway, a proxy's error page or
    our own error text may show it: raw, percent-encoded (either case, `+` for a space),
    JSON-escaped, XML/HTML character references and entities, and UTF-8 read as Latin-1."""
    import html.entities
    import json

    forms = {re.escape(char)}
    forms.add("".join(f"%{b:02x}" for b in char.encode("utf-8")))
    units = char.encode("utf-16-be")
    forms.add("".join(rf"\\u{units[i:i + 2].hex()}" for i in range(0, len(units), 2)))
    forms.add(re.escape(json.dumps(char)[1:-1]))
    forms.add(rf"&\#0*{ord(char)};")
    forms.add(rf"&\#x0*{ord(char):x};")
    name = html.entities.codepoint2name.get(ord(char))
    if name:
        forms.add(rf"&{name};")
    if char == "'":
        forms.add("&apos;")
    if char.isspace():
        forms |= {r"\s+", r"\+"}
    if not char.isascii():
        forms.add(re.escape(char.encode("utf-8").decode("latin-1")))
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


@functools.lru_cache(maxsize=64)
def _secret_pattern(secret: str) -> re.Pattern[str]:
    """The secret whole, in any mix of its forms and in any letter case (a gateway or proxy
    that upper-cases what it echoes); or its first MIN_SECRET or more characters where a
    shortened text ends in "..." (a snippet cut in the middle of an echoed password)."""
    forms = [_char_forms(c) for c in secret]
    prefix = forms[:_PREFIX_CHARS]
    tail = ""
    for form in reversed(prefix[MIN_SECRET:]):
        tail = f"(?:{form}{tail})?"
    cut = "".join(prefix[:MIN_SECRET]) + tail + _PARTIAL + r"(?=\.\.\.$)"
    return re.compile(f"{''.join(forms)}|{cut}", re.IGNORECASE)


@functools.lru_cache(maxsize=64)
def _encoded_forms(secret: str) -> tuple[str, ...]:
    """The secret as base64 and hex, raw and percent-encoded as a request body carries it: the
    text a gateway echoing the request, or an `Authorization: Basic` header (base64 of
    `user:password`), would show. Base64 depends on where the secret starts within the
    encoded bytes, so each of the three offsets gives a fragment: the characters that only the
    secret's bits make (standard and URL-safe alphabets). Fragments shorter than MIN_ENCODED
    are left: they would mask innocent text. Plain text, found with `in` (no regex to run)."""
    import base64
    from urllib.parse import quote, quote_plus

    forms: set[str] = set()
    for variant in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
        raw = variant.encode("utf-8")
        forms |= {raw.hex(), raw.hex().upper()}
        for offset in range(3):
            encoded = base64.b64encode(bytes(offset) + raw).decode("ascii")
            fragment = encoded[-(-8 * offset // 6):8 * (offset + len(raw)) // 6]
            forms |= {fragment, fragment.replace("+", "-").replace("/", "_")}
    return tuple(sorted((f for f in forms if len(f) >= MIN_ENCODED), key=len, reverse=True))


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
        their error answers (encoded, upper-cased, as base64 or hex), and this text reaches
        logs, output and Apprise warnings. Control
        and format characters go too (a terminal escape, a bidi override), whichever way the
        answer was decoded."""
        text = "".join(c if c.isprintable() else " " if c.isspace() else "" for c in self.text)
        for secret in sorted(set(secrets), key=len, reverse=True):
            if len(secret) >= MIN_SECRET:
                for form in _encoded_forms(secret):
                    if form in text:
                        text = text.replace(form, MASK)
                text = _secret_pattern(secret).sub(MASK, text)
        self.text = text
        self.args = (self.describe(),)
        return self

    def __str__(self) -> str:
        return self.describe()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its fields (serve's delivery process sends results to serve)."""
        return (type(self), (self.category, self.text, self.code, self.provider),
                {"unknown_outcome": self.unknown_outcome})

    def describe(self) -> str:
        """`auth: -501 Unknown Username/Password` - category, the gateway's code, its text."""
        code = f"{self.code} " if self.code else ""
        return f"{self.category}: {code}{self.text}"
