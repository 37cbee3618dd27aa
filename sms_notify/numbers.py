"""Recipients as E.164 numbers, through phonenumbers.

A number is refused only when it cannot be a phone number at all, or can be one only inside its
own area (`12345678`: a local number without its area code, which no gateway can route); one
that phonenumbers' metadata does not know (a new range, the 07700 900xxx drama range) is sent
with a warning, because an out-of-date table must never silence an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from typing import TypeVar

from .errors import Category, ProviderError
from .model import Recipient

T = TypeVar("T")
SUFFIX_DIGITS = 9  # national significant digits enough to know a number a gateway reformatted

log = logging.getLogger("sms_notify")


REGION_HINT = ("a national number needs a region: defaults.region in the config, ?region= in "
               "the URL, or --region")
_warned: set[str] = set()  # numbers already warned about: once per number per process


def normalize(raw: str, region: str | None = None, *, warn: bool = True) -> str:
    """E.164 for `raw`: `+447700900123`, `447700900123`, `00447700900123` or national with a
    region. A number outside the known ranges is logged once (`warn=False`: not at all)."""
    import phonenumbers

    text = raw.strip()
    compact = "".join(c for c in text if c not in " -().")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    national = not compact.startswith("+") and not region and compact.startswith("0")
    if not compact.startswith("+") and not region:
        compact = "+" + compact  # international digits without the plus
    try:
        number = phonenumbers.parse(compact, None if compact.startswith("+") else (region or "").upper())
    except phonenumbers.NumberParseException as exc:
        hint = REGION_HINT if national else str(exc)
        raise ProviderError(Category.RECIPIENT, f"{raw!r} is not a phone number ({hint})") from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        raise ProviderError(
            Category.RECIPIENT,
            f"{raw!r} is a local number only: give it in international form (+44...) or with "
            "its area code and region=",
        )
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        hint = f" ({REGION_HINT})" if national else ""
        raise ProviderError(Category.RECIPIENT, f"{raw!r} cannot be a phone number{hint}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # The range check only feeds a warning, and costs ~10 ms of regex compiling in a fresh
    # process: skip it where nobody would see the warning (the quiet Nagios command).
    if warn and e164 not in _warned and log.isEnabledFor(logging.WARNING) \
            and not phonenumbers.is_valid_number(number):
        _warned.add(e164)
        log.warning("%s is not a known number range; sending anyway, the gateway decides", e164)
    return e164


def known_range(e164: str) -> bool:
    """Whether phonenumbers' tables know the range of this E.164 number."""
    import phonenumbers

    return bool(phonenumbers.is_valid_number(phonenumbers.parse(e164, None)))


def same_number(digits: str, written: str) -> bool:
    """Whether a gateway's `written` form (national, spaced, without the plus) is the number
    with these international `digits`: the last SUFFIX_DIGITS digits agree."""
    theirs = "".join(c for c in written if c.isdigit())
    return len(theirs) >= SUFFIX_DIGITS and digits[-SUFFIX_DIGITS:] == theirs[-SUFFIX_DIGITS:]


def match_rows(
    recipients: Sequence[Recipient], rows: Sequence[T],
    rules: Sequence[Callable[[Recipient, T], bool]], taken: Collection[int] = (),
) -> tuple[dict[int, T], list[T]]:
    """Recipient index -> the gateway's row about it, rule by rule (each row used once, the
    recipients in `taken` skipped); and the rows no recipient claimed."""
    found: dict[int, T] = {}
    left = list(rows)
    for rule in rules:
        for index, recipient in enumerate(recipients):
            if index in found or index in taken:
                continue
            hit = next((row for row in left if rule(recipient, row)), None)
            if hit is not None:
                found[index] = hit
                left.remove(hit)
    return found, left
