"""The durable outbox: jobs the receiver accepted, kept until a gateway took them or they died.

The receiver answers Alertmanager 200 only after `enqueue` committed, so nothing accepted is lost
to a crash; the dispatcher (sms_notify.dispatch) records every attempt before its request leaves
and every outcome as soon as the gateway answers (docs/design.md, Decision 1). SQLite in WAL
mode with synchronous=NORMAL survives a killed process; FULL also survives power loss.

Dedup of (dedup_key, recipient) inside the dedup window is a lookup in the same table, so it
holds across restarts and across the two Alertmanagers of an HA pair.

Closing the loop (docs/design.md, Decision 15) keeps its state here too, so that it survives a
restart and acts once: each sent job's delivery report and when to ask for it next; `pages`, a
firing group per route until it resolves or is acknowledged, with when it escalates; and
`replies`, the replies already acted on.

Two stores implement the Outbox protocol: SqliteOutbox here (one `serve` per file) and
sms_notify.postgres.PostgresOutbox (any number of `serve` processes share it: Decision 14).
The queries both answer alike live once, in SqlOutbox; each backend keeps its own schema, as a
numbered list of migrations applied at start, and the SQL only it can run.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, Union

from .delivery import new_reference
from .feeds import Feeds, SqliteFeeds

log = logging.getLogger("sms_notify.outbox")

DAY = 86400.0
# unconfirmed: given up with an unknown outcome, it may have been sent (docs/design.md, Decision 12)
STATES = ("pending", "inflight", "sent", "dead", "dropped", "unconfirmed")
CHECKPOINT_EVERY = 1.0  # seconds between background WAL checkpoints
AUTOCHECKPOINT_PAGES = 20000  # the writer's own checkpoint: only if the background one stalls
LEASE = 10.0  # seconds jobs stay held by a receiver that stopped renewing them (it died)
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass
class Job:
    """One text for one recipient through one route."""

    route: str  # route name from the config
    recipient: str  # E.164, normalised by the receiver
    text: str  # final rendered text (the dispatcher still shortens per provider)
    via: tuple[str, ...]  # account names (config.accounts keys), failover order
    max_segments: int = 1
    dedup_key: str = ""  # dedup is per (dedup_key, recipient) inside dedup_window
    summary_key: str = ""  # human label for rate-limit summaries, e.g. alertname
    # filled by the outbox:
    id: int = 0
    created: float = 0.0  # wall clock, time.time()
    state: str = "pending"  # pending | inflight | sent | dead | dropped | unconfirmed
    attempts: int = 0
    account_index: int = 0  # index into via of the account to try next
    next_at: float = 0.0
    reference: str = ""  # our reference, fixed at enqueue, so a crash in flight can be looked up
    message_id: str = ""
    account: str = ""  # label of the account that took it
    error: str = ""  # ProviderError.describe() of the last failure
    # the dispatcher's bookkeeping (beyond the receiver's contract):
    kind: str = "alert"  # alert | summary (a rate-limit summary, exempt from the limit)
    account_attempts: int = 0  # failures on via[account_index] since the job moved to it
    doubt: bool = False  # a request to that account has an unknown outcome: ask it, don't send
    folded: dict[str, int] = field(default_factory=dict)  # summary: summary_key -> count
    done_at: float = 0.0  # when it reached sent, dead or dropped
    request_ref: str = ""  # the reference of the request it last went in (its first job's):
    # gateways that keep one reference per request (24x UserField) know it by that one
    refused: int = 0  # bit i: via[i] refused it in this round (auth, credit, sender)
    unsure: int = 0  # bit i: via[i] may have sent it (unknown outcome): never used again
    # closing the loop (docs/design.md, Decision 15):
    receipt: str = ""  # what became of it at the handset: delivered, undelivered, expired, unknown
    receipt_at: float = 0.0  # when (the gateway's time where it says, else when we learnt it)
    check_at: float = 0.0  # sent: when to ask the gateway what became of it; 0: not to ask
    page: int = 0  # a firing text: the page (pages.id) of its group, which a reply ACK silences

    @property
    def references(self) -> list[str]:
        """What a crash look-up may find this job by at the gateway."""
        return [r for r in dict.fromkeys((self.reference, self.request_ref)) if r]

    @property
    def account_name(self) -> str:
        return self.via[self.account_index] if self.via else ""


def masked_location(location: str) -> str:
    """server.outbox as logs and errors show it: the password of a URL masked
    (`postgresql://USER:PASSWORD@HOST/DB`, Decision 14), a file path as it is."""
    import re

    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*:).*@", r"\1****@", location,
                  flags=re.DOTALL)


@dataclass
class Page:
    """A firing group on a route, from its first firing text until it resolves or is
    acknowledged: what a reply ACK silences and what escalates when nobody does."""

    route: str
    group_key: str
    matchers: dict[str, str]  # the group's labels (groupLabels, else commonLabels)
    text: str = ""  # its latest firing text
    state: str = "firing"  # firing | resolved | acknowledged
    escalate_after: float = 0.0  # the route's escalate.after, when a new firing starts
    id: int = 0
    fired: float = 0.0  # when this firing started
    escalate_at: float = 0.0  # when it escalates unless acknowledged or resolved; 0: never
    until: float = 0.0  # acknowledged: when its silence ends


class OutboxError(Exception):
    """The outbox cannot persist (disk full, locked, corrupt): the receiver answers 503."""


class OutboxInUse(OutboxError):
    """Another process holds the outbox file (Decision 14: one serve per SQLite file)."""


def claim(path: str) -> list[int]:
    """Hold the outbox for this process alone for as long as the returned descriptors are open
    (docs/design.md, Decision 14): an flock on `path`.lock, which names our pid for the next
    one who tries, and one on the database file itself (hold), so that another path to the
    same file, a hard link, is held too. The kernel releases both when the holder dies,
    SIGKILL too."""
    fd = _flocked(f"{path}.lock", os.O_RDWR, path, "its lock file", _pid_written)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    try:
        return [fd, hold(path)]
    except BaseException:
        os.close(fd)
        raise


def hold(path: str) -> int:
    """An flock on the database file itself (created empty if it is not there yet: SQLite
    takes an empty file for a new database), keyed by the kernel on the file, not its name.
    SQLite's own locks are POSIX locks, which Linux keeps apart from flock."""
    return _flocked(path, os.O_RDONLY, path, "it", _flock_holder)


def _flocked(name: str, mode: int, path: str, what: str, holder: Callable[[int], str]) -> int:
    """`name` opened (created if need be) and flocked by this process alone; OutboxInUse
    naming the holder (`holder` reads it from the descriptor) when another has it."""
    import fcntl

    try:
        fd = os.open(name, mode | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise OutboxError(f"outbox {masked_location(path)}: cannot open {what}: "
                          f"{exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        who = holder(fd)
        os.close(fd)
        raise _in_use(path, who) from None
    return fd


def _pid_written(fd: int) -> str:
    """The pid the holder wrote in the lock file."""
    return os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"


def _in_use(path: str, holder: str) -> OutboxInUse:
    return OutboxInUse(f"{masked_location(path)} is held by sms-notify serve pid {holder} "
                       "(one serve per SQLite outbox, whatever path leads to it: stop that one, "
                       "or give this one another server.outbox)")


def _flock_holder(fd: int) -> str:
    """The pid holding an flock on the file open at `fd`, from /proc/locks (`1: FLOCK
    ADVISORY WRITE 1234 fe:00:5318934 0 EOF`); "unknown" where it cannot be told."""
    stat = os.fstat(fd)
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            rows = [line.split() for line in locks]
    except OSError:
        return "unknown"
    holders = [(row[5].rpartition(":")[0] == device, row[4]) for row in rows
               if len(row) >= 6 and row[1] == "FLOCK" and row[5].endswith(f":{stat.st_ino}")]
    return max(holders)[1] if holders else "unknown"  # the one on this device, if any


@dataclass
class OutboxStats:
    depth: int  # pending jobs
    oldest_pending_age: float  # seconds since the oldest pending alert job was accepted
    inflight: int
    sent: int
    dead: int
    unconfirmed: int = 0  # given up with an unknown outcome: they may have been sent


class Outbox(Protocol):
    """What the receiver and the dispatcher need from a store: SqliteOutbox, PostgresOutbox."""

    shared: bool  # other receivers may use it at the same time (PostgreSQL)

    def enqueue(self, jobs: Sequence[Job], dedup_window: float) -> list[Job]:
        """Persist new jobs and commit before returning; duplicates of (dedup_key, recipient)
        inside dedup_window are dropped and not returned. Raises OutboxError."""

    def stats(self) -> OutboxStats: ...
    def check(self) -> None:
        """Raise OutboxError unless a job could be accepted now."""
    def dead_letters(self, limit: int = 100) -> list[Job]: ...
    def close(self) -> None: ...

    # For the dispatcher. A job it claims is held by this outbox (a lease, renewed while the
    # process lives) until saved pending again or finished; a job it saves in flight stays held.
    def claim(self, now: float, limit: int) -> list[Job]:
        """Pending jobs whose next_at has come, oldest first, held for this outbox alone: no
        other receiver sharing the store gets them until they are saved."""
    def take_over(self, now: float) -> list[Job]:
        """Jobs in flight whose holder is gone (its lease ran out; with SQLite, any held before
        this process), now held by this one: the dispatcher recovers them (Decision 1)."""
    def planning(self) -> AbstractContextManager[object]:
        """Held while the dispatcher plans a pass, so that two receivers never plan at once and
        the rate limit counts every text once."""
    def listen(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever another process adds jobs, from then on."""
    def due(self, now: float, limit: int) -> list[Job]:
        """Pending jobs whose next_at has come, oldest first (held or not)."""
    def next_due(self) -> float | None:
        """The earliest next_at of a pending job."""
    def inflight(self) -> list[Job]:
        """Jobs in flight, whoever holds them."""
    def save(self, changed: Sequence[Job] = (), new: Sequence[Job] = ()) -> None:
        """Write jobs' new state and add new ones (summaries), in one transaction. A job
        another receiver has taken over meanwhile is left as that one records it."""
    def recent(self, recipient: str, since: float) -> int:
        """Alerts to `recipient` sent since `since`, in flight, or admitted and being retried."""
    def open_summary(self, recipient: str) -> Job | None:
        """The summary still collecting folded alerts for `recipient`."""
    def prune(self, before: float) -> int:
        """Forget sent and dropped jobs finished before `before`."""
    def feeds(self) -> Feeds:
        """Where gateways' change feeds were read to (sms_notify.feeds), kept with the jobs."""

    # Closing the loop (docs/design.md, Decision 15).
    def open_pages(self, pages: Sequence[Page]) -> list[int]:
        """Record what notifications say of their groups, in one transaction: a firing one
        starts a page (or a new firing of a resolved, or of an acknowledged whose silence
        ended) and keeps its text; a resolved one ends it. Returns each firing page's id (0
        for a resolved one)."""
    def checks_due(self, now: float, limit: int) -> list[Job]:
        """Sent jobs whose check_at has come, the earliest first."""
    def sent_jobs(self, keys: Sequence[str]) -> list[Job]:
        """Sent jobs whose reference or message id is among `keys`."""
    def record_checks(self, jobs: Sequence[Job]) -> None:
        """Write the jobs' check_at (asked, no report yet)."""
    def record_receipt(self, job: Job, resend: Job | None = None) -> bool:
        """Write the job's receipt and check_at, and add `resend`, in one transaction, unless
        the job has a receipt already (a report that came twice): then False and nothing."""
    def reply_seen(self, account: str, reply_id: str) -> bool:
        """Note a reply; False when it was noted before (it acts once)."""
    def last_page(self, recipient: str, since: float, reference: str = "") -> Page | None:
        """The page of the latest firing text sent to `recipient` since `since` (of the text
        with our `reference`, where one is given and found)."""
    def acknowledge(self, page_id: int, until: float) -> None:
        """The page is acknowledged until `until`: it no longer escalates."""
    def escalations_due(self, now: float) -> list[Page]:
        """Firing pages whose escalate_at has come."""
    def escalate(self, page: Page, jobs: Sequence[Job]) -> bool:
        """Mark the page escalated and add its jobs in one transaction, unless it escalated
        or stopped firing meanwhile: then False and nothing."""

    # For the outbox command (a second process, while serve runs).
    def select(self, query: JobQuery) -> list[Job]:
        """Jobs matching `query`, newest first."""
    def get(self, job_id: int) -> Job | None: ...
    def requeue(self, ids: Sequence[int], now: float) -> list[int]:
        """Dead and unconfirmed jobs among `ids` back to pending, due at `now`, with a fresh
        max_age and the route's first account; returns the ids requeued."""
    def purge(self, states: Sequence[str], before: float) -> int:
        """Delete jobs in finished `states` that finished before `before`."""


FINISHED = ("sent", "dead", "dropped", "unconfirmed")  # states a job never leaves by itself
REQUEUEABLE = ("dead", "unconfirmed")


@dataclass
class JobQuery:
    """Which jobs the outbox command lists: each field set narrows it."""

    states: Sequence[str] = ()
    route: str | None = None
    recipient: str | None = None
    created_before: float | None = None  # wall clock
    created_after: float | None = None
    limit: int = 100

    def where(self) -> tuple[str, list[object]]:
        """The WHERE clause (or "") and its parameters."""
        clauses: list[str] = []
        params: list[object] = []
        if self.states:
            clauses.append(f"state IN ({', '.join('?' * len(self.states))})")
            params.extend(self.states)
        for clause, value in (("route = ?", self.route), ("recipient = ?", self.recipient),
                              ("created < ?", self.created_before),
                              ("created >= ?", self.created_after)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


_COLUMNS = [f.name for f in fields(Job) if f.name != "id"]
_INSERT = f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
# A job's lease is written with its state: held while in flight, let go otherwise. A receiver
# whose jobs were taken over (its lease ran out) no longer writes them.
_UPDATE = (f"UPDATE jobs SET {', '.join(c + ' = ?' for c in _COLUMNS)}, owner = ?, lease_until = ?"
           " WHERE id = ? AND owner IN ('', ?)")
_SELECT = f"SELECT id, {', '.join(_COLUMNS)} FROM jobs"
INSERT_ROWS = 500  # jobs per INSERT statement, at most (SQLite's bound-parameter limit may
# allow fewer: 999 before 3.32, as in Ubuntu 20.04 and RHEL 8)


@functools.lru_cache(maxsize=32)
def _insert_sql(rows: int) -> str:
    """INSERT of `rows` jobs, each only if no job with its (dedup_key, recipient) was accepted
    since the last parameter (+inf: no dedup). SQLite reads the VALUES before inserting, so
    duplicates inside one statement are the caller's to drop."""
    row = f"({', '.join('?' * len(_COLUMNS))})"
    key, recipient = (f"v.column{_COLUMNS.index(c) + 1}" for c in ("dedup_key", "recipient"))
    return (
        f"INSERT INTO jobs ({', '.join(_COLUMNS)}) SELECT * FROM (VALUES {', '.join([row] * rows)})"
        f" AS v WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE dedup_key = {key} AND dedup_key != ''"
        f" AND recipient = {recipient} AND created >= ?)"
    )


# SQLite's schema, one migration a version (PRAGMA user_version): append, never edit one that
# shipped. A migration is statements, or a function of the connection.
Migration = Union[tuple[str, ...], Callable[[sqlite3.Connection], None]]
_SCHEMA_V1 = (
    """CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    route TEXT NOT NULL, recipient TEXT NOT NULL, text TEXT NOT NULL, via TEXT NOT NULL,
    max_segments INTEGER NOT NULL, dedup_key TEXT NOT NULL, summary_key TEXT NOT NULL,
    created REAL NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
    account_index INTEGER NOT NULL, next_at REAL NOT NULL, reference TEXT NOT NULL,
    message_id TEXT NOT NULL, account TEXT NOT NULL, error TEXT NOT NULL, kind TEXT NOT NULL,
    account_attempts INTEGER NOT NULL, doubt INTEGER NOT NULL, folded TEXT NOT NULL,
    done_at REAL NOT NULL, request_ref TEXT NOT NULL DEFAULT '',
    refused INTEGER NOT NULL DEFAULT 0, unsure INTEGER NOT NULL DEFAULT 0
)""",
    "CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, next_at)",
    "CREATE INDEX IF NOT EXISTS jobs_dedup ON jobs (dedup_key, recipient, created)"
    " WHERE dedup_key != ''",
    "CREATE INDEX IF NOT EXISTS jobs_recipient ON jobs (recipient, done_at)",
    "CREATE TABLE IF NOT EXISTS probe (at REAL NOT NULL)",
    "INSERT INTO probe SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM probe)",
)
# Columns added before the schema had a version, for outboxes made before them.
_ADDED = {
    "request_ref": "TEXT NOT NULL DEFAULT ''",
    "refused": "INTEGER NOT NULL DEFAULT 0",
    "unsure": "INTEGER NOT NULL DEFAULT 0",
}


def _schema_v1(db: sqlite3.Connection) -> None:
    """The schema as it was before versions, whether the file is new or made by then."""
    for statement in _SCHEMA_V1:
        db.execute(statement)
    have = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    for column, kind in _ADDED.items():
        if column not in have:
            db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")


SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    _schema_v1,
    ("ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT ''",  # the lease (Decision 14)
     "ALTER TABLE jobs ADD COLUMN lease_until REAL NOT NULL DEFAULT 0"),
    # Closing the loop (Decision 15): each sent job's report and when to ask for it, the page
    # of a firing text; the indexes that find a sent job by its reference or message id (a
    # pushed report) or by when to ask; the pages and the replies acted on.
    ("ALTER TABLE jobs ADD COLUMN receipt TEXT NOT NULL DEFAULT ''",
     "ALTER TABLE jobs ADD COLUMN receipt_at REAL NOT NULL DEFAULT 0",
     "ALTER TABLE jobs ADD COLUMN check_at REAL NOT NULL DEFAULT 0",
     "ALTER TABLE jobs ADD COLUMN page INTEGER NOT NULL DEFAULT 0",
     "CREATE INDEX jobs_check ON jobs (check_at) WHERE check_at > 0",
     "CREATE INDEX jobs_sent_reference ON jobs (reference) WHERE state = 'sent'",
     "CREATE INDEX jobs_sent_message ON jobs (message_id) WHERE state = 'sent'",
     """CREATE TABLE pages (
    id INTEGER PRIMARY KEY,
    route TEXT NOT NULL, group_key TEXT NOT NULL, matchers TEXT NOT NULL, text TEXT NOT NULL,
    state TEXT NOT NULL, fired REAL NOT NULL, changed REAL NOT NULL,
    escalate_at REAL NOT NULL DEFAULT 0, until REAL NOT NULL DEFAULT 0,
    UNIQUE (route, group_key)
)""",
     "CREATE INDEX pages_escalate ON pages (escalate_at) WHERE escalate_at > 0",
     "CREATE TABLE replies (account TEXT NOT NULL, id TEXT NOT NULL, at REAL NOT NULL,"
     " PRIMARY KEY (account, id))",
     "CREATE INDEX replies_at ON replies (at)"),
)
REPLIES_KEPT = 8 * DAY  # MyMobileAPI keeps replies 7 days: one read again is still known
PAGES_KEPT = 7 * DAY  # a firing page that heard nothing for this long is forgotten
# A firing notification's page: a new one, or a new firing of a resolved page or of an
# acknowledged one whose silence ended (fired and escalate_at start again), else the same page
# with the latest text. SET reads the row as it was, so each CASE sees the old state.
_FRESH = ("(pages.state = 'resolved' OR (pages.state = 'acknowledged'"
          " AND pages.until <= excluded.changed))")
_OPEN_PAGE = f"""
INSERT INTO pages (route, group_key, matchers, text, state, fired, changed, escalate_at)
VALUES (?, ?, ?, ?, 'firing', ?, ?, ?)
ON CONFLICT (route, group_key) DO UPDATE SET
    fired = CASE WHEN {_FRESH} THEN excluded.fired ELSE pages.fired END,
    escalate_at = CASE WHEN {_FRESH} THEN excluded.escalate_at ELSE pages.escalate_at END,
    until = CASE WHEN {_FRESH} THEN 0 ELSE pages.until END,
    state = CASE WHEN {_FRESH} THEN 'firing' ELSE pages.state END,
    matchers = excluded.matchers, text = excluded.text, changed = excluded.changed
"""
_PAGE_COLUMNS = ("id", "route", "group_key", "matchers", "text", "state", "fired",
                 "escalate_at", "until")


def _page(row: Sequence[object]) -> Page:
    data = dict(zip(_PAGE_COLUMNS, row, strict=True))
    data["matchers"] = json.loads(str(data["matchers"]))
    return Page(**data)  # type: ignore[arg-type]


def newer_schema(where: str, found: int, known: int) -> OutboxError:
    return OutboxError(f"outbox {where} has schema version {found}, newer than this sms-notify "
                       f"knows ({known}): upgrade sms-notify, or give it another server.outbox")


def new_owner(pid: int | None = None) -> str:
    """Who holds a lease: host, pid and a random part, so an operator can tell receivers apart
    and a restarted process with the same pid is someone else. `pid`: the serve whose delivery
    process (sms_notify.deliverer) takes the lease, which an operator knows it by."""
    return f"{socket.gethostname()}/{pid or os.getpid()}/{secrets.token_hex(3)}"


def _identity(path: str) -> tuple[int, int]:
    """The file a path leads to: its device and inode."""
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def _row(job: Job) -> tuple[object, ...]:
    values = []
    for name in _COLUMNS:
        value = getattr(job, name)
        if name == "via":
            value = json.dumps(list(value))
        elif name == "folded":
            value = json.dumps(value) if value else ""
        elif name == "doubt":
            value = int(value)
        values.append(value)
    return tuple(values)


def _job(row: Sequence[object]) -> Job:
    data = dict(zip(["id", *_COLUMNS], row, strict=True))
    data["via"] = tuple(json.loads(str(data["via"])))
    data["folded"] = json.loads(str(data["folded"])) if data["folded"] else {}
    data["doubt"] = bool(data["doubt"])
    return Job(**data)  # type: ignore[arg-type]


def prepare(jobs: Sequence[Job], now: float, dedup: bool) -> list[Job]:
    """Jobs to insert, stamped with their times and reference; a batch's own duplicates of
    (dedup_key, recipient) dropped when `dedup`."""
    fresh: set[tuple[str, str]] = set()
    candidates: list[Job] = []
    for job in jobs:
        if dedup and job.dedup_key:
            if (job.dedup_key, job.recipient) in fresh:
                continue
            fresh.add((job.dedup_key, job.recipient))
        job.created = job.created or now
        job.next_at = job.next_at or now
        job.reference = job.reference or new_reference()
        job.state = "pending"
        candidates.append(job)
    return candidates


class SqlOutbox:
    """The Outbox's queries that SQLite and PostgreSQL answer alike, written once with `?`
    placeholders. A backend gives _read, _write (a transaction whose connection has execute
    and executemany), _insert_one, and what only it can do: enqueue, claim, take_over."""

    where: str  # the location as messages show it, password masked
    now: Callable[[], float]
    owner: str  # this outbox's name on the jobs it holds
    lease: float
    shared = False
    dedup_window: float

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _insert_one(self, db: Any, job: Job) -> int:
        raise NotImplementedError

    def _stamped(self, jobs: Sequence[Job], dedup_window: float) -> tuple[float, list[Job]]:
        """Now, and the jobs an enqueue inserts (prepare); notes the longest window seen, so
        pruning never forgets a live dedup key."""
        now = self.now()
        self.dedup_window = max(self.dedup_window, dedup_window)
        return now, prepare(jobs, now, dedup_window > 0)

    # What each backend does its own way (see Outbox).
    def enqueue(self, jobs: Sequence[Job], dedup_window: float) -> list[Job]:
        raise NotImplementedError

    def check(self) -> None:
        raise NotImplementedError

    def claim(self, now: float, limit: int) -> list[Job]:
        raise NotImplementedError

    def take_over(self, now: float) -> list[Job]:
        raise NotImplementedError

    def planning(self) -> AbstractContextManager[object]:
        raise NotImplementedError

    def listen(self, wake: Callable[[], None]) -> None:
        raise NotImplementedError

    def feeds(self) -> Feeds:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def save(self, changed: Sequence[Job] = (), new: Sequence[Job] = ()) -> None:
        now = self.now()
        held = (self.owner, now + self.lease)
        with self._write() as db:
            if changed:
                db.executemany(_UPDATE, [
                    (*_row(j), *(held if j.state == "inflight" else ("", 0.0)), j.id, self.owner)
                    for j in changed])
            for job in new:
                job.created = job.created or now
                job.reference = job.reference or new_reference()
                job.id = self._insert_one(db, job)

    def due(self, now: float, limit: int) -> list[Job]:
        rows = self._read(
            f"{_SELECT} WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?",
            (now, limit),
        )
        return [_job(r) for r in rows]

    def next_due(self) -> float | None:
        row = self._read("SELECT MIN(next_at) FROM jobs WHERE state = 'pending'")
        return None if row[0][0] is None else float(row[0][0])  # type: ignore[arg-type]

    def inflight(self) -> list[Job]:
        return [_job(r) for r in self._read(f"{_SELECT} WHERE state = 'inflight' ORDER BY id")]

    def recent(self, recipient: str, since: float) -> int:
        row = self._read(
            "SELECT COUNT(*) FROM jobs WHERE recipient = ? AND kind = 'alert' AND ("
            "(state IN ('sent', 'unconfirmed') AND done_at >= ?) OR state = 'inflight'"
            " OR (state = 'pending' AND attempts > 0))", (recipient, since),
        )
        return int(row[0][0])  # type: ignore[call-overload]

    def open_summary(self, recipient: str) -> Job | None:
        rows = self._read(
            f"{_SELECT} WHERE recipient = ? AND kind = 'summary' AND state = 'pending'"
            " AND attempts = 0 ORDER BY next_at DESC LIMIT 1", (recipient,),
        )
        return _job(rows[0]) if rows else None

    def get(self, job_id: int) -> Job | None:
        rows = self._read(f"{_SELECT} WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs(self, state: str | None = None) -> list[Job]:
        """Every job (in a state), oldest first: for tests and tools, not the hot path."""
        if state is None:
            return [_job(r) for r in self._read(f"{_SELECT} ORDER BY id")]
        return [_job(r) for r in self._read(f"{_SELECT} WHERE state = ? ORDER BY id", (state,))]

    def prune(self, before: float) -> int:
        with self._write() as db:
            gone = int(db.execute(
                "DELETE FROM jobs WHERE state IN ('sent', 'dropped') AND done_at < ?", (before,)
            ).rowcount)
            now = self.now()
            db.execute("DELETE FROM pages WHERE (state != 'firing' AND changed < ? AND until < ?)"
                       " OR changed < ?", (before, now, now - PAGES_KEPT))
            db.execute("DELETE FROM replies WHERE at < ?", (now - REPLIES_KEPT,))
            return gone

    # Closing the loop.
    def open_pages(self, pages: Sequence[Page]) -> list[int]:
        now = self.now()
        firing = [p for p in pages if p.state == "firing"]
        ids: dict[tuple[str, str], int] = {}
        with self._write() as db:
            if firing:
                db.executemany(_OPEN_PAGE, [
                    (p.route, p.group_key, json.dumps(p.matchers, sort_keys=True), p.text, now,
                     now, now + p.escalate_after if p.escalate_after > 0 else 0.0)
                    for p in firing])
            ended = [(now, p.route, p.group_key) for p in pages if p.state != "firing"]
            if ended:
                db.executemany("UPDATE pages SET state = 'resolved', escalate_at = 0,"
                               " changed = ? WHERE route = ? AND group_key = ?", ended)
            for route in {p.route for p in firing}:  # by (route, group_key), the unique index
                keys = list({p.group_key for p in firing if p.route == route})
                for start in range(0, len(keys), 500):
                    part = keys[start : start + 500]
                    rows = db.execute(
                        f"SELECT group_key, id FROM pages WHERE route = ? AND group_key IN "
                        f"({', '.join('?' * len(part))})", (route, *part)).fetchall()
                    ids.update({(route, str(k)): int(i) for k, i in rows})
        return [ids[(p.route, p.group_key)] if p.state == "firing" else 0 for p in pages]

    def checks_due(self, now: float, limit: int) -> list[Job]:
        rows = self._read(f"{_SELECT} WHERE check_at > 0 AND check_at <= ? ORDER BY check_at "
                          "LIMIT ?", (now, limit))
        return [_job(r) for r in rows]

    def sent_jobs(self, keys: Sequence[str]) -> list[Job]:
        found: dict[int, Job] = {}
        for start in range(0, len(keys), 400):
            part = list(keys[start : start + 400])
            marks = ", ".join("?" * len(part))
            for column in ("reference", "message_id"):
                rows = self._read(f"{_SELECT} WHERE state = 'sent' AND {column} IN ({marks})",
                                  part)
                found.update((job.id, job) for job in map(_job, rows))
        return sorted(found.values(), key=lambda j: j.id)

    def record_checks(self, jobs: Sequence[Job]) -> None:
        if jobs:
            with self._write() as db:
                db.executemany("UPDATE jobs SET check_at = ? WHERE id = ? AND receipt = ''",
                               [(j.check_at, j.id) for j in jobs])

    def record_receipt(self, job: Job, resend: Job | None = None) -> bool:
        with self._write() as db:
            changed = db.execute(
                "UPDATE jobs SET receipt = ?, receipt_at = ?, check_at = ? WHERE id = ? AND "
                "receipt = ''", (job.receipt, job.receipt_at, job.check_at, job.id)).rowcount
            if changed and resend is not None:
                resend.reference = resend.reference or new_reference()
                resend.id = self._insert_one(db, resend)
            return bool(changed)

    def reply_seen(self, account: str, reply_id: str) -> bool:
        with self._write() as db:
            return bool(db.execute("INSERT INTO replies (account, id, at) VALUES (?, ?, ?)"
                                   " ON CONFLICT (account, id) DO NOTHING",
                                   (account, reply_id, self.now())).rowcount)

    def last_page(self, recipient: str, since: float, reference: str = "") -> Page | None:
        columns = ", ".join(f"p.{c}" for c in _PAGE_COLUMNS)
        rows: list[tuple[object, ...]] = []
        if reference:
            rows = self._read(f"SELECT {columns} FROM jobs j JOIN pages p ON p.id = j.page "
                              "WHERE j.state = 'sent' AND j.reference = ? AND j.recipient = ?",
                              (reference, recipient))
        if not rows:
            rows = self._read(
                f"SELECT {columns} FROM jobs j JOIN pages p ON p.id = j.page WHERE "
                "j.recipient = ? AND j.done_at >= ? AND j.page > 0 AND j.state IN "
                "('sent', 'unconfirmed') ORDER BY j.done_at DESC, j.id DESC LIMIT 1",
                (recipient, since))
        return _page(rows[0]) if rows else None

    def acknowledge(self, page_id: int, until: float) -> None:
        with self._write() as db:
            db.execute("UPDATE pages SET state = 'acknowledged', escalate_at = 0, until = ?, "
                       "changed = ? WHERE id = ?", (until, self.now(), page_id))

    def escalations_due(self, now: float) -> list[Page]:
        rows = self._read(f"SELECT {', '.join(_PAGE_COLUMNS)} FROM pages WHERE escalate_at > 0 "
                          "AND escalate_at <= ? AND state = 'firing' ORDER BY escalate_at",
                          (now,))
        return [_page(r) for r in rows]

    def escalate(self, page: Page, jobs: Sequence[Job]) -> bool:
        with self._write() as db:
            if not db.execute("UPDATE pages SET escalate_at = 0 WHERE id = ? AND escalate_at > 0"
                              " AND state = 'firing'", (page.id,)).rowcount:
                return False
            for job in jobs:
                job.created = job.next_at = job.created or self.now()
                job.reference = job.reference or new_reference()
                job.id = self._insert_one(db, job)
            return True

    def select(self, query: JobQuery) -> list[Job]:
        where, params = query.where()
        rows = self._read(f"{_SELECT}{where} ORDER BY id DESC LIMIT ?", (*params, query.limit))
        return [_job(r) for r in rows]

    def requeue(self, ids: Sequence[int], now: float) -> list[int]:
        marks = ", ".join("?" * len(REQUEUEABLE))
        with self._write() as db:
            done = []
            for job_id in ids:
                changed = db.execute(
                    "UPDATE jobs SET state = 'pending', next_at = ?, created = ?, done_at = 0,"
                    " account_index = 0, account_attempts = 0, doubt = 0, owner = '',"
                    f" lease_until = 0 WHERE id = ? AND state IN ({marks})",
                    (now, now, job_id, *REQUEUEABLE),
                ).rowcount
                if changed:
                    done.append(job_id)
            return done

    def purge(self, states: Sequence[str], before: float) -> int:
        unknown = set(states) - set(FINISHED)
        if unknown:
            raise ValueError(f"only finished jobs can be purged, not {sorted(unknown)}")
        with self._write() as db:
            return int(db.execute(
                f"DELETE FROM jobs WHERE state IN ({', '.join('?' * len(states))})"
                " AND done_at < ?", (*states, before),
            ).rowcount)

    def stats(self) -> OutboxStats:
        rows = self._read("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        counts = {state: count for state, count in rows}
        oldest = self._read("SELECT MIN(created) FROM jobs WHERE state = 'pending'"
                            " AND kind = 'alert'")[0][0]  # a summary waits for its window
        age = 0.0 if oldest is None else max(0.0, self.now() - float(oldest))  # type: ignore[arg-type]
        get = lambda s: int(counts.get(s, 0))  # type: ignore[call-overload]  # noqa: E731
        return OutboxStats(get("pending"), age, get("inflight"), get("sent"), get("dead"),
                           get("unconfirmed"))

    def dead_letters(self, limit: int = 100) -> list[Job]:
        rows = self._read(
            f"{_SELECT} WHERE state = 'dead' ORDER BY done_at DESC, id DESC LIMIT ?", (limit,)
        )
        return [_job(r) for r in rows]


def open_outbox(location: str, synchronous: str = "NORMAL", *,
                now: Callable[[], float] = time.time, exclusive: bool = False) -> SqlOutbox:
    """The outbox at server.outbox: a PostgreSQL URL, else a SQLite file (`exclusive`: held by
    this process alone, as serve holds it; a shared PostgreSQL outbox needs no such hold)."""
    if location.startswith(POSTGRES_SCHEMES):
        from .postgres import PostgresOutbox

        return PostgresOutbox(location, now=now)
    return SqliteOutbox(location, synchronous, now=now, exclusive=exclusive)


class SqliteOutbox(SqlOutbox):
    """The outbox in one SQLite file. One connection behind a lock: SQLite serialises writers
    anyway, and one connection keeps prepared statements warm.

    The file stays the one this process opened: when its path is deleted or replaced, nothing
    more is accepted (OutboxError: the receiver answers 503) and, within a second, the open
    outbox is copied back to the path (a file put there is kept aside, never deleted). A write
    that fails (disk full, read-only) makes check() fail until one succeeds again; the
    connections are opened anew before the next try, which a read-only file system needs.

    Its lease is the file's: one `serve` holds the file (claim), so a job another outbox left
    in flight was left by a process that is gone, and a due job is this one's to send."""

    def __init__(
        self, path: str, synchronous: str = "NORMAL", *, now: Callable[[], float] = time.time,
        exclusive: bool = False, upkeep: bool = True,
    ) -> None:
        """`exclusive`: hold the file for this process alone (see claim), as serve does.
        `upkeep=False`: another process (the serve that started this one: sms_notify.deliverer)
        checkpoints the file and puts it back if it is deleted; this one never writes to a
        file that is no longer at the path, and opens it again when told (`reopen`)."""
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        self._claim = claim(path) if exclusive else None
        self.path = path
        self.where = masked_location(path)  # how messages name it
        self.now = now
        self.synchronous = synchronous.upper()
        self.dedup_window = 0.0  # the longest seen, so pruning never forgets a live dedup key
        self.owner = new_owner()
        self.lease = LEASE
        self._lock = threading.Lock()
        self._fault: str | None = None  # why the last write failed; None once one succeeds
        self._stale = False  # the connections are to be opened anew before the next write
        self._pool: list[sqlite3.Connection] = []  # idle read connections
        self._readers = threading.Condition()  # guards the pool, _reading and _draining
        self._reading = 0  # read connections in use
        self._draining = False  # no new reads while the connections are replaced
        try:
            self._db = self._connect()
        except sqlite3.Error as exc:
            self._release()
            raise OutboxError(f"outbox {self.where}: {exc}") from None
        except OutboxError:
            self._release()
            raise
        self._identity = _identity(path)
        self._feeds = SqliteFeeds(path, now=now)
        self._closed = threading.Event()
        self.upkeep = upkeep
        self.on_restore: Callable[[], None] | None = None  # after _restore put the file back
        if upkeep:
            threading.Thread(target=self._maintain, name="sms-notify-outbox-checkpoint",
                             daemon=True).start()

    def _connect(self, path: str | None = None) -> sqlite3.Connection:
        """The writer's connection, in WAL mode with the schema in place."""
        db = sqlite3.connect(path or self.path, isolation_level=None, check_same_thread=False,
                             timeout=5.0, cached_statements=64)
        try:
            db.execute("PRAGMA busy_timeout = 5000")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxError(f"outbox {self.where}: cannot use WAL mode (got {mode})")
            db.execute(f"PRAGMA synchronous = {self.synchronous}")
            db.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
            self._migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Bring the schema to the newest version this code knows, in one transaction."""
        db.execute("BEGIN IMMEDIATE")
        try:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > len(SQLITE_MIGRATIONS):
                raise newer_schema(self.where, version, len(SQLITE_MIGRATIONS))
            for step in SQLITE_MIGRATIONS[version:]:
                if callable(step):
                    step(db)
                else:
                    for statement in step:
                        db.execute(statement)
            if version < len(SQLITE_MIGRATIONS):
                db.execute(f"PRAGMA user_version = {len(SQLITE_MIGRATIONS)}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _maintain(self) -> None:
        """Every second: copy the WAL back into the database from a connection of its own (so
        the fsync of a checkpoint never stalls a commit a webhook waits for), put the outbox
        back where its path says if the file was deleted or replaced, and try a write while the
        last one failed, so the receiver recovers by itself."""
        db: sqlite3.Connection | None = None
        said = ""
        while not self._closed.wait(CHECKPOINT_EVERY):
            try:
                if not self._in_place():
                    if db is not None:
                        db.close()
                        db = None
                    try:
                        self._restore()
                    except (sqlite3.Error, OSError) as exc:
                        if str(exc) != said:  # once per reason, not every second
                            log.error("outbox %s was deleted or replaced and cannot be restored "
                                      "yet (%s); nothing is accepted until it is",
                                      self.where, exc)
                        said = str(exc)
                        continue
                elif self._fault is not None:
                    self.check()
                said = ""
                if db is None:
                    db = sqlite3.connect(self.path, isolation_level=None,
                                         check_same_thread=False)
                    db.execute("PRAGMA busy_timeout = 1000")
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except (sqlite3.Error, OutboxError, OSError) as exc:
                log.debug("outbox upkeep: %s", exc)
        if db is not None:
            db.close()

    def _in_place(self) -> bool:
        """Whether the path still leads to the file this outbox has open."""
        try:
            return _identity(self.path) == self._identity
        except OSError:
            return False

    def check(self) -> None:
        """Raise OutboxError unless a job could be accepted now: the path still leads to the
        open file and a write commits (readiness: /-/ready)."""
        if not self._in_place():
            raise OutboxError(f"outbox {self.where} was deleted or replaced; restoring it")
        with self._write() as db:
            db.execute("UPDATE probe SET at = ?", (self.now(),))

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A read connection from the pool: in WAL mode readers never wait for the writer."""
        with self._readers:
            while self._draining:
                self._readers.wait()
            db = self._pool.pop() if self._pool else None
            self._reading += 1
        try:
            if db is None:
                db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                     timeout=5.0)
                db.execute("PRAGMA busy_timeout = 5000")
            yield db
        finally:
            with self._readers:
                self._reading -= 1
                if db is not None:
                    self._pool.append(db)
                self._readers.notify_all()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction, committed on exit; any SQLite failure is an OutboxError."""
        with self._lock:
            try:
                if not self.upkeep and not self._in_place():  # wait for its owner to restore it
                    raise OutboxError(f"outbox {self.where} was deleted or replaced")
                if self._stale:
                    self._reopen()
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise self._failed(exc) from None
            self._fault = None

    def _failed(self, exc: sqlite3.Error) -> OutboxError:
        """Note a failed write: a busy database is only busy; anything else (full, read-only,
        I/O error) opens the connections anew before the next write."""
        self._fault = str(exc)
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in (sqlite3.SQLITE_BUSY,
                                                               sqlite3.SQLITE_LOCKED):
            self._stale = True
        return OutboxError(f"outbox {self.where}: {exc}")

    def _close_connections(self) -> None:
        """Close the writer and every read connection (holding self._lock, with no read in
        progress): the last connection to a file removes its -wal by name."""
        self._feeds.close()  # it opens its connection again on its next use
        with self._readers:
            self._draining = True
            while self._reading:
                self._readers.wait()
            pool, self._pool = self._pool, []
        for db in [self._db, *pool]:
            try:
                db.close()
            except sqlite3.Error:
                pass

    def _done_draining(self) -> None:
        with self._readers:
            self._draining = False
            self._readers.notify_all()

    def _reopen(self) -> None:
        """Open the connections anew (holding self._lock)."""
        try:
            self._close_connections()
            self._db = self._connect()
            self._stale = False
        finally:
            self._done_draining()

    def _restore(self) -> None:
        """Put the open outbox back at its path: copy it beside the path, close every
        connection to it, move aside whatever file now holds the path, and rename the copy
        into place. Nothing is accepted meanwhile; the dispatcher only waits for the lock."""
        copy = f"{self.path}.restoring"
        with self._lock:
            for leftover in (copy, f"{copy}-wal", f"{copy}-shm"):
                if os.path.exists(leftover):
                    os.remove(leftover)
            target = sqlite3.connect(copy, isolation_level=None)
            try:
                self._db.backup(target)
            finally:
                target.close()
            try:
                self._close_connections()
                kept = ""
                if os.path.lexists(self.path):
                    kept = f"{self.path}.replaced-{int(time.time())}"
                    os.rename(self.path, kept)
                os.rename(copy, self.path)
                if self._claim is not None:  # hold the file now at the path, let the old go
                    held, self._claim[1] = self._claim[1], hold(self.path)
                    os.close(held)
                self._db = self._connect()
                self._identity = _identity(self.path)
                self._stale = False
            finally:
                self._done_draining()
        self._fault = None
        log.warning("outbox %s was %s while serve ran; restored from the open outbox%s",
                    self.where, "replaced" if kept else "deleted",
                    f" (the file found there is kept as {masked_location(kept)})" if kept else "")
        if self.on_restore is not None:
            self.on_restore()

    def reopen(self) -> None:
        """The file was put back at its path by the process that keeps it: use it there."""
        with self._lock:
            self._identity = _identity(self.path)
            self._stale = True

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        try:
            with self._reader() as db:
                return db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.where}: {exc}") from None

    def enqueue(self, jobs: Sequence[Job], dedup_window: float) -> list[Job]:
        now, candidates = self._stamped(jobs, dedup_window)
        if not candidates:
            return []
        dedup = dedup_window > 0
        since = now - dedup_window if dedup else float("inf")
        if not self._in_place():  # what is written now would be lost with the old file
            raise OutboxError(f"outbox {self.where} was deleted or replaced; restoring it")
        with self._lock:
            try:
                if self._stale:
                    self._reopen()
                # Each job binds one parameter per column, and `since` one more.
                limit = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
                rows = max(1, min(INSERT_ROWS, (limit - 1) // len(_COLUMNS)))
                if len(candidates) <= rows:  # the usual case: one statement, one transaction
                    accepted = self._insert(self._db, candidates, since)
                    self._fault = None
                    return accepted
            except sqlite3.Error as exc:
                raise self._failed(exc) from None
        with self._write() as db:
            return [job for i in range(0, len(candidates), rows)
                    for job in self._insert(db, candidates[i : i + rows], since)]

    @staticmethod
    def _insert(db: sqlite3.Connection, jobs: list[Job], since: float) -> list[Job]:
        """One INSERT for many jobs, skipping those whose (dedup_key, recipient) was accepted
        at or after `since`. One statement is one step: the writer thread gives up the GIL
        once per batch, not twice per job, so a busy event loop cannot stall the commit."""
        params = [value for job in jobs for value in _row(job)]
        params.append(since)
        cursor = db.execute(_insert_sql(len(jobs)), params)
        last, count = int(cursor.lastrowid or 0), cursor.rowcount
        if count == len(jobs):
            for offset, job in enumerate(jobs):
                job.id = last - count + 1 + offset
            return jobs
        # Some were duplicates: the new rows are the ids just given out, known by reference.
        ids = dict(db.execute("SELECT reference, id FROM jobs WHERE id BETWEEN ? AND ?",
                              (last - count + 1, last)).fetchall()) if count > 0 else {}
        accepted = [job for job in jobs if job.reference in ids]
        for job in accepted:
            job.id = int(ids[job.reference])
        return accepted

    def _insert_one(self, db: sqlite3.Connection, job: Job) -> int:
        return int(db.execute(_INSERT, _row(job)).lastrowid or 0)

    def claim(self, now: float, limit: int) -> list[Job]:
        return self.due(now, limit)  # this process holds the file: every due job is its own

    def take_over(self, now: float) -> list[Job]:
        with self._write() as db:
            rows = db.execute(f"{_SELECT} WHERE state = 'inflight' AND owner != ? ORDER BY id",
                              (self.owner,)).fetchall()
            db.execute("UPDATE jobs SET owner = ?, lease_until = ? WHERE state = 'inflight'"
                       " AND owner != ?", (self.owner, now + self.lease, self.owner))
        return [_job(r) for r in rows]

    def planning(self) -> AbstractContextManager[object]:
        return nullcontext()

    def listen(self, wake: Callable[[], None]) -> None:
        """Nothing to hear: only this process adds jobs to its file."""

    def feeds(self) -> Feeds:
        return self._feeds

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._close_connections()
            self._done_draining()
        self._release()

    @property
    def locks(self) -> tuple[int, ...]:
        """The descriptors holding the file (claim), for a process that must hold it as long
        as this one (serve's delivery process)."""
        return tuple(self._claim or ())

    def _release(self) -> None:
        for fd in self._claim or ():
            os.close(fd)
        self._claim = None
