"""Shared fixtures: a fake provider plugin registered the way a third-party one would be."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import responses

from sms_notify import hookimpl, manager
from sms_notify.delivery import Clock
from sms_notify.errors import ProviderError
from sms_notify.model import Account, Balance, Provider, Receipt, Submission


class FakeTime:
    """A wall clock the test sets (the outbox and dispatcher take `now=`)."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def now() -> FakeTime:
    return FakeTime()


@pytest.fixture
def path(tmp_path: Path) -> str:
    """A fresh outbox file."""
    return str(tmp_path / "outbox.sqlite")


@pytest.fixture
def apprise_schemas() -> Iterator[None]:
    """Our schemas registered with Apprise for one test. Apprise's manager is a singleton and
    unload_modules() forgets third-party schemas, so each test starts from a clean one."""
    from apprise import NotificationManager

    from sms_notify.integrations.apprise import register

    NotificationManager().unload_modules()
    register()
    yield
    NotificationManager().unload_modules()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Commands set logging up (sms_notify.logs.setup: a root handler, levels of the libraries
    it quiets): each test leaves it as it found it."""
    from sms_notify import logs

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = [*logs.NOISY, *logs.NEVER_DEBUG, *logs.ALWAYS_ON, logs.ACCESS]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMS_NOTIFY_CONFIG", raising=False)
    monkeypatch.delenv("SMS_NOTIFY_LOAD_PLUGINS", raising=False)


@pytest.fixture(autouse=True)
def _feeds_of_the_test(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The one-shot commands' change-feed store in the test's own folder, never the user's."""
    from sms_notify import feeds

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(feeds, "_default", None)


@dataclass(eq=False)
class FakeGateway:
    """A provider plugin whose answers the test queues; it records every request it gets."""

    scheme: str = "fake"
    max_recipients: int = 2
    lookup: bool = False  # the gateway can say which of our references it has
    requests: list[tuple[Account, Submission]] = field(default_factory=list)
    # Each entry answers one request: an exception to raise, or a function of the submission.
    answers: list[ProviderError | Callable[[Submission], Sequence[Receipt]]] = field(
        default_factory=list
    )
    known: set[str] = field(default_factory=set)  # references it took (what a look-up finds)
    asked: list[list[str]] = field(default_factory=list)  # the look-ups it answered

    @property
    def provider(self) -> Provider:
        return Provider(
            scheme=self.scheme, name=self.scheme.title(), base_url="https://gw.invalid",
            max_recipients=self.max_recipients, max_segments=3,
            options={"list": "a gateway-side list", "roster": "one no built-in gateway has"},
            list_options=("list", "roster"),
            capabilities=frozenset({"balance", "lookup"} if self.lookup else {"balance"}),
        )

    @hookimpl
    def sms_notify_register_providers(self, register: Callable[[Provider], None]) -> None:
        register(self.provider)

    @hookimpl
    def sms_notify_send(self, account: Account, submission: Submission) -> list[Receipt] | None:
        if account.scheme != self.scheme:
            return None
        self.requests.append((account, submission))
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, ProviderError):
            raise answer
        if answer is not None:
            return list(answer(submission))
        self.known.update(r.reference for r in submission.recipients)
        return [Receipt(r, message_id=f"{self.scheme}-{len(self.requests)}-{i}")
                for i, r in enumerate(submission.recipients)]

    @hookimpl
    def sms_notify_lookup(self, account: Account, references: Sequence[str]) -> dict[str, bool] | None:
        if account.scheme != self.scheme:
            return None
        self.asked.append(list(references))
        return {ref: ref in self.known for ref in references}

    def took_without_answer(self, submission: Submission) -> list[Receipt]:
        """An answer for `answers`: the gateway takes the text, and the answer never comes."""
        self.known.update(r.reference for r in submission.recipients)
        raise ProviderError("unavailable", "no answer from gw.invalid within 10s",
                            unknown_outcome=True)

    @hookimpl
    def sms_notify_balance(self, account: Account) -> Balance | None:
        return Balance(42.0) if account.scheme == self.scheme else None

    def recipients_sent(self) -> list[str]:
        return [r.address for _, s in self.requests for r in s.recipients]


@pytest.fixture
def fake_gateways() -> Iterator[Callable[..., FakeGateway]]:
    """Make and register fake gateways (`make("fake")`, `make("backup")`), unregistered after."""
    made: list[str] = []

    def make(scheme: str = "fake", **kwargs: Any) -> FakeGateway:
        gateway = FakeGateway(scheme=scheme, **kwargs)
        manager.register(gateway, name=f"test-{scheme}")
        made.append(f"test-{scheme}")
        return gateway

    yield make
    for name in made:
        manager.unregister(name)


class InstantClock(Clock):
    """A clock whose sleeps pass at once, and which records them."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []
        super().__init__(now=lambda: self.t, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


@pytest.fixture
def clock() -> InstantClock:
    return InstantClock()


@pytest.fixture
def gateway() -> Iterator[responses.RequestsMock]:
    """A mocked gateway for the wire tests: every request the test expects must be made."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def instant(monkeypatch: pytest.MonkeyPatch) -> None:
    """Instant retries for calls that build their own Clock (the CLI's balance and status)."""
    from sms_notify import delivery

    monkeypatch.setattr(delivery, "Clock", InstantClock)
