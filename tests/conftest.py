"""Shared fixtures: fake gateways registered the way a third-party plugin would be, clocks that\nmove only when told (both from sms_notify.testing), mocked gateways, outbox files."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from sms_notify import manager
from sms_notify.testing import FakeGateway, ManualClock


@pytest.fixture
def now() -> ManualClock:
    """A wall clock the test sets (the outbox and dispatcher take `now=`)."""
    return ManualClock()


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


@pytest.fixture
def fake_gateways() -> Iterator[Callable[..., FakeGateway]]:
    """Make and register fake gateways (`make("fake")`, `make("backup")`), unregistered after."""
    made: list[str] = []

    def make(scheme: str = "fake", **kwargs: Any) -> FakeGateway:
        kwargs.setdefault("options", {"list": "a gateway-side list",
                                      "roster": "one no built-in gateway has"})
        kwargs.setdefault("list_options", ("list", "roster"))
        gateway = FakeGateway(scheme=scheme, **kwargs)
        manager.register(gateway, name=f"test-{scheme}")
        made.append(f"test-{scheme}")
        return gateway

    yield make
    for name in made:
        manager.unregister(name)


@pytest.fixture
def clock() -> ManualClock:
    """A clock whose sleeps pass at once, and which records them."""
    return ManualClock(1000.0)


@pytest.fixture
def gateway() -> Iterator[responses.RequestsMock]:
    """A mocked gateway for the wire tests: every request the test expects must be made."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def instant(monkeypatch: pytest.MonkeyPatch) -> None:
    """Instant retries for calls that build their own Clock (the CLI's balance and status)."""
    from sms_notify import delivery

    monkeypatch.setattr(delivery, "Clock", ManualClock)


# ---- The outbox's backends ----
# Tests of the outbox and the dispatcher take `location` and open it with
# sms_notify.outbox.open_outbox(location, now=...): each runs twice, on a fresh SQLite file and
# on a fresh schema of one PostgreSQL server started for the session (tests/postgres.py), so
# both backends keep the same semantics. A test of one backend's own behaviour takes `path`
# (SQLite) or `postgres` (the server: postgres.fresh_url(), .stop(), .start()) instead.
@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """PostgreSQL from Debian's packages in a temporary folder, for the whole session."""
    from tests.postgres import PostgresServer

    server = PostgresServer().start()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """server.outbox of an empty outbox, one per backend. PostgreSQL outboxes the test opened
    are closed after it (a test may leave one open to play a receiver that died)."""
    if request.param == "sqlite":
        yield str(tmp_path / "outbox.sqlite")
        return
    from sms_notify.postgres import PostgresOutbox

    opened: list[PostgresOutbox] = []
    real = PostgresOutbox.__init__

    def tracked(self: PostgresOutbox, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(PostgresOutbox, "__init__", tracked)
    yield str(request.getfixturevalue("postgres").fresh_url())
    for box in opened:
        box.close()
