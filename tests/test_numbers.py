from __future__ import annotations

import logging

import pytest

from sms_notify.errors import Category, ProviderError
from sms_notify.model import Recipient
from sms_notify import numbers
from sms_notify.numbers import known_range, match_rows, normalize, same_number


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+447700900123", None, "+447700900123"),
        ("447700900123", None, "+447700900123"),
        ("00447700900123", None, "+447700900123"),
        ("07700 900123", "GB", "+447700900123"),
        ("447700900123", "GB", "+447700900123"),
        ("+41 79 123 45 67", None, "+41791234567"),
        ("079 123 45 67", "ch", "+41791234567"),
    ],
)
def test_normalize(raw: str, region: str | None, e164: str) -> None:
    assert normalize(raw, region) == e164


@pytest.mark.parametrize("raw", ["abc", "12", "+44", ""])
def test_impossible_numbers_are_recipient_errors(raw: str) -> None:
    with pytest.raises(ProviderError) as info:
        normalize(raw)
    assert info.value.category is Category.RECIPIENT
    assert repr(raw) in info.value.text


@pytest.mark.parametrize(("raw", "region"), [("12345678", None), ("+12345678", None),
                                             ("79460018", "GB")])
def test_numbers_possible_only_locally_are_refused(raw: str, region: str | None) -> None:
    """Issue 13: `12345678` went out as +12345678. A number that can only be dialled inside its
    own area (no area code) reaches nobody through an international gateway."""
    with pytest.raises(ProviderError) as info:
        normalize(raw, region)
    assert info.value.category is Category.RECIPIENT
    assert "a local number only" in info.value.text


def test_a_region_makes_a_national_number_whole() -> None:
    assert normalize("020 7946 0018", "GB") == "+442079460018"


@pytest.fixture
def unwarned(monkeypatch: pytest.MonkeyPatch) -> None:
    """No number warned about yet in this process."""
    monkeypatch.setattr(numbers, "_warned", set())


def test_unknown_range_is_sent_with_a_warning(
    unwarned: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sms_notify"):
        assert normalize("+447700900123") == "+447700900123"
    assert "not a known number range" in caplog.text


def test_the_range_warning_comes_once_per_number(
    unwarned: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sms_notify"):
        for raw in ("+447700900123", "447700900123", "+447700900124", "+447700900123"):
            normalize(raw)
        normalize("+447700900125", warn=False)
    said = [r.getMessage() for r in caplog.records]
    assert said == ["+447700900123 is not a known number range; sending anyway, the gateway "
                    "decides", "+447700900124 is not a known number range; sending anyway, "
                    "the gateway decides"]


@pytest.mark.parametrize("raw", ["07700900123", "07700 900123", "0791234567"])
def test_a_national_number_without_a_region_says_how_to_give_one(raw: str) -> None:
    with pytest.raises(ProviderError) as info:
        normalize(raw)
    assert "a national number needs a region" in info.value.text
    assert "defaults.region" in info.value.text and "--region" in info.value.text


def test_known_range() -> None:
    assert known_range("+447911123456")
    assert not known_range("+447700900123")  # the drama range


def test_same_number_knows_a_number_a_gateway_wrote_nationally() -> None:
    assert same_number("447700900123", "07700 900123")
    assert same_number("447700900123", "+44 (0)7700-900123")
    assert not same_number("447700900123", "07700 900124")
    assert not same_number("447700900123", "900123")  # too few digits to tell


def test_match_rows_goes_rule_by_rule_and_uses_each_row_once() -> None:
    a, b, c = (Recipient(n) for n in ("+447700900123", "+447700900124", "+447700900125"))
    rows = ["07700900124", "447700900123", "07700900124", "something else"]
    found, left = match_rows(
        [a, b, c], rows,
        (lambda r, row: r.digits == row, lambda r, row: same_number(r.digits, row)),
        taken={2},
    )
    assert found == {0: "447700900123", 1: "07700900124"}
    assert left == ["07700900124", "something else"]
