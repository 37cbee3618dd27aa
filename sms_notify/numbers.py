"""Recipients as E.164 numbers, through phonenumbers.

A number is refused only when it cannot be a phone number at all; one that phonenumbers'
metadata does not know (a new range, the 07700 900xxx drama range) is sent with a warning,
because an out-of-date table must never silence an alert.
"""

from __future__ import annotations

import logging

from .errors import Category, ProviderError

log = logging.getLogger("sms_notify")


def normalize(raw: str, region: str | None = None) -> str:
    """E.164 for `raw`: `+447700900123`, `447700900123`, `00447700900123` or national with a region."""
    import phonenumbers

    text = raw.strip()
    compact = "".join(c for c in text if c not in " -().")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+") and not region:
        compact = "+" + compact  # international digits without the plus
    try:
        number = phonenumbers.parse(compact, None if compact.startswith("+") else (region or "").upper())
    except phonenumbers.NumberParseException as exc:
        raise ProviderError(Category.RECIPIENT, f"{raw!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_possible_number(number):
        raise ProviderError(Category.RECIPIENT, f"{raw!r} cannot be a phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # The range check only feeds a warning, and costs ~10 ms of regex compiling in a fresh
    # process: skip it where nobody would see the warning (the quiet Nagios command).
    if log.isEnabledFor(logging.WARNING) and not phonenumbers.is_valid_number(number):
        log.warning("%s is not a known number range; sending anyway, the gateway decides", e164)
    return e164
