"""Where a gateway's change feed has been read to, kept per account
(docs/design.md, Decision 15).

MyMobileAPI's Sent_STR_STR is a feed of status changes after a CHANGEID; read from 0 on every
status or look-up, it took up to 50 requests a call and gave up past 5,000 changes. The core
keeps the cursor and what the feed said about our own references, so each call reads on from
where the last stopped, and finds in the store what an earlier call already read.

`serve` keeps both in its outbox database (two small tables); the one-shot commands (`send`,
`nagios`, `status`) in a file of their own, `$XDG_STATE_HOME/sms-notify/feeds.sqlite`
(`~/.local/state/...` by default), shared by every run of them; where that cannot be written,
in memory for the process (read from the start, as before).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from .model import Account, Feed, Provider

log = logging.getLogger("sms_notify")

KEEP = 7 * 86400.0  # seconds a reference's last change is kept once read
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_cursors (
    feed TEXT PRIMARY KEY, position INTEGER NOT NULL, at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_items (
    feed TEXT NOT NULL, item TEXT NOT NULL, data TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (feed, item)
);
CREATE INDEX IF NOT EXISTS feed_items_at ON feed_items (at);
"""


def feed_key(account: Account, provider: Provider, kind: str = "") -> str:
    """One feed of each kind per account at one gateway: scheme, user and address, never a
    secret; the status feed has no kind, the replies feed is "replies"."""
    user = "" if provider.credentials == ("token",) else account.user
    return f"{account.scheme}:{user}@{account.url(provider, '')}" + (f"#{kind}" if kind else "")


class Feeds:
    """The feeds' cursors and items, in memory; SqliteFeeds keeps them in a file."""

    def __init__(self) -> None:
        self._positions: dict[str, int] = {}
        self._items: dict[str, dict[str, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def feed(self, key: str) -> Feed:
        return StoredFeed(self, key)

    def position(self, key: str) -> int:
        with self._lock:
            return self._positions.get(key, 0)

    def seen(self, key: str, items: Iterable[str]) -> dict[str, dict[str, str]]:
        with self._lock:
            mine = self._items.get(key, {})
            return {item: mine[item] for item in items if item in mine}

    def advance(self, key: str, position: int, items: Mapping[str, Mapping[str, str]]) -> None:
        with self._lock:
            self._positions[key] = max(position, self._positions.get(key, 0))
            self._items.setdefault(key, {}).update({k: dict(v) for k, v in items.items()})

    def rewind(self, key: str) -> None:
        """Back to the start of the feed (advance only moves forward)."""
        with self._lock:
            self._positions[key] = 0


class SqliteFeeds(Feeds):
    """Cursors and items in a SQLite file (the outbox's, for `serve`), opened on first use."""

    def __init__(self, path: str, *, now: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.path = path
        self.now = now
        self._db: sqlite3.Connection | None = None
        self._pruned = 0.0

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                 timeout=5.0)
            db.execute("PRAGMA busy_timeout = 5000")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def position(self, key: str) -> int:
        with self._lock:
            row = self._conn().execute(
                "SELECT position FROM feed_cursors WHERE feed = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def seen(self, key: str, items: Iterable[str]) -> dict[str, dict[str, str]]:
        wanted = list(dict.fromkeys(items))
        found: dict[str, dict[str, str]] = {}
        with self._lock:
            db = self._conn()
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                rows = db.execute(
                    f"SELECT item, data FROM feed_items WHERE feed = ? AND item IN "
                    f"({', '.join('?' * len(part))})", (key, *part)).fetchall()
                found.update({str(item): json.loads(data) for item, data in rows})
        return found

    def advance(self, key: str, position: int, items: Mapping[str, Mapping[str, str]]) -> None:
        now = self.now()
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT INTO feed_items (feed, item, data, at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (feed, item) DO UPDATE SET data = excluded.data, at = excluded.at",
                    [(key, item, json.dumps(dict(data)), now) for item, data in items.items()])
                db.execute(
                    "INSERT INTO feed_cursors (feed, position, at) VALUES (?, ?, ?) "
                    "ON CONFLICT (feed) DO UPDATE SET position = MAX(position, excluded.position),"
                    " at = excluded.at", (key, position, now))
                if now - self._pruned > 3600:
                    db.execute("DELETE FROM feed_items WHERE at < ?", (now - KEEP,))
                    self._pruned = now
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def rewind(self, key: str) -> None:
        with self._lock:
            self._conn().execute("UPDATE feed_cursors SET position = 0, at = ? WHERE feed = ?",
                                 (self.now(), key))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class StoredFeed:
    """One account's feed in a store: what a provider plugin reads and advances. The store may
    be given as a function, called on first use: a gateway without a feed never opens it."""

    def __init__(self, store: Feeds | Callable[[], Feeds], key: str) -> None:
        self._store, self.key = store, key

    @property
    def store(self) -> Feeds:
        if not isinstance(self._store, Feeds):
            self._store = self._store()
        return self._store

    @property
    def position(self) -> int:
        return self.store.position(self.key)

    def seen(self, items: Iterable[str]) -> dict[str, dict[str, str]]:
        return self.store.seen(self.key, items)

    def advance(self, position: int, items: Mapping[str, Mapping[str, str]]) -> None:
        self.store.advance(self.key, position, items)

    def rewind(self) -> None:
        self.store.rewind(self.key)


def feed_for(account: Account, provider: Provider, store: Feeds | None, kind: str = "") -> Feed:
    """The account's feed (of `kind`) in `store`, or in the one-shot commands' own store."""
    return StoredFeed(store or default_feeds, feed_key(account, provider, kind))


_default: Feeds | None = None
_default_lock = threading.Lock()


def state_file() -> Path:
    """Where the one-shot commands keep their feeds."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "state")
    return Path(base) / "sms-notify" / "feeds.sqlite"


def default_feeds() -> Feeds:
    """The one-shot commands' store: the state file, else memory (with a note in the log)."""
    global _default
    with _default_lock:
        if _default is None:
            path = state_file()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                store = SqliteFeeds(str(path))
                store.position("")  # opens it: unwritable or corrupt shows now
                _default = store
            except (OSError, sqlite3.Error) as exc:
                log.info("no feed state file (%s: %s); change feeds are read from the start",
                         path, exc)
                _default = Feeds()
        return _default
