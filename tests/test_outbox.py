"""The durable outbox: commit before enqueue returns, dedup across restarts, OutboxError.

Tests that take `location` run on SQLite and on PostgreSQL (tests/conftest.py); those that take
`path` are SQLite's own (its file, WAL, lock), those that take `postgres` PostgreSQL's."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from sms_notify.outbox import (
    SQLITE_MIGRATIONS,
    Job,
    OutboxError,
    Page,
    SqliteOutbox,
    SqlOutbox,
    open_outbox,
)

from sms_notify.testing import ManualClock

A, B = "+447700900101", "+447700900102"


def job(recipient: str = A, key: str = "k1", text: str = "FIRING DiskFull") -> Job:
    return Job("oncall", recipient, text, ("primary", "backup"), max_segments=2, dedup_key=key,
               summary_key="DiskFull")


def test_enqueue_commits_before_it_returns(location: str, now: ManualClock) -> None:
    box = open_outbox(location, now=now)
    accepted = box.enqueue([job(A), job(B)], dedup_window=600)
    assert [j.id for j in accepted] == [1, 2]
    assert all(j.state == "pending" and j.created == now.t and j.next_at == now.t for j in accepted)
    assert accepted[0].reference and accepted[0].reference != accepted[1].reference
    # Another connection (another process, after a crash) sees the rows at once.
    other = open_outbox(location, now=now)
    assert other.jobs() == accepted
    other.close()
    box.close()


def test_a_sqlite_outbox_is_in_wal_mode(path: str) -> None:
    SqliteOutbox(path).enqueue([job()], 600)
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("SELECT via FROM jobs").fetchall() == [('["primary", "backup"]',)]
    other.close()


def test_jobs_round_trip_every_field(location: str, now: ManualClock) -> None:
    box = open_outbox(location, now=now)
    [stored] = box.enqueue([job()], 600)
    stored.state, stored.attempts, stored.doubt, stored.folded = "inflight", 2, True, {"X": 3}
    box.save([stored])
    assert box.get(stored.id) == stored
    assert box.inflight() == [stored]


def test_duplicates_inside_the_window_are_dropped(location: str, now: ManualClock) -> None:
    box = open_outbox(location, now=now)
    assert len(box.enqueue([job(A), job(B)], 600)) == 2
    now.t += 599
    # the same group for A again (an Alertmanager retry), twice in one call, and a new key
    again = box.enqueue([job(A), job(A, key="k2"), job(A, key="k2")], 600)
    assert [(j.recipient, j.dedup_key) for j in again] == [(A, "k2")]
    now.t += 2  # k1 is now older than the window
    assert [j.dedup_key for j in box.enqueue([job(A), job(A, key="k2")], 600)] == ["k1"]


def test_dedup_survives_a_restart(location: str, now: ManualClock) -> None:
    open_outbox(location, now=now).enqueue([job(A)], 600)
    reopened = open_outbox(location, now=now)  # no close(): as after a SIGKILL
    assert reopened.enqueue([job(A)], 600) == []
    assert reopened.stats().depth == 1


@pytest.mark.parametrize("size", [1, 7, 501, 1203])  # one INSERT, and several in one transaction
def test_a_batch_with_duplicates_returns_exactly_the_stored_jobs(location: str, now: ManualClock,
                                                                 size: int) -> None:
    box = open_outbox(location, now=now)
    box.enqueue([job(A, f"old{i}") for i in range(0, size, 3)], 600)  # every third is known
    batch = [job(A, f"old{i}") for i in range(size)] + [job(A, f"old{size - 1}"), job(B)]
    accepted = box.enqueue(batch, 600)
    expected = [f"old{i}" for i in range(size) if i % 3] + ["k1"]
    assert [j.dedup_key for j in accepted] == expected
    for stored in accepted:  # each returned job carries the id of its own row
        assert box.get(stored.id) == stored
    assert len(box.jobs()) == len(range(0, size, 3)) + len(expected)


def test_a_batch_fits_sqlites_older_parameter_limit(path: str, now: ManualClock) -> None:
    """SQLite before 3.32 (Ubuntu 20.04, RHEL 8) binds at most 999 parameters a statement."""
    box = SqliteOutbox(path, now=now)
    box._db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    accepted = box.enqueue([job(A, f"k{i}") for i in range(100)], 600)
    assert len(accepted) == 100 and len(box.jobs()) == 100


def test_jobs_without_a_dedup_key_are_never_dropped(location: str, now: ManualClock) -> None:
    box = open_outbox(location, now=now)
    assert len(box.enqueue([job(key=""), job(key="")], 600)) == 2
    assert len(box.enqueue([job(), job()], 0)) == 2  # no window, no dedup


def test_due_stats_and_dead_letters(location: str, now: ManualClock) -> None:
    box = open_outbox(location, now=now)
    first, second, third = box.enqueue([job(A, "a"), job(B, "b"), job(A, "c")], 600)
    second.next_at = now.t + 30
    third.state, third.error, third.done_at = "dead", "recipient: 206 Invalid number", now.t
    box.save([second, third])
    now.t += 10
    assert [j.id for j in box.due(now.t, 10)] == [first.id]
    assert box.next_due() == first.next_at
    stats = box.stats()
    assert (stats.depth, stats.inflight, stats.sent, stats.dead) == (2, 0, 0, 1)
    assert stats.oldest_pending_age == 10
    assert [(j.id, j.error) for j in box.dead_letters()] == [(third.id, third.error)]


def test_prune_forgets_only_old_finished_rows(location: str, now: ManualClock) -> None:
    box = open_outbox(location, now=now)
    jobs = box.enqueue([job(A, str(i)) for i in range(4)], 600)
    for j, state in zip(jobs, ["sent", "dropped", "dead", "pending"], strict=True):
        j.state, j.done_at = state, now.t if state != "pending" else 0.0
    box.save(jobs)
    assert box.prune(now.t + 1) == 2
    assert [j.state for j in box.jobs()] == ["dead", "pending"]


def test_synchronous_full_is_an_option(path: str) -> None:
    box = SqliteOutbox(path, synchronous="FULL")
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with pytest.raises(ValueError):
        SqliteOutbox(path, synchronous="OFF")


def test_an_unwritable_path_is_an_outbox_error(tmp_path: Path) -> None:
    with pytest.raises(OutboxError, match="outbox"):
        SqliteOutbox(str(tmp_path / "missing" / "dir" / "outbox.sqlite"))
    (tmp_path / "a-directory.sqlite").mkdir()
    with pytest.raises(OutboxError):
        SqliteOutbox(str(tmp_path / "a-directory.sqlite"))


def test_a_corrupt_file_is_an_outbox_error(tmp_path: Path) -> None:
    bad = tmp_path / "outbox.sqlite"
    bad.write_bytes(b"this is not a database, " * 100)
    with pytest.raises(OutboxError):
        SqliteOutbox(str(bad))


def test_enqueue_on_a_failing_store_raises_outbox_error(path: str) -> None:
    box = SqliteOutbox(path)
    box.close()
    with pytest.raises(OutboxError):
        box.enqueue([job()], 600)


def test_a_locked_database_is_an_outbox_error(path: str) -> None:
    box = SqliteOutbox(path)
    box._db.execute("PRAGMA busy_timeout = 50")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with pytest.raises(OutboxError, match="locked"):
            box.enqueue([job()], 600)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert len(box.enqueue([job()], 600)) == 1


def test_change_feed_cursors_live_in_the_outbox_and_survive_a_restart(location: str,
                                                                      now: FakeTime) -> None:
    """serve keeps MyMobileAPI's CHANGEID cursor, and what the feed said about our references,
    in two small tables of its outbox (DESIGN, Decisions 15)."""
    box = open_outbox(location, now=now)
    feed = box.feeds().feed("mymobileapi:u@https://gw")
    assert feed.position == 0 and feed.seen(["r1"]) == {}
    feed.advance(120, {"r1": {"status": "UNKNOWN"}})
    feed.advance(90, {"r1": {"status": "DELIVRD"}})  # a page read by a slower caller
    box.close()
    again = open_outbox(location, now=now).feeds()
    assert again.feed("mymobileapi:u@https://gw").position == 120  # never back
    assert again.feed("mymobileapi:u@https://gw").seen(["r1", "r2"]) == {
        "r1": {"status": "DELIVRD"}}
    assert again.feed("mymobileapi:other@https://gw").position == 0


def test_a_feed_that_went_back_is_read_from_the_start(location: str, now: FakeTime) -> None:
    """A gateway reset restarts its change ids (probe 6): the cursor goes back to 0, what was
    read about our references stays."""
    from sms_notify.feeds import Feeds

    for store in (open_outbox(location, now=now).feeds(), Feeds()):
        feed = store.feed("mymobileapi:u@https://gw")
        feed.advance(120, {"r1": {"status": "DELIVRD"}})
        feed.rewind()
        assert feed.position == 0 and feed.seen(["r1"]) == {"r1": {"status": "DELIVRD"}}
        feed.advance(3, {})
        assert feed.position == 3


def test_an_outbox_from_before_a_column_was_added_is_upgraded(path: str) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, route TEXT NOT NULL, recipient TEXT "
               "NOT NULL, text TEXT NOT NULL, via TEXT NOT NULL, max_segments INTEGER NOT NULL, "
               "dedup_key TEXT NOT NULL, summary_key TEXT NOT NULL, created REAL NOT NULL, state "
               "TEXT NOT NULL, attempts INTEGER NOT NULL, account_index INTEGER NOT NULL, next_at "
               "REAL NOT NULL, reference TEXT NOT NULL, message_id TEXT NOT NULL, account TEXT NOT "
               "NULL, error TEXT NOT NULL, kind TEXT NOT NULL, account_attempts INTEGER NOT NULL, "
               "doubt INTEGER NOT NULL, folded TEXT NOT NULL, done_at REAL NOT NULL)")
    db.execute("INSERT INTO jobs VALUES (1, 'r', '+447700900101', 't', '[\"a\"]', 1, '', '', 0, "
               "'pending', 0, 0, 0, 'ref', '', '', '', 'alert', 0, 0, '', 0)")
    db.commit()
    db.close()
    [old] = SqliteOutbox(path).jobs()
    assert (old.reference, old.request_ref, old.refused, old.unsure) == ("ref", "", 0, 0)
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == len(SQLITE_MIGRATIONS)  # versioned from now on


def schema_version(location: str) -> int:
    """The version the outbox's schema says it has."""
    if location.startswith("postgres"):
        import psycopg

        with psycopg.connect(location) as conn:
            return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])
    return int(sqlite3.connect(location).execute("PRAGMA user_version").fetchone()[0])


def set_schema_version(location: str, version: int) -> None:
    if location.startswith("postgres"):
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute("UPDATE schema_version SET version = %s", (version,))
        return
    db = sqlite3.connect(location)
    db.execute(f"PRAGMA user_version = {version}")
    db.close()


def test_the_schema_is_versioned_and_a_newer_one_is_refused(location: str) -> None:
    """Both backends upgrade the same way: a numbered list of migrations, applied at start; an
    outbox made by a newer sms-notify is refused rather than misread."""
    from sms_notify.outbox import SQLITE_MIGRATIONS
    from sms_notify.postgres import PG_MIGRATIONS

    known = len(PG_MIGRATIONS if location.startswith("postgres") else SQLITE_MIGRATIONS)
    open_outbox(location).close()
    assert schema_version(location) == known
    open_outbox(location).close()  # opening again changes nothing
    assert schema_version(location) == known
    set_schema_version(location, known + 1)
    with pytest.raises(OutboxError, match=f"schema version {known + 1}, newer than this "
                                          f"sms-notify knows \\({known}\\)"):
        open_outbox(location)


def test_claimed_and_in_flight_jobs_are_held_and_let_go_when_saved(location: str,
                                                                   now: ManualClock) -> None:
    box = open_outbox(location, now=now)
    first, second = box.enqueue([job(A), job(B)], 600)
    assert [j.id for j in box.claim(now.t, 10)] == [first.id, second.id]
    first.state, second.state, second.next_at = "inflight", "pending", now.t + 30
    box.save([first, second])
    assert box.claim(now.t, 10) == []  # one in flight, one not due yet
    assert box.take_over(now.t) == []  # this outbox holds its own in flight
    first.state, first.done_at = "sent", now.t
    box.save([first])
    now.t += 30
    assert [j.id for j in box.claim(now.t, 10)] == [second.id]


def test_jobs_left_in_flight_are_taken_over_by_the_next_outbox(location: str,
                                                               now: ManualClock) -> None:
    """SQLite: by the next process on the file, at once. PostgreSQL: by any receiver, once the
    lease of the one that held them ran out. Its late writes are then ignored."""
    died = open_outbox(location, now=now)
    [held] = died.enqueue([job(A)], 600)
    died.claim(now.t, 10)
    held.state, held.attempts = "inflight", 1
    died.save([held])
    if location.startswith("postgres"):
        died.close()  # it stops renewing the lease: its in-flight job stays held until it ends
    survivor = open_outbox(location, now=now)
    if location.startswith("postgres"):
        assert survivor.take_over(now.t) == []
        now.t += died.lease + 1
    [taken] = survivor.take_over(now.t)
    assert (taken.id, taken.state, taken.attempts) == (held.id, "inflight", 1)
    assert survivor.take_over(now.t) == []
    held.state = "sent"  # the dead one's outcome, too late: the survivor's record stands
    died_late = held
    if location.startswith("postgres"):
        with pytest.raises(OutboxError):
            died.save([died_late])  # closed: nothing reaches the database
    taken.state, taken.done_at = "pending", now.t
    survivor.save([taken])
    assert survivor.get(taken.id).state == "pending"  # type: ignore[union-attr]


def test_two_outboxes_on_one_store_share_the_dedup_window(location: str, now: ManualClock) -> None:
    """The same group from both Alertmanagers of an HA pair, posted to two receivers."""
    one, two = open_outbox(location, now=now), open_outbox(location, now=now)
    assert len(one.enqueue([job(A), job(B)], 600)) == 2
    assert two.enqueue([job(A), job(B), job(A, "k2")], 600)[0].dedup_key == "k2"
    now.t += 601  # expired: taken again, by either
    assert [j.recipient for j in two.enqueue([job(A)], 600)] == [A]
    assert one.enqueue([job(A)], 600) == []


def test_a_summary_waiting_for_its_window_is_not_a_stuck_text(location: str, now: FakeTime) -> None:
    """The README's alert rule reads oldest_pending_age: a rate-limit summary that waits an
    hour for the end of its window must not look like a text that cannot go out."""
    box = open_outbox(location, now=now)
    box.save(new=[Job("oncall", A, "+3 more alerts", ("primary",), kind="summary",
                      next_at=now.t + 3600)])
    now.t += 3000
    stats = box.stats()
    assert (stats.depth, stats.oldest_pending_age) == (1, 0.0)
    box.enqueue([job(B)], 600)  # an alert text waits: that counts
    now.t += 400
    assert box.stats().oldest_pending_age == 400


def finished(box: SqlOutbox, now: FakeTime, states: list[str]) -> list[Job]:
    jobs = box.enqueue([job(A, f"k{i}") for i in range(len(states))], 600)
    for j, state in zip(jobs, states, strict=True):
        j.state, j.error = state, f"{state}: why" if state != "sent" else ""
        j.done_at = now.t if state != "pending" else 0.0
        j.attempts, j.account_index = 3, 1
    box.save(jobs)
    return jobs


def test_select_filters_and_lists_newest_first(location: str, now: FakeTime) -> None:
    from sms_notify.outbox import JobQuery

    box = open_outbox(location, now=now)
    old = finished(box, now, ["dead", "sent"])
    now.t += 3600
    new = box.enqueue([job(B, "x"), Job("other", A, "t", ("primary",), dedup_key="y")], 600)
    assert [j.id for j in box.select(JobQuery())] == [4, 3, 2, 1]
    assert [j.id for j in box.select(JobQuery(states=["dead", "pending"]))] == [4, 3, 1]
    assert [j.id for j in box.select(JobQuery(route="other"))] == [new[1].id]
    assert [j.id for j in box.select(JobQuery(recipient=A, route="oncall"))] == [2, 1]
    assert [j.id for j in box.select(JobQuery(created_before=now.t - 60))] == [o.id for o in
                                                                              old[::-1]]
    assert [j.id for j in box.select(JobQuery(created_after=now.t - 60, limit=1))] == [4]


def test_requeue_takes_only_dead_and_unconfirmed_jobs_back(location: str, now: FakeTime) -> None:
    box = open_outbox(location, now=now)
    dead, sent, pending = finished(box, now, ["dead", "sent", "pending"])
    now.t += 7 * 3600  # older than max_age: requeued, it gets a fresh one
    assert box.requeue([dead.id, sent.id, pending.id, 99], now.t) == [dead.id]
    again = box.get(dead.id)
    assert again is not None
    assert (again.state, again.next_at, again.created, again.done_at) == (
        "pending", now.t, now.t, 0.0)
    assert (again.account_index, again.account_attempts, again.attempts) == (0, 0, 3)
    assert [j.id for j in box.due(now.t, 10)] == [pending.id, dead.id]
    assert box.get(sent.id).state == "sent"  # type: ignore[union-attr]


def test_purge_deletes_only_finished_jobs_older_than_asked(location: str, now: FakeTime) -> None:
    box = open_outbox(location, now=now)
    jobs = finished(box, now, ["dead", "sent", "dropped", "pending"])
    now.t += 100
    assert box.purge(["dead", "sent"], now.t - 200) == 0
    assert box.purge(["dead", "sent", "dropped"], now.t - 50) == 3
    assert [j.id for j in box.jobs()] == [jobs[3].id]
    with pytest.raises(ValueError, match="pending"):
        box.purge(["pending"], now.t)


def test_an_exclusive_outbox_is_held_by_one_process_at_a_time(path: str) -> None:
    """serve opens its outbox exclusively (Decision 14); tools and tests need not."""
    import os

    from sms_notify.outbox import OutboxInUse

    held = SqliteOutbox(path, exclusive=True)
    with pytest.raises(OutboxInUse, match=f"held by sms-notify serve pid {os.getpid()} "):
        SqliteOutbox(path, exclusive=True)
    SqliteOutbox(path).close()  # a reader, such as the outbox command, is not refused
    held.close()
    SqliteOutbox(path, exclusive=True).close()  # released with the descriptor


def test_a_hard_link_to_a_held_outbox_is_held_too(path: str, now: FakeTime) -> None:
    """Two serves on two names of one file shared its database, each with its own -wal file:
    the hold is on the file, and the pid still comes with the refusal, also once the file was
    deleted under the holder and put back (a new file at the path)."""
    import os
    import time

    from sms_notify.outbox import OutboxInUse

    held = SqliteOutbox(path, exclusive=True, now=now)
    try:
        for round_ in range(2):
            link = f"{path}.link{round_}"
            os.link(path, link)
            with pytest.raises(OutboxInUse, match=f"{link} is held by sms-notify serve pid "
                                                  f"{os.getpid()} "):
                SqliteOutbox(link, exclusive=True)
            assert [j.recipient for j in held.enqueue([job(A, f"k{round_}")], 600)] == [A]
            os.unlink(link)
            os.unlink(path)  # the holder puts its open outbox back at the path within a second
            deadline = time.monotonic() + 10
            while not (os.path.exists(path) and held._in_place()):
                assert time.monotonic() < deadline, "not restored"
                time.sleep(0.05)
    finally:
        held.close()
    SqliteOutbox(f"{path}", exclusive=True).close()


@pytest.mark.parametrize(("location", "masked"), [
    ("postgresql://sms:s3cr%40t@db.example:5432/sms", "postgresql://sms:****@db.example:5432/sms"),
    ("postgres://sms:p@ss:w@rd@db/sms?sslmode=require", "postgres://sms:****@db/sms?sslmode=require"),
    ("postgresql://sms@db/sms", "postgresql://sms@db/sms"),
    ("/var/lib/sms-notify/outbox.sqlite", "/var/lib/sms-notify/outbox.sqlite"),
])
def test_an_outbox_urls_password_is_masked_where_it_is_shown(location: str, masked: str) -> None:
    from sms_notify.outbox import masked_location as shown

    assert shown(location) == masked


def test_a_connection_that_cannot_write_is_opened_anew(path: str, now: FakeTime) -> None:
    """As a file system gone read-only and back leaves it: the open connection fails every
    write. The outbox says so (check fails, the receiver is not ready) and opens its
    connections anew before the next write, instead of failing until a restart."""
    box = SqliteOutbox(path, now=now)
    box.check()
    box._db.close()  # every write through it fails from now on
    with pytest.raises(OutboxError):
        box.enqueue([job(A)], 600)
    box.check()  # opened anew: a write commits again
    assert [j.recipient for j in box.enqueue([job(A)], 600)] == [A]
    box.close()


# ---- PostgreSQL's own: receivers on other hosts share it (docs/design.md, Decision 14) ----
def test_receivers_claim_each_due_job_once(postgres, now: ManualClock) -> None:
    url = postgres.fresh_url()
    boxes = [open_outbox(url, now=now) for _ in range(3)]
    try:
        boxes[0].enqueue([job(A, f"k{i}") for i in range(300)], 600)
        claimed: list[list[int]] = [[] for _ in boxes]

        def claim(i: int) -> None:
            while got := boxes[i].claim(now.t, 7):
                claimed[i] += [j.id for j in got]
                for j in got:
                    j.state, j.done_at = "sent", now.t
                boxes[i].save(got)

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        everyone = [i for c in claimed for i in c]
        assert sorted(everyone) == list(range(1, 301))  # each once, none lost
        assert all(claimed)  # SKIP LOCKED let each take some
    finally:
        for box in boxes:
            box.close()


def test_concurrent_accepts_of_one_alert_keep_one_job(postgres, now: ManualClock) -> None:
    url = postgres.fresh_url()
    boxes = [open_outbox(url, now=now) for _ in range(4)]
    try:
        start = threading.Barrier(len(boxes))
        results: list[int] = []

        def post(box: SqlOutbox) -> None:
            start.wait()
            for i in range(50):
                results.append(len(box.enqueue([job(A, f"g{i}"), job(B, f"g{i}")], 600)))

        threads = [threading.Thread(target=post, args=(b,)) for b in boxes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(results) == 100 and len(boxes[0].jobs()) == 100
    finally:
        for box in boxes:
            box.close()


def test_a_job_accepted_by_one_receiver_wakes_the_others(postgres, now: ManualClock) -> None:
    url = postgres.fresh_url()
    one, two = open_outbox(url, now=now), open_outbox(url, now=now)
    try:
        heard = threading.Event()
        two.listen(heard.set)  # it wakes once as it starts listening, then at each accept
        assert heard.wait(10)
        heard.clear()
        one.enqueue([job(A)], 600)
        assert heard.wait(10)
    finally:
        one.close()
        two.close()


def test_a_database_that_goes_away_fails_clearly_and_comes_back_by_itself(
    postgres, now: ManualClock
) -> None:
    from tests.postgres import PASSWORD

    box = open_outbox(postgres.fresh_url(), now=now)
    try:
        box.enqueue([job(A)], 600)
        postgres.stop()
        try:
            with pytest.raises(OutboxError) as failed:
                box.enqueue([job(B)], 600)
            with pytest.raises(OutboxError):
                box.check()
        finally:
            postgres.start()
        message = str(failed.value)
        assert "postgresql://sms:****@127.0.0.1" in message and PASSWORD not in message
        box.check()  # no reopening: the pool connects again
        assert [j.recipient for j in box.enqueue([job(B)], 600)] == [B]
    finally:
        box.close()


def test_a_wrong_password_is_named_without_it(postgres) -> None:
    from urllib.parse import quote

    from tests.postgres import PASSWORD

    url = postgres.fresh_url().replace(quote(PASSWORD, safe=""), "wrong%40secret")
    with pytest.raises(OutboxError, match="password authentication failed") as failed:
        open_outbox(url)
    assert "wrong" not in str(failed.value) and "secret" not in str(failed.value)
    assert "postgresql://sms:****@127.0.0.1:" in str(failed.value)


# --- closing the loop (docs/design.md, Decision 15) ------------------------------------------

# The jobs table as outboxes made before delivery reports and pages have it.
BEFORE_THE_LOOP = """
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    route TEXT NOT NULL, recipient TEXT NOT NULL, text TEXT NOT NULL, via TEXT NOT NULL,
    max_segments INTEGER NOT NULL, dedup_key TEXT NOT NULL, summary_key TEXT NOT NULL,
    created REAL NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
    account_index INTEGER NOT NULL, next_at REAL NOT NULL, reference TEXT NOT NULL,
    message_id TEXT NOT NULL, account TEXT NOT NULL, error TEXT NOT NULL, kind TEXT NOT NULL,
    account_attempts INTEGER NOT NULL, doubt INTEGER NOT NULL, folded TEXT NOT NULL,
    done_at REAL NOT NULL, request_ref TEXT NOT NULL DEFAULT '',
    refused INTEGER NOT NULL DEFAULT 0, unsure INTEGER NOT NULL DEFAULT 0
);
INSERT INTO jobs VALUES (7, 'oncall', '+447700900101', 'FIRING', '["primary"]', 1, '', '', 1.0,
    'sent', 1, 0, 1.0, 'ref7', '73786923', 'primary', '', 'alert', 0, 0, '', 2.0, 'ref7', 0, 0);
"""


def test_an_outbox_from_before_the_loop_gains_its_columns_and_tables(path: str,
                                                                     now: ManualClock) -> None:
    old = sqlite3.connect(path)
    old.executescript(BEFORE_THE_LOOP)
    old.close()
    box = SqliteOutbox(path, now=now)
    (sent,) = box.sent_jobs(["ref7"])
    assert (sent.id, sent.receipt, sent.receipt_at, sent.check_at, sent.page) == (7, "", 0, 0, 0)
    sent.receipt, sent.receipt_at = "delivered", 3.0
    assert box.record_receipt(sent)
    assert box.open_pages([Page("oncall", "g", {"alertname": "A"})]) == [1]
    assert box.reply_seen("primary", "1")
    box.close()


def sent_job(box: SqlOutbox, now: ManualClock, message_id: str = "m1") -> Job:
    (made,) = box.enqueue([job()], 0)
    made.state, made.done_at, made.message_id, made.check_at = "sent", now(), message_id, now.t + 5
    box.save([made])
    return made


def test_sent_jobs_are_found_by_reference_or_message_id(location: str, now: ManualClock) -> None:
    box = open_outbox(location, now=now)
    first, second = sent_job(box, now, "m1"), sent_job(box, now, "m2")
    box.enqueue([job(B, key="other")], 0)  # pending: never found
    assert [j.id for j in box.sent_jobs([first.reference, "m2", "nothing"])] == [first.id,
                                                                                 second.id]
    assert box.checks_due(now.t + 4, 10) == []
    assert [j.id for j in box.checks_due(now.t + 5, 10)] == [first.id, second.id]
    box.close()


def test_a_receipt_and_its_resend_are_written_once(location: str, now: ManualClock) -> None:
    box = open_outbox(location, now=now)
    sent = sent_job(box, now)
    sent.receipt, sent.receipt_at, sent.check_at = "undelivered", now.t, 0.0
    again = Job("oncall", A, "FIRING DiskFull", ("backup",), created=now.t, next_at=now.t)
    assert box.record_receipt(sent, again)
    assert again.id and again.reference
    assert not box.record_receipt(sent, Job("oncall", A, "x", ("backup",), created=1, next_at=1))
    assert [(j.id, j.state, j.receipt) for j in box.jobs()] == [
        (sent.id, "sent", "undelivered"), (again.id, "pending", "")]
    box.close()


def test_a_reply_is_noted_once_per_account(location: str, now: ManualClock) -> None:
    box = open_outbox(location, now=now)
    assert box.reply_seen("primary", "41")
    assert not box.reply_seen("primary", "41")
    assert box.reply_seen("other", "41")
    box.close()


def test_prune_forgets_old_pages_and_replies(location: str, now: ManualClock) -> None:
    box = open_outbox(location, now=now)
    box.open_pages([Page("oncall", "resolved", {}), Page("oncall", "firing", {}),
                    Page("oncall", "quiet", {})])
    box.open_pages([Page("oncall", "resolved", {}, state="resolved")])
    box.reply_seen("primary", "1")
    now.advance(2 * 86400)
    box.open_pages([Page("oncall", "firing", {})])  # still heard of
    box.prune(now.t - 86400)
    assert {p.group_key for p in box.escalations_due(10**12)} == set()
    assert sorted(str(r[0]) for r in box._read("SELECT group_key FROM pages")) == [
        "firing", "quiet"]
    now.advance(8 * 86400)
    box.prune(now.t - 86400)
    assert box._read("SELECT COUNT(*) FROM pages")[0][0] == 0
    assert box._read("SELECT COUNT(*) FROM replies")[0][0] == 0
    box.close()
