"""What the example's tests share: sms_notify.testing's pieces as pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from sms_notify.testing import ManualClock


@pytest.fixture
def gateway() -> Iterator[responses.RequestsMock]:
    """The gateway, mocked: every request a test expects must be made."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def clock() -> ManualClock:
    """Retries without waiting: the pauses are recorded instead."""
    return ManualClock()
