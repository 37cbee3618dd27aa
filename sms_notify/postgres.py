"""The outbox in PostgreSQL, shared by any number of `serve` processes (docs/design.md,
Decision 14). `server.outbox: postgresql://USER:PASSWORD@HOST:PORT/DB`; psycopg 3 comes with
`pip install 'sms-notify[postgres]'`.

- Dedup is a row per (dedup_key, recipient) in `dedup`, taken with INSERT ... ON CONFLICT: the
  receiver whose insert wins, or finds the key older than the window and takes it again,
  accepts the job; every other receiver sees a duplicate. So two receivers share one window.
- A dispatcher claims due jobs with FOR UPDATE SKIP LOCKED and holds them under a lease (owner,
  lease_until) that this outbox renews every LEASE / 4 seconds while the process lives. Jobs in
  flight whose lease ran out were held by a receiver that died: take_over() gives them to
  another, which recovers them as after a crash (Decision 1).
- The dispatchers' planning passes take turns (an advisory lock), so the rate limit counts each
  text once; NOTIFY at each accept wakes every receiver's dispatcher (LISTEN).
- The schema is a numbered list of migrations applied at start under an advisory lock, so two
  receivers starting together upgrade it once.
- A database that goes away fails enqueue and check() (the receiver answers 503) after at most
  WAIT seconds; connections are made anew, so everything recovers by itself when it is back.
  The password never appears in an error or a log line.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from .feeds import KEEP, Feeds
from .outbox import (
    _COLUMNS,
    _INSERT,
    INSERT_ROWS,
    LEASE,
    Job,
    OutboxError,
    SqlOutbox,
    _job,
    _row,
    masked_location,
    new_owner,
    newer_schema,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

log = logging.getLogger("sms_notify.outbox")

CHANNEL = "sms_notify_jobs"  # NOTIFY at each accept: every receiver's dispatcher looks
LOCKS = 0x534D53  # advisory lock class ("SMS"); the second key says which
SCHEMA_LOCK, PLAN_LOCK = 1, 2
WAIT = 5.0  # seconds a request waits for a connection before the receiver answers 503
CONNECT_TIMEOUT = 5  # seconds to reach the server
POOL_SIZE = 16  # connections, at most, per receiver: accepts, senders, planning, reads

# The schema, one migration a version (table schema_version): append, never edit one that
# shipped. The same tables as SQLite's, plus `dedup`, in PostgreSQL's types.
PG_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    route TEXT NOT NULL, recipient TEXT NOT NULL, text TEXT NOT NULL, via TEXT NOT NULL,
    max_segments INTEGER NOT NULL, dedup_key TEXT NOT NULL, summary_key TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
    account_index INTEGER NOT NULL, next_at DOUBLE PRECISION NOT NULL, reference TEXT NOT NULL,
    message_id TEXT NOT NULL, account TEXT NOT NULL, error TEXT NOT NULL, kind TEXT NOT NULL,
    account_attempts INTEGER NOT NULL, doubt INTEGER NOT NULL, folded TEXT NOT NULL,
    done_at DOUBLE PRECISION NOT NULL, request_ref TEXT NOT NULL DEFAULT '',
    refused BIGINT NOT NULL DEFAULT 0, unsure BIGINT NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT '', lease_until DOUBLE PRECISION NOT NULL DEFAULT 0
)""",
        "CREATE INDEX jobs_due ON jobs (state, next_at)",
        "CREATE INDEX jobs_recipient ON jobs (recipient, done_at)",
        "CREATE INDEX jobs_held ON jobs (owner) WHERE owner != ''",
        """CREATE TABLE dedup (
    dedup_key TEXT NOT NULL, recipient TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (dedup_key, recipient)
)""",
        "CREATE INDEX dedup_created ON dedup (created)",
        "CREATE TABLE probe (at DOUBLE PRECISION NOT NULL)",
        "INSERT INTO probe VALUES (0)",
        "CREATE TABLE feed_cursors (feed TEXT PRIMARY KEY, position BIGINT NOT NULL,"
        " at DOUBLE PRECISION NOT NULL)",
        "CREATE TABLE feed_items (feed TEXT NOT NULL, item TEXT NOT NULL, data TEXT NOT NULL,"
        " at DOUBLE PRECISION NOT NULL, PRIMARY KEY (feed, item))",
        "CREATE INDEX feed_items_at ON feed_items (at)",
    ),
    (  # closing the loop (docs/design.md, Decision 15), as SQLite's third migration
        "ALTER TABLE jobs ADD COLUMN receipt TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE jobs ADD COLUMN receipt_at DOUBLE PRECISION NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN check_at DOUBLE PRECISION NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN page BIGINT NOT NULL DEFAULT 0",
        "CREATE INDEX jobs_check ON jobs (check_at) WHERE check_at > 0",
        "CREATE INDEX jobs_sent_reference ON jobs (reference) WHERE state = 'sent'",
        "CREATE INDEX jobs_sent_message ON jobs (message_id) WHERE state = 'sent'",
        """CREATE TABLE pages (
    id BIGSERIAL PRIMARY KEY,
    route TEXT NOT NULL, group_key TEXT NOT NULL, matchers TEXT NOT NULL, text TEXT NOT NULL,
    state TEXT NOT NULL, fired DOUBLE PRECISION NOT NULL, changed DOUBLE PRECISION NOT NULL,
    escalate_at DOUBLE PRECISION NOT NULL DEFAULT 0, until DOUBLE PRECISION NOT NULL DEFAULT 0,
    UNIQUE (route, group_key)
)""",
        "CREATE INDEX pages_escalate ON pages (escalate_at) WHERE escalate_at > 0",
        "CREATE TABLE replies (account TEXT NOT NULL, id TEXT NOT NULL,"
        " at DOUBLE PRECISION NOT NULL, PRIMARY KEY (account, id))",
        "CREATE INDEX replies_at ON replies (at)",
    ),
)

# Dedup keys of a batch, sorted (two receivers lock them in the same order): a key is taken if
# it is new or older than the window; the keys taken are returned.
_TAKE_KEYS = (
    "INSERT INTO dedup (dedup_key, recipient, created)"
    " SELECT k, r, ? FROM unnest(?::text[], ?::text[]) AS t(k, r)"
    " ON CONFLICT (dedup_key, recipient) DO UPDATE SET created = excluded.created"
    " WHERE dedup.created < ? RETURNING dedup_key, recipient"
)
_CLAIM = (
    f"UPDATE jobs SET owner = ?, lease_until = ? WHERE id IN (SELECT id FROM jobs"
    " WHERE state = 'pending' AND next_at <= ? AND (lease_until < ? OR owner = ?)"
    " ORDER BY next_at, id LIMIT ? FOR UPDATE SKIP LOCKED)"
    f" RETURNING id, {', '.join(_COLUMNS)}"
)
_TAKE_OVER = (
    "UPDATE jobs SET owner = ?, lease_until = ? WHERE id IN (SELECT id FROM jobs"
    " WHERE state = 'inflight' AND lease_until < ? AND owner != ? FOR UPDATE SKIP LOCKED)"
    f" RETURNING id, {', '.join(_COLUMNS)}"
)
_RENEW = "UPDATE jobs SET lease_until = ? WHERE owner = ? AND state IN ('pending', 'inflight')"
_RELEASE = "UPDATE jobs SET owner = '', lease_until = 0 WHERE owner = ? AND state = 'pending'"


@functools.lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    """The shared SQL's `?` placeholders as psycopg's `%s` (no statement has a literal ? or %)."""
    return sql.replace("?", "%s")


@functools.lru_cache(maxsize=32)
def _insert_sql(rows: int) -> str:
    row = f"({', '.join('?' * len(_COLUMNS))})"
    return _pg(f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES {', '.join([row] * rows)}"
               " RETURNING reference, id")


class _Connection:
    """A psycopg connection that takes the shared SQL, for SqlOutbox's queries."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[object] = ()) -> psycopg.Cursor[Any]:
        return self.conn.execute(_pg(sql), args)  # type: ignore[arg-type]

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> psycopg.Cursor[Any]:
        cursor = self.conn.cursor()
        cursor.executemany(_pg(sql), rows)  # type: ignore[arg-type]
        return cursor


def _modules() -> tuple[Any, Any]:
    """psycopg and psycopg_pool, or an error that says how to install them."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError:
        raise OutboxError("server.outbox is a PostgreSQL URL, and psycopg 3 is not installed: "
                          "pip install 'sms-notify[postgres]'") from None
    return psycopg, psycopg_pool


class PostgresOutbox(SqlOutbox):
    """The outbox in a PostgreSQL database; see the module's docstring."""

    shared = True

    def __init__(self, url: str, *, now: Callable[[], float] = time.time, lease: float = LEASE,
                 pool_size: int = POOL_SIZE) -> None:
        self._psycopg, pool_module = _modules()
        self.where = masked_location(url)
        self._secret = _password(url)
        self.now = now
        self.owner = new_owner()
        self.lease = lease
        self.dedup_window = 0.0
        self._closed = threading.Event()
        self._wakers: list[Callable[[], None]] = []
        connect = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT,
                   "application_name": "sms-notify"}
        self._connect_args = (url, connect)
        try:  # one connection first: its error says why (refused, auth, no such database)
            with self._psycopg.connect(url, **connect) as conn:
                self._migrate(conn)
        except self._psycopg.Error as exc:
            raise self._error(exc) from None
        self._pool: ConnectionPool[Any] = pool_module.ConnectionPool(
            url, kwargs=connect, min_size=2, max_size=max(2, pool_size), open=False,
            name="sms-notify-outbox", timeout=WAIT, reconnect_timeout=WAIT,
            check=pool_module.ConnectionPool.check_connection, configure=_configure)
        try:
            self._pool.open(wait=True, timeout=WAIT + CONNECT_TIMEOUT)
        except self._psycopg.Error as exc:
            self._pool.close()
            raise self._error(exc) from None
        self._feeds = PgFeeds(self)
        self._thread = threading.Thread(target=self._maintain, name="sms-notify-outbox-lease",
                                        daemon=True)
        self._thread.start()

    # Plumbing.
    def _error(self, exc: BaseException) -> OutboxError:
        """An OutboxError naming the database (password masked) and the first line of why."""
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for secret in {self._secret, unquote(self._secret)} - {""}:
            reason = reason.replace(secret, "****")
        return OutboxError(f"outbox {self.where}: {masked_location(reason)}")

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        """Bring the schema to the newest version this code knows, once for all receivers."""
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCKS, SCHEMA_LOCK))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                conn.execute("INSERT INTO schema_version VALUES (0)")
            version = int(row[0]) if row else 0
            if version > len(PG_MIGRATIONS):
                raise newer_schema(self.where, version, len(PG_MIGRATIONS))
            for step in PG_MIGRATIONS[version:]:
                for statement in step:
                    conn.execute(statement)  # type: ignore[arg-type]
            conn.execute("UPDATE schema_version SET version = %s", (len(PG_MIGRATIONS),))

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        try:
            with self._pool.connection() as conn:
                return conn.execute(_pg(sql), args).fetchall()  # type: ignore[arg-type]
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    @contextmanager
    def _write(self) -> Iterator[_Connection]:
        """One transaction, committed on exit; any database failure is an OutboxError."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield _Connection(conn)
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    def _insert_one(self, db: _Connection, job: Job) -> int:
        [(job_id,)] = db.execute(_INSERT + " RETURNING id", _row(job)).fetchall()
        return int(job_id)

    # The receiver.
    def enqueue(self, jobs: Sequence[Job], dedup_window: float) -> list[Job]:
        now, candidates = self._stamped(jobs, dedup_window)
        if not candidates:
            return []
        dedup = dedup_window > 0
        keyed = [j for j in candidates if dedup and j.dedup_key]
        keys = sorted({(j.dedup_key, j.recipient) for j in keyed})
        with self._write() as db:
            taken: set[tuple[str, str]] = set()
            if keys:
                rows = db.execute(_TAKE_KEYS, (now, [k for k, _ in keys], [r for _, r in keys],
                                               now - dedup_window)).fetchall()
                taken = {(str(k), str(r)) for k, r in rows}
            accepted = [j for j in candidates
                        if not (dedup and j.dedup_key) or (j.dedup_key, j.recipient) in taken]
            for start in range(0, len(accepted), INSERT_ROWS):
                part = accepted[start : start + INSERT_ROWS]
                ids = dict(db.conn.execute(
                    _insert_sql(len(part)), [v for j in part for v in _row(j)]).fetchall())
                for job in part:
                    job.id = int(ids[job.reference])
            if accepted:
                db.conn.execute(f"NOTIFY {CHANNEL}")  # delivered at commit
        return accepted

    def check(self) -> None:
        with self._write() as db:
            db.execute("UPDATE probe SET at = ?", (self.now(),))

    # The dispatcher.
    def claim(self, now: float, limit: int) -> list[Job]:
        with self._write() as db:
            rows = db.execute(_CLAIM, (self.owner, now + self.lease, now, now, self.owner,
                                       limit)).fetchall()
        return sorted((_job(r) for r in rows), key=lambda j: (j.next_at, j.id))

    def take_over(self, now: float) -> list[Job]:
        with self._write() as db:
            rows = db.execute(_TAKE_OVER, (self.owner, now + self.lease, now, self.owner)
                              ).fetchall()
        jobs = sorted((_job(r) for r in rows), key=lambda j: j.id)
        if jobs:
            log.warning("took over %d jobs in flight whose receiver stopped renewing its lease",
                        len(jobs))
        return jobs

    @contextmanager
    def planning(self) -> Iterator[None]:
        try:
            with self._pool.connection() as conn:
                conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCKS, PLAN_LOCK))
                try:
                    yield
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCKS, PLAN_LOCK))
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    def listen(self, wake: Callable[[], None]) -> None:
        self._wakers.append(wake)

    def prune(self, before: float) -> int:
        gone = super().prune(before)
        with self._write() as db:
            db.execute("DELETE FROM dedup WHERE created < ?", (before,))
        return gone

    def feeds(self) -> Feeds:
        return self._feeds

    def _maintain(self) -> None:
        """Renew this outbox's leases every LEASE / 4 seconds, and wake the dispatcher at every
        NOTIFY (and once after each reconnect: a notification may have been missed)."""
        every = max(0.5, self.lease / 4)
        renewed = 0.0
        listener: psycopg.Connection[Any] | None = None
        while not self._closed.is_set():
            try:
                if listener is None and self._wakers:
                    url, connect = self._connect_args
                    listener = self._psycopg.connect(url, **connect)
                    listener.execute(f"LISTEN {CHANNEL}")
                    self._wake()
                left = max(0.0, renewed + every - time.monotonic())
                if listener is not None:
                    if any(True for _ in listener.notifies(timeout=left, stop_after=1)):
                        self._wake()
                else:
                    self._closed.wait(left)
                if time.monotonic() - renewed >= every and not self._closed.is_set():
                    renewed = time.monotonic()
                    with self._write() as db:
                        db.execute(_RENEW, (self.now() + self.lease, self.owner))
            except (self._psycopg.Error, OutboxError) as exc:
                log.debug("outbox upkeep: %s", self._error(exc))
                if listener is not None:
                    listener.close()
                    listener = None
                self._closed.wait(1.0)
        if listener is not None:
            listener.close()

    def _wake(self) -> None:
        for wake in self._wakers:
            wake()

    def close(self) -> None:
        """Let go of the pending jobs this outbox held (another receiver sends them now, not
        after the lease); jobs still in flight stay held until their lease runs out."""
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            with self._write() as db:
                db.execute(_RELEASE, (self.owner,))
                db.conn.execute(f"NOTIFY {CHANNEL}")  # wakes our listener, so it sees _closed
        except OutboxError as exc:
            log.debug("outbox close: %s", exc)
        self._thread.join(max(1.0, self.lease / 4) + 1.0)
        self._pool.close()


def _configure(conn: psycopg.Connection[Any]) -> None:
    """A lock that cannot be had in 5 s is an error (OutboxError), never a hang."""
    conn.execute("SET lock_timeout = '5s'")


def _password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


class PgFeeds(Feeds):
    """Change-feed cursors and items in the outbox's database (sms_notify.feeds)."""

    def __init__(self, outbox: PostgresOutbox) -> None:
        super().__init__()
        self.outbox = outbox
        self._pruned = 0.0

    def position(self, key: str) -> int:
        rows = self.outbox._read("SELECT position FROM feed_cursors WHERE feed = ?", (key,))
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def seen(self, key: str, items: Iterable[str]) -> dict[str, dict[str, str]]:
        rows = self.outbox._read("SELECT item, data FROM feed_items WHERE feed = ?"
                                 " AND item = ANY(?::text[])", (key, list(dict.fromkeys(items))))
        return {str(item): json.loads(str(data)) for item, data in rows}

    def advance(self, key: str, position: int, items: Mapping[str, Mapping[str, str]]) -> None:
        now = self.outbox.now()
        with self.outbox._write() as db:
            db.executemany(
                "INSERT INTO feed_items (feed, item, data, at) VALUES (?, ?, ?, ?) ON CONFLICT"
                " (feed, item) DO UPDATE SET data = excluded.data, at = excluded.at",
                [(key, item, json.dumps(dict(data)), now) for item, data in items.items()])
            db.execute(
                "INSERT INTO feed_cursors (feed, position, at) VALUES (?, ?, ?) ON CONFLICT"
                " (feed) DO UPDATE SET position = GREATEST(feed_cursors.position,"
                " excluded.position), at = excluded.at", (key, position, now))
            if now - self._pruned > 3600:
                db.execute("DELETE FROM feed_items WHERE at < ?", (now - KEEP,))
                self._pruned = now

    def rewind(self, key: str) -> None:
        with self.outbox._write() as db:
            db.execute("UPDATE feed_cursors SET position = 0, at = ? WHERE feed = ?",
                       (self.outbox.now(), key))

    def close(self) -> None:
        """The outbox's pool closes with the outbox."""

