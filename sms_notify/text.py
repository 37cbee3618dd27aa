"""SMS text rules: GSM-7 and UCS-2 part counting, GSM-friendly punctuation, shortening.

Each part costs money, so alert texts are counted the way the network counts them:
GSM-7 fits 160 characters in one part and 153 per part once concatenated; characters of the
extension table (``^{}\\[~]|€`` and form feed) take two septets and never straddle two parts.
Anything outside GSM-7 switches the whole text to UCS-2: 70 UTF-16 units, 67 per part, and a
surrogate pair never straddles two parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM_ALL = GSM_BASIC | GSM_EXTENSION

GSM_SINGLE, GSM_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

# Unicode punctuation with a GSM-7 equivalent: one curly quote must not turn a text into UCS-2,
# which more than halves what a part holds.
_GSM_FRIENDLY = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u2022": "*", "\u00b7": "*",
        "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u202f": " ",
        "\u200b": "", "\ufeff": "",
        "\u2192": "->", "\u2190": "<-", "\u21d2": "=>",
        "\u2264": "<=", "\u2265": ">=", "\u2260": "!=",
        "\u00d7": "x", "\u2122": "TM", "\u00a9": "(C)", "\u00ae": "(R)",
        "\t": " ",
        "`": "'",
    }
)


# Control characters are no part of a text (a terminal colour in a check's output, a BEL):
# they go, as does a whole terminal escape sequence. Line breaks stay; a tab is a space.
_CONTROLS = {c: None for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\n\r\t"}
_GSM_FRIENDLY.update(_CONTROLS)
_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def gsm_friendly(text: str) -> str:
    """Replace common Unicode punctuation by its GSM-7 look-alike and drop control characters;
    leave everything else."""
    if "\x1b" in text:
        text = _ESCAPE_SEQUENCE.sub("", text)
    return text.translate(_GSM_FRIENDLY)


def is_gsm(text: str) -> bool:
    """True when every character has a GSM-7 encoding (basic or extension table)."""
    return GSM_ALL.issuperset(text)


@dataclass(frozen=True)
class Parts:
    """How a text travels: its encoding, the parts it takes and its length in encoding units."""

    encoding: str  # "gsm7" or "ucs2"
    parts: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2


def _units(text: str, gsm: bool) -> list[int]:
    """Width of each character in its encoding: 1 or 2 septets, 1 or 2 UTF-16 units."""
    if gsm:
        return [2 if c in GSM_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def _pack(widths: list[int], per_part: int) -> int:
    """Parts needed when no character may straddle two parts."""
    parts, used = 1, 0
    for w in widths:
        if used + w > per_part:
            parts, used = parts + 1, 0
        used += w
    return parts


def _double_width(text: str, gsm: bool) -> int:
    """How many characters take two units: extension-table septets, or UTF-16 surrogate pairs."""
    if gsm:
        return 0 if GSM_EXTENSION.isdisjoint(text) else sum(map(text.count, GSM_EXTENSION))
    return 0 if max(text, default="\0") <= "\uffff" else sum(ord(c) > 0xFFFF for c in text)


def count_parts(text: str) -> Parts:
    """Count the parts a text takes, by GSM-7 or UCS-2 rules. The receiver counts every text it
    renders, several times while fitting one to its parts: plain widths take the fast path."""
    gsm = is_gsm(text)
    encoding = "gsm7" if gsm else "ucs2"
    double = _double_width(text, gsm)
    units = len(text) + double
    single, multi = (GSM_SINGLE, GSM_MULTI) if gsm else (UCS2_SINGLE, UCS2_MULTI)
    if units <= single:
        return Parts(encoding, 1, units)
    if not double:  # no character can straddle a part boundary
        return Parts(encoding, -(-units // multi), units)
    return Parts(encoding, _pack(_units(text, gsm), multi), units)


def shorten(text: str, max_segments: int, ellipsis: str = "...") -> str:
    """Cut a text so that it fits in `max_segments` parts, marking the cut with `ellipsis`."""
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    if count_parts(text).parts <= max_segments:
        return text
    gsm = is_gsm(text)
    single, multi = (GSM_SINGLE, GSM_MULTI) if gsm else (UCS2_SINGLE, UCS2_MULTI)
    budget = single if max_segments == 1 else multi * max_segments
    widths = _units(text, gsm)
    room = budget - sum(_units(ellipsis, gsm))
    # Greedy fill, then verify with the exact packer (extension characters may waste a unit).
    used, cut = 0, 0
    for i, w in enumerate(widths):
        if used + w > room:
            break
        used, cut = used + w, i + 1
    while cut > 0:
        candidate = text[:cut].rstrip() + ellipsis
        if count_parts(candidate).parts <= max_segments:
            return candidate
        cut -= 1
    return ellipsis
