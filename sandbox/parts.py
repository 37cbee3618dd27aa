"""How many SMS parts a gateway bills for a text: GSM 03.38 as the networks count it.

The sandbox's own count, on purpose not the client's (sms_notify.text): a simulator that
counted with the client's rules could never catch the client counting wrong.
"""

from __future__ import annotations

# GSM 03.38 default alphabet (one septet each; ESC, 0x1B, is not a character) and the
# characters of its extension table (ESC + one septet: two each).
BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENDED = frozenset("\f^{}\\[~]|€")
SINGLE = {"gsm": 160, "ucs2": 70}  # septets or UTF-16 units in a text of one part
PART = {"gsm": 153, "ucs2": 67}  # ... in each part of a longer one (the rest is the UDH)


def encoding(text: str) -> str:
    """"gsm" when every character is in the GSM alphabet, else "ucs2"."""
    return "gsm" if all(c in BASIC or c in EXTENDED for c in text) else "ucs2"


def _units(text: str, kind: str) -> list[int]:
    """The size of each character in the encoding: an extension character is two septets, a
    character outside the BMP two UTF-16 units; neither is split between parts."""
    if kind == "gsm":
        return [2 if c in EXTENDED else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def parts(text: str) -> int:
    """Parts the text travels in (at least one)."""
    kind = encoding(text)
    units = _units(text, kind)
    if sum(units) <= SINGLE[kind]:
        return 1
    count, used = 1, 0
    for size in units:
        if used + size > PART[kind]:
            count, used = count + 1, 0
        used += size
    return count
