"""`sms-notify outbox list|show|retry|purge`, in this process against an outbox file or a
PostgreSQL outbox (the end-to-end test runs it beside a live `serve`: tests/e2e/test_operating.py)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sms_notify.cli import main
from sms_notify.outbox import Job, open_outbox

A, B = "+447911123456", "+447911123457"



@pytest.fixture
def box(tmp_path: Path, location: str) -> Iterator[tuple[str, list[Job]]]:
    """A config whose outbox holds a dead, a sent, a pending and a summary job (ids 1 to 4)."""
    outbox = location
    config = tmp_path / "sms.yml"
    config.write_text("accounts: {primary: 'fastsms://t@?from=Alerts'}\n"
                      "routes: {oncall: {to: ['+447911123456'], via: [primary]}}\n"
                      f"defaults: {{region: GB}}\nserver: {{outbox: '{outbox}'}}\n")
    store = open_outbox(outbox)
    an_hour_ago = time.time() - 3600
    jobs = store.enqueue([Job("oncall", A, "FIRING DiskFull\ndb1: disk full", ("primary",),
                              dedup_key="a", created=an_hour_ago),
                          Job("oncall", B, "FIRING DiskFull", ("primary",), dedup_key="b",
                              created=an_hour_ago),
                          Job("other", A, "RESOLVED", ("primary",), dedup_key="c")], 600)
    dead, sent, _ = jobs
    dead.state, dead.attempts, dead.account, dead.done_at = "dead", 5, "primary", an_hour_ago
    dead.error = "auth: -501 Unknown Username/Password"
    sent.state, sent.message_id, sent.done_at, sent.attempts = "sent", "73786923", an_hour_ago, 1
    store.save([dead, sent], new=[Job("oncall", A, "+3 more alerts", ("primary",),
                                      kind="summary", next_at=time.time() + 3600)])
    store.close()
    yield str(config), jobs


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["outbox", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list(box: tuple[str, list[Job]], capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = box
    code, out, _ = run(capsys, "list", "--config", config)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["ID", "STATE", "AGE", "ROUTE", "TO", "TRIES", "ACCOUNT", "ID",
                                "OR", "ERROR"]
    assert [line.split()[:2] for line in lines[1:5]] == [
        ["4", "pending*"], ["3", "pending"], ["2", "sent"], ["1", "dead"]]
    assert lines[3].split()[2:] == ["1h", "oncall", B, "1", "primary", "id", "73786923"]
    assert lines[4].endswith("auth: -501 Unknown Username/Password")
    assert lines[-1] == "4 jobs (* a rate-limit summary)"
    _, out, _ = run(capsys, "list", "--config", config, "--state", "dead", "--state", "sent")
    assert [line.split()[0] for line in out.splitlines()[1:-1]] == ["2", "1"]
    _, out, _ = run(capsys, "list", "--config", config, "--route", "oncall", "--to", "07911123456",
                    "--older-than", "30m")
    assert out.splitlines()[1].split()[0] == "1" and out.splitlines()[-1] == "1 job"
    _, out, _ = run(capsys, "list", "--config", config, "--newer-than", "30m", "--limit", "1")
    assert out.splitlines()[-1] == "1 job (the limit: --limit N for more) (* a rate-limit summary)"


def test_list_json_has_the_documented_fields(box: tuple[str, list[Job]],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config, jobs = box
    code, out, _ = run(capsys, "list", "--config", config, "--json", "--state", "dead")
    assert code == 0
    (job,) = json.loads(out)["jobs"]
    assert set(job) == {"id", "state", "kind", "route", "recipient", "created", "next_at",
                        "done_at", "attempts", "via", "account", "message_id", "reference",
                        "error", "receipt", "receipt_at", "text"}
    assert (job["receipt"], job["receipt_at"]) == (None, None)
    assert (job["id"], job["state"], job["kind"], job["recipient"], job["via"]) == (
        1, "dead", "alert", A, ["primary"])
    assert job["error"] == "auth: -501 Unknown Username/Password" and job["next_at"] is None
    assert job["created"].endswith("Z") and job["reference"] == jobs[0].reference


def test_show_prints_one_job_whole(box: tuple[str, list[Job]],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = box
    code, out, _ = run(capsys, "show", "1", "--config", config)
    assert code == 0
    assert "state:        dead\n" in out and "recipient:    +447911123456\n" in out
    assert out.endswith("text:\n  FIRING DiskFull\n  db1: disk full\n")
    assert json.loads(run(capsys, "show", "2", "--config", config, "--json")[1])["job"][
        "message_id"] == "73786923"
    code, out, err = run(capsys, "show", "99", "--config", config)
    assert code == 2 and "no job 99 in the outbox" in err


def test_what_became_of_a_sent_text_is_shown(box: tuple[str, list[Job]], location: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """docs/design.md, Decision 15: the delivery report a gateway gave."""
    config, jobs = box
    store = open_outbox(location)
    (sent,) = store.sent_jobs([jobs[1].reference])
    sent.receipt, sent.receipt_at = "undelivered", 1_800_000_000.0
    assert store.record_receipt(sent)
    store.close()
    _, out, _ = run(capsys, "list", "--config", config, "--state", "sent")
    assert out.splitlines()[1].endswith("id 73786923, undelivered")
    _, out, _ = run(capsys, "show", "2", "--config", config)
    assert "receipt:      undelivered\nreceipt_at:   2027-01-15T08:00:00Z\n" in out
    job = json.loads(run(capsys, "show", "2", "--config", config, "--json")[1])["job"]
    assert (job["receipt"], job["receipt_at"]) == ("undelivered", "2027-01-15T08:00:00Z")


def test_retry_requeues_dead_jobs_only(box: tuple[str, list[Job]], location: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = box
    code, out, _ = run(capsys, "retry", "1", "2", "--config", config)
    assert code == 1  # job 2 was named but is sent
    assert out.splitlines() == [
        "requeued 1 job: 1 (serve sends them within a second)",
        "job 2: sent, not dead or unconfirmed; not requeued"]
    store = open_outbox(location)
    assert [(j.id, j.state) for j in store.jobs()][:2] == [(1, "pending"), (2, "sent")]
    store.close()
    code, out, _ = run(capsys, "retry", "--all", "--config", config, "--json")
    assert (code, json.loads(out)) == (0, {"requeued": [], "skipped": []})
    code, _, err = run(capsys, "retry", "--config", config)
    assert code == 2 and "name the jobs" in err
    code, _, err = run(capsys, "retry", "--state", "sent", "--config", config)
    assert code == 2 and "only dead and unconfirmed jobs are retried, not sent" in err


def test_retry_by_filter(box: tuple[str, list[Job]], capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = box
    code, out, _ = run(capsys, "retry", "--route", "oncall", "--config", config, "--json")
    assert (code, json.loads(out)) == (0, {"requeued": [1], "skipped": []})


def test_purge_keeps_what_dedup_still_needs(box: tuple[str, list[Job]],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = box
    code, _, err = run(capsys, "purge", "--older-than", "5m", "--config", config)
    assert code == 2 and "dedup_window and the rate limit (10m)" in err
    code, out, _ = run(capsys, "purge", "--older-than", "5m", "--state", "dead", "--config", config)
    assert (code, out) == (0, "purged 1 job (dead) finished more than 5m ago\n")
    code, out, _ = run(capsys, "purge", "--older-than", "30m", "--config", config, "--json")
    assert (code, json.loads(out)) == (0, {"purged": 1})  # the sent one; pending stay
    _, out, _ = run(capsys, "list", "--config", config)
    assert out.splitlines()[-1] == "2 jobs (* a rate-limit summary)"
    code, _, err = run(capsys, "purge", "--older-than", "1d", "--state", "pending",
                       "--config", config)
    assert code == 2 and "only finished jobs are purged" in err


def test_the_outbox_file_alone_needs_no_config(box: tuple[str, list[Job]], tmp_path: Path,
                                               location: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--outbox", location)
    assert code == 0 and out.splitlines()[-1].startswith("4 jobs")
    code, _, err = run(capsys, "list", "--outbox", str(tmp_path / "nope.sqlite"))
    assert code == 2 and "no outbox at" in err and "nope.sqlite" in err
    assert not (tmp_path / "nope.sqlite").exists()  # a typo does not make an empty outbox


# ---- files that are no outbox, or cannot be written (the outside probe's 11) ----
ACTIONS = [["list"], ["show", "1"], ["retry", "1"], ["purge", "--older-than", "2d"]]


def foreign_database(path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    db.close()


@pytest.mark.parametrize(("make", "why"), [
    (foreign_database, "is a SQLite database but not an sms-notify outbox (it has no jobs table)"),
    (lambda p: p.write_bytes(b""), "is not an sms-notify outbox (an empty file)"),
    (lambda p: p.write_text("root:x:0:0:root:/root:/bin/bash\n"),
     "is not an sms-notify outbox (not a SQLite database)"),
    (lambda p: p.mkdir(), "is not a file"),
])
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a[0])
def test_a_file_that_is_no_outbox_is_refused_and_left_as_it_was(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, why: str,
        action: list[str]) -> None:
    """Another program's database was given the outbox's tables and WAL mode, and listed as an
    empty outbox; an empty file became an outbox."""
    target = tmp_path / "given.sqlite"
    make(target)
    before = target.read_bytes() if target.is_file() else None
    code, out, err = run(capsys, *action, "--outbox", str(target))
    assert (code, out) == (2, "")
    assert err == f"sms-notify outbox: --outbox: {target} {why}\n"
    assert (target.read_bytes() if target.is_file() else None) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["given.sqlite"]  # no -wal, no -shm


@pytest.fixture
def read_only_outbox(tmp_path: Path) -> Iterator[Path]:
    """An outbox with a job, on a file system remounted read-only (as root, mode bits would
    not stop a write: only a read-only mount does)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], check=True)
    try:
        store = open_outbox(str(folder / "outbox.sqlite"))
        store.enqueue([Job("oncall", A, "FIRING DiskFull", ("primary",), dedup_key="a")], 600)
        store.close()
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder / "outbox.sqlite"
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a[0])
def test_a_read_only_outbox_is_refused_by_name(
        read_only_outbox: Path, capsys: pytest.CaptureFixture[str], action: list[str]) -> None:
    """It was an OutboxError traceback ("unable to open database file" at best)."""
    code, out, err = run(capsys, *action, "--outbox", str(read_only_outbox))
    assert (code, out) == (2, "")
    assert err == (f"sms-notify outbox: --outbox: {read_only_outbox} cannot be written here (a "
                   "read-only file system, or another user's file): the outbox command writes "
                   "it as serve does, and SQLite keeps its -wal and -shm files beside it\n")


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a[0])
def test_an_outbox_that_fails_midway_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], action: list[str]) -> None:
    """A damaged outbox opens (its first page is whole) and fails at its first query: a line
    naming it, exit 2, no traceback."""
    path = tmp_path / "outbox.sqlite"
    store = open_outbox(str(path))
    store.enqueue([Job("oncall", A, "FIRING DiskFull", ("primary",), dedup_key=f"k{i}")
                   for i in range(200)], 600)
    store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[page:] = b"\xff" * (len(data) - page)  # every page but the first
    path.write_bytes(bytes(data))
    code, out, err = run(capsys, *action, "--outbox", str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"sms-notify outbox: --outbox: ") and str(path) in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
