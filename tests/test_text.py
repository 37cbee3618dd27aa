from __future__ import annotations

import pytest

from sms_notify.text import count_parts, gsm_friendly, is_gsm, shorten


@pytest.mark.parametrize(
    ("text", "encoding", "parts", "units"),
    [
        ("", "gsm7", 1, 0),
        ("a" * 160, "gsm7", 1, 160),
        ("a" * 161, "gsm7", 2, 161),
        ("a" * 306, "gsm7", 2, 306),
        ("a" * 307, "gsm7", 3, 307),
        ("€" * 80, "gsm7", 1, 160),  # extension characters take two septets
        ("€" * 81, "gsm7", 2, 162),
        ("a" * 152 + "€", "gsm7", 1, 154),
        ("a" * 70, "gsm7", 1, 70),
        ("ж" * 70, "ucs2", 1, 70),
        ("ж" * 71, "ucs2", 2, 71),
        ("ж" * 134, "ucs2", 2, 134),
        ("ж" * 135, "ucs2", 3, 135),
        ("😀" * 35, "ucs2", 1, 70),  # a surrogate pair is two UTF-16 units
        ("😀" * 36, "ucs2", 2, 72),
    ],
)
def test_count_parts(text: str, encoding: str, parts: int, units: int) -> None:
    result = count_parts(text)
    assert (result.encoding, result.parts, result.units) == (encoding, parts, units)


def test_extension_character_never_straddles_two_parts() -> None:
    # 152 + 2 septets would fill part one to 154 > 153: the euro moves to part two.
    text = "a" * 152 + "€" + "b" * 152
    assert count_parts(text).units == 306  # 2 x 153 if the euro could be split
    assert count_parts(text).parts == 3


def test_surrogate_pair_never_straddles_two_parts() -> None:
    text = "ж" * 66 + "😀" + "ж" * 66
    assert count_parts(text).parts == 3


def test_gsm_friendly_replaces_punctuation_only() -> None:
    assert gsm_friendly("“Disk” – full… it’s → bad") == '"Disk" - full... it\'s -> bad'
    assert gsm_friendly("Ελλάδα") == "Ελλάδα"
    assert is_gsm(gsm_friendly("“quoted” — dash"))


@pytest.mark.parametrize("max_segments", [1, 2, 3])
@pytest.mark.parametrize("char", ["a", "ж", "€"])
def test_shorten_fits_and_marks_the_cut(max_segments: int, char: str) -> None:
    text = "start " + char * 1000
    short = shorten(text, max_segments)
    assert count_parts(short).parts == max_segments
    assert short.startswith("start ")
    assert short.endswith("...")


def test_shorten_leaves_a_fitting_text_alone() -> None:
    assert shorten("short", 1) == "short"
    with pytest.raises(ValueError):
        shorten("x", 0)


def _reference_parts(text: str) -> tuple[str, int, int]:
    """Part counting spelled out character by character, the slow obvious way."""
    from sms_notify.text import GSM_BASIC, GSM_EXTENSION

    gsm = all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)
    widths = [(2 if c in GSM_EXTENSION else 1) if gsm else (2 if ord(c) > 0xFFFF else 1)
              for c in text]
    single, multi = (160, 153) if gsm else (70, 67)
    parts, used = 1, 0
    if sum(widths) > single:
        for w in widths:
            if used + w > multi:
                parts, used = parts + 1, 0
            used += w
    return ("gsm7" if gsm else "ucs2", parts, sum(widths))


from hypothesis import given, settings, strategies as st  # noqa: E402

_ALPHABETS = st.sampled_from(["abc xyz", "abc{}[]~€", "abcé€ü", "ab😀c", "ab\u4e2d😀{"])


@settings(max_examples=300)
@given(_ALPHABETS.flatmap(lambda chars: st.text(alphabet=chars, max_size=700)))
def test_fast_part_counting_agrees_with_the_character_by_character_count(text: str) -> None:
    from sms_notify.text import count_parts

    counted = count_parts(text)
    assert (counted.encoding, counted.parts, counted.units) == _reference_parts(text)


def test_control_characters_go() -> None:
    """An ESC (a terminal colour in a check's output), BEL or NUL is no part of a text: each
    went out as `?` through the GSM-only gateways. Line breaks stay; a tab is a space."""
    assert gsm_friendly("\x1b[31mCRITICAL\x1b[0m disk\x07 full\x00\x7f\x9b\r\nnext\tline") == (
        "CRITICAL disk full\r\nnext line")
    assert gsm_friendly("a\x1bb") == "ab"
