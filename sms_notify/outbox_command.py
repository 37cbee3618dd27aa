"""`sms-notify outbox list|show|retry|purge`: the receiver's jobs, for the operator.

It opens the outbox `serve` uses (server.outbox, or --outbox PATH or URL) as a second
connection: SQLite in WAL mode lets it read while `serve` writes, PostgreSQL is shared anyway,
and a job it requeues is picked up by a running receiver's next pass (within a second). Only finished jobs are changed: dead and
unconfirmed ones requeued, finished ones purged; pending and in-flight jobs belong to serve.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .commands import EXIT_FAILED, EXIT_OK, print_json
from .errors import ConfigError, UsageError
from .outbox import (
    FINISHED,
    POSTGRES_SCHEMES,
    REQUEUEABLE,
    STATES,
    Job,
    JobQuery,
    OutboxError,
    SqlOutbox,
    masked_location,
    open_outbox,
)

LIST_LIMIT = 100


def _age(value: str) -> float:
    from .config import parse_duration

    try:
        return parse_duration(value, "")
    except ConfigError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an age (like 30m, 2h, 7d)") from None


def _state(value: str) -> str:
    states = (*STATES, *(s for s in FINISHED if s not in STATES))
    if value not in states:
        raise argparse.ArgumentTypeError(f"{value!r} is not a job state ({', '.join(states)})")
    return value


def outbox_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Inspect and repair the receiver's outbox, safely while serve runs. "
                          "The outbox is server.outbox of --config, or --outbox PATH or URL.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="config file (default $SMS_NOTIFY_CONFIG)")
    common.add_argument("--outbox", metavar="PATH",
                        help="the outbox itself: a SQLite file, or a PostgreSQL URL (no config "
                             "needed)")
    common.add_argument("--json", action="store_true",
                        help="print one JSON object (stable field names, for scripts)")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--state", action="append", type=_state, default=[], metavar="STATE",
                         help="only jobs in this state (repeatable): " + ", ".join(
                             (*STATES, "unconfirmed")))
    filters.add_argument("--route", metavar="ROUTE", help="only jobs of this route")
    filters.add_argument("--to", metavar="NUMBER", help="only jobs to this number")
    filters.add_argument("--older-than", type=_age, metavar="AGE",
                         help="only jobs accepted longer ago than AGE (30m, 2h, 7d)")
    filters.add_argument("--newer-than", type=_age, metavar="AGE",
                         help="only jobs accepted within AGE")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common, filters],
                                 help="jobs, newest first", description="Jobs, newest first.")
    listing.add_argument("--limit", type=int, default=LIST_LIMIT, metavar="N",
                         help=f"at most N jobs (default {LIST_LIMIT})")
    show = actions.add_parser("show", parents=[common], help="one job, whole",
                              description="One job, whole: text, accounts, attempts, error.")
    show.add_argument("id", type=int, metavar="ID", help="the job's id (from list)")
    retry = actions.add_parser(
        "retry", parents=[common, filters], help="send dead or unconfirmed jobs again",
        description="Requeue dead or unconfirmed jobs: by id, or every one the filters match "
                    "(--all for every one). They start again from the route's first account.")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID", help="jobs to requeue")
    retry.add_argument("--all", action="store_true",
                       help="every dead or unconfirmed job the filters match")
    purge = actions.add_parser(
        "purge", parents=[common], help="delete finished jobs older than an age",
        description="Delete finished jobs (sent, dropped, dead, unconfirmed) that finished "
                    "longer ago than --older-than. serve forgets sent and dropped jobs after a "
                    "day by itself; dead and unconfirmed ones stay until purged or retried.")
    purge.add_argument("--older-than", type=_age, required=True, metavar="AGE",
                       help="finished longer ago than AGE (30m, 2h, 7d)")
    purge.add_argument("--state", action="append", type=_state, default=[], metavar="STATE",
                       help="only this state (repeatable; default every finished state)")


@dataclass
class Setting:
    """What the outbox command takes from the config."""

    path: str  # the outbox: a file, or a PostgreSQL URL
    windows: float = 600.0  # how long finished jobs still count (dedup_window, rate limit)
    region: str | None = None  # for a national --to


def outbox(args: argparse.Namespace) -> int:
    """Every failure is one line and exit 2: a file that is no outbox, one that cannot be
    written, or an outbox that fails midway (OutboxError)."""
    setting = _setting(args)
    path = setting.path
    where = "--outbox" if args.outbox else "server.outbox"
    if not path.startswith(POSTGRES_SCHEMES):
        _check_file(path, where)
    try:
        store = open_outbox(path)
    except OutboxError as exc:
        raise ConfigError(f"cannot open the outbox: {exc}", where) from None
    try:
        action = {"list": _list, "show": _show, "retry": _retry, "purge": _purge}[args.action]
        return action(store, args, setting)
    except OutboxError as exc:
        raise ConfigError(f"the outbox failed: {exc}", where) from None
    finally:
        store.close()


SQLITE_HEADER = b"SQLite format 3\x00"


def _check_file(path: str, where: str) -> None:
    """The file is an outbox this command may open as serve does: it is never created, and a
    file that is not one (another program's database, a text file) is left as it was: opening
    it would write the outbox's tables and WAL mode into it. SQLite writes beside a WAL
    database even to read it (-wal, -shm), so a read-only one is refused up front, by name."""
    import sqlite3
    from urllib.parse import quote

    shown = masked_location(path)
    if not os.path.exists(path):
        raise ConfigError(f"no outbox at {shown} (serve creates it when it starts)", where)
    if not os.path.isfile(path):
        raise ConfigError(f"{shown} is not a file", where)
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise ConfigError(f"cannot read {shown}: {exc.strerror}", where) from None
    if header != SQLITE_HEADER:
        what = "an empty file" if not header else "not a SQLite database"
        raise ConfigError(f"{shown} is not an sms-notify outbox ({what})", where)
    folder = os.path.dirname(os.path.abspath(path))
    if not (os.access(path, os.W_OK) and os.access(folder, os.W_OK)):
        raise ConfigError(f"{shown} cannot be written here (a read-only file system, or "
                          "another user's file): the outbox command writes it as serve does, "
                          "and SQLite keeps its -wal and -shm files beside it", where)
    try:
        db = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
        try:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot read {shown}: {exc}", where) from None
    if "jobs" not in tables:
        raise ConfigError(f"{shown} is a SQLite database but not an sms-notify outbox (it has "
                          "no jobs table)", where)


def _setting(args: argparse.Namespace) -> Setting:
    from .config import load

    if args.outbox and not (args.config or os.environ.get("SMS_NOTIFY_CONFIG")):
        return Setting(args.outbox)  # no config: the default dedup_window
    config = load(args.config, templates=False)
    windows = max(config.dedup_window, config.per_recipient[1] if config.per_recipient else 0.0)
    return Setting(args.outbox or config.server.outbox, windows, config.region)


def _query(args: argparse.Namespace, setting: Setting, limit: int) -> JobQuery:
    now = time.time()
    recipient = _number(args.to, setting.region) if args.to else None
    return JobQuery(
        states=args.state, route=args.route, recipient=recipient,
        created_before=now - args.older_than if args.older_than is not None else None,
        created_after=now - args.newer_than if args.newer_than is not None else None,
        limit=limit,
    )


def _number(raw: str, region: str | None) -> str:
    from .errors import ProviderError
    from .numbers import normalize

    try:
        return normalize(raw, region, warn=False)
    except ProviderError as exc:
        raise UsageError(f"--to: {exc.text}") from None


def _list(store: SqlOutbox, args: argparse.Namespace, setting: Setting) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    jobs = store.select(_query(args, setting, args.limit))
    if args.json:
        print_json({"jobs": [job_json(j) for j in jobs]})
        return EXIT_OK
    now = time.time()
    rows = [("ID", "STATE", "AGE", "ROUTE", "TO", "TRIES", "ACCOUNT", "ID OR ERROR")]
    for job in jobs:
        outcome = job.error if job.state != "sent" else f"id {job.message_id}" + (
            f", {job.receipt}" if job.receipt else "")
        rows.append((str(job.id), job.state + ("*" if job.kind == "summary" else ""),
                     span(now - job.created), job.route, job.recipient, str(job.attempts),
                     job.account or job.account_name or "-", _cut(outcome or "-", 70)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    more = " (the limit: --limit N for more)" if len(jobs) == args.limit else ""
    summaries = " (* a rate-limit summary)" if any(j.kind == "summary" for j in jobs) else ""
    print(f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}{more}{summaries}")
    return EXIT_OK


def _show(store: SqlOutbox, args: argparse.Namespace, setting: Setting) -> int:
    job = store.get(args.id)
    if job is None:
        raise UsageError(f"no job {args.id} in the outbox")
    if args.json:
        print_json({"job": job_json(job)})
        return EXIT_OK
    data = job_json(job)
    text = data.pop("text")
    for key, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else "-" if value in (None, "") \
            else value
        print(f"{key + ':':<14}{shown}")
    print("text:")
    for line in text.splitlines() or [""]:
        print(f"  {line}")
    return EXIT_OK


def _retry(store: SqlOutbox, args: argparse.Namespace, setting: Setting) -> int:
    chosen = bool(args.state or args.route or args.to or args.older_than or args.newer_than)
    if not args.ids and not (args.all or chosen):
        raise UsageError("name the jobs: IDs, filters (--route, --to, --older-than...) or --all")
    if args.ids and (args.all or chosen):
        raise UsageError("give IDs or filters, not both")
    wrong = [s for s in args.state if s not in REQUEUEABLE]
    if wrong:
        raise UsageError(f"only dead and unconfirmed jobs are retried, not {', '.join(wrong)}")
    ids = list(dict.fromkeys(args.ids))
    if not ids:
        query = _query(args, setting, limit=1_000_000)
        query.states = args.state or REQUEUEABLE
        ids = [job.id for job in store.select(query)]
    done = store.requeue(ids, time.time()) if ids else []
    skipped = [{"id": i, "state": _state_of(store, i)} for i in ids if i not in set(done)]
    if args.json:
        print_json({"requeued": done, "skipped": skipped})
    else:
        if done:
            print(f"requeued {len(done)} job{'s' if len(done) != 1 else ''}: "
                  f"{', '.join(map(str, done))} (serve sends them within a second)")
        for row in skipped:
            why = "not in the outbox" if row["state"] is None else f"{row['state']}, not dead " \
                "or unconfirmed"
            print(f"job {row['id']}: {why}; not requeued")
        if not ids:
            print("no dead or unconfirmed job matches")
    return EXIT_FAILED if args.ids and skipped else EXIT_OK


def _state_of(store: SqlOutbox, job_id: int) -> str | None:
    job = store.get(job_id)
    return job.state if job else None


def _purge(store: SqlOutbox, args: argparse.Namespace, setting: Setting) -> int:
    states: Sequence[str] = args.state or FINISHED
    wrong = [s for s in states if s not in FINISHED]
    if wrong:
        raise UsageError(f"only finished jobs are purged ({', '.join(FINISHED)}), not "
                         f"{', '.join(wrong)}")
    windows = setting.windows
    if {"sent", "dropped"} & set(states) and args.older_than < windows:
        raise UsageError(
            f"--older-than {span(args.older_than)} would forget texts that still count for "
            f"dedup_window and the rate limit ({span(windows)}): repeats would be texted "
            f"again; use at least {span(windows)}, or --state dead / --state unconfirmed")
    gone = store.purge(states, time.time() - args.older_than)
    if args.json:
        print_json({"purged": gone})
    else:
        print(f"purged {gone} job{'s' if gone != 1 else ''} ({', '.join(states)}) finished more "
              f"than {span(args.older_than)} ago")
    return EXIT_OK


def job_json(job: Job) -> dict[str, Any]:
    """A job for --json and `show`: the stable field names of docs/operating.md."""
    return {
        "id": job.id, "state": job.state, "kind": job.kind, "route": job.route,
        "recipient": job.recipient, "created": _iso(job.created),
        "next_at": _iso(job.next_at) if job.state == "pending" else None,
        "done_at": _iso(job.done_at) if job.done_at else None, "attempts": job.attempts,
        "via": list(job.via), "account": job.account or None,
        "message_id": job.message_id or None, "reference": job.reference,
        "error": job.error or None,
        # what became of it at the handset (docs/design.md, Decision 15)
        "receipt": job.receipt or None,
        "receipt_at": _iso(job.receipt_at) if job.receipt else None,
        "text": job.text,
    }


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def span(seconds: float) -> str:
    """A duration for people: 45s, 12m, 3h5m, 2d4h."""
    seconds = max(0, int(seconds))
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60)):
        if seconds >= size:
            rest = (seconds % size) // sub_size
            return f"{seconds // size}{unit}" + (f"{rest}{sub}" if rest else "")
    return f"{seconds // 60}m" if seconds >= 60 else f"{seconds}s"


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."
