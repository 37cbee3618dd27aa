from __future__ import annotations

import logging

import pytest

from sms_notify.errors import Category, ProviderError
from sms_notify.numbers import normalize


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


def test_unknown_range_is_sent_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sms_notify"):
        assert normalize("+447700900123") == "+447700900123"
    assert "not a known number range" in caplog.text
