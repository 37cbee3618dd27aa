"""A process holding the outbox is SIGKILLed mid-burst; a second one resumes from the same file.

Every accepted job must reach the sandbox's inbox, and no job twice, except those in flight at
the kill through a gateway that cannot be asked about them (FastSMS): server2sms is asked about
our transaction references, so its in-flight jobs must arrive exactly once (docs/design.md,
Decision 1).

Two kinds of "in flight" are made to happen at the kill: requests the sandbox holds (a `slow`
fault; the sandbox drops them when the client dies, so they never land), and answers received
but not yet recorded (the child waits RECORD_DELAY before committing an outcome, and says so on
stdout; the kill comes inside that wait, so those texts did land). The second kind is where a
duplicate can happen, and where server2sms' look-up must prevent it.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from .conftest import Sandbox, child_env, stop

pytestmark = pytest.mark.e2e

JOBS = 800  # offered; the kill comes once at least KILL_AFTER are committed
KILL_AFTER = 500
SLOW = 0.4  # each gateway request is held this long, so requests are in flight at the kill
RECORD_DELAY = 0.6  # the burst child waits this long between a gateway's answer and its commit

CHILD = r'''
import json, logging, sys, time
from sms_notify.dispatch import Dispatcher
from sms_notify.manager import providers
from sms_notify.outbox import Job, SqliteOutbox
from sms_notify.urls import parse

logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
mode, db, urls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
accounts = {}
for name, url in urls.items():
    accounts[name] = parse(url, providers())
    accounts[name].name = name
box = SqliteOutbox(db)
dispatcher = Dispatcher(box, accounts, workers=4)
dispatcher.start()
if mode == "burst":
    real_save = SqliteOutbox.save

    def slow_save(self, changed=(), new=()):
        """Widen the window between a gateway's answer and its record: the crash window."""
        answered = {j.via[j.account_index] for j in changed if j.state == "sent"}
        if answered:
            print("recording", *sorted(answered), flush=True)
            time.sleep(float(sys.argv[5]))
        real_save(self, changed, new)

    SqliteOutbox.save = slow_save
    for start in range(0, int(sys.argv[4]), 10):  # webhooks of 10 jobs, as a receiver makes them
        batch = []
        for i in range(start, start + 10):
            via = ("s2s",) if i % 2 == 0 else ("fast",)
            batch.append(Job("crash", f"+4477009{i + 1:05d}", f"crash test alert {i // 20}", via,
                             dedup_key=f"k{i}"))
        box.enqueue(batch, 600)
        dispatcher.wake()
        time.sleep(0.03)
    time.sleep(600)  # wait for the kill
else:
    idle = dispatcher.wait_idle(120)
    dispatcher.drain(10)
    r = dispatcher.recovery
    print(json.dumps({"idle": idle, "found": r.found, "resent": r.resent, "blind": r.blind}))
'''


def rows(db: Path) -> list[tuple[str, str, str, str]]:
    """(recipient, text, state, account) of every job, read as another process would."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute("SELECT recipient, text, state, via FROM jobs ORDER BY id").fetchall()


def test_sigkill_mid_burst_loses_nothing_and_duplicates_only_the_unaskable(
    fresh_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = fresh_sandbox
    for gateway in ("server2sms", "fastsms"):
        requests.post(box.url + "/admin/balances", json={"gateway": gateway, "credits": 1e6},
                      timeout=10).raise_for_status()
        box.fault(gateway=gateway, kind="slow", delay=SLOW, seconds=120)
    urls = {"s2s": box.url_for("server2sms", from_="Alerts"),
            "fast": box.url_for("fastsms", from_="Alerts")}
    db = tmp_path / "outbox.sqlite"
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    args = [sys.executable, str(script)]

    burst = subprocess.Popen(
        [*args, "burst", str(db), json.dumps(urls), str(JOBS), str(RECORD_DELAY)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
    )
    recording: dict[str, float] = {}  # account -> when a worker last began to record an answer

    def watch() -> None:
        assert burst.stdout is not None
        for line in burst.stdout:
            for name in line.split()[1:]:
                recording[name] = time.monotonic()

    threading.Thread(target=watch, daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while True:
            assert burst.poll() is None, burst.communicate()[1]
            assert time.monotonic() < deadline, "the burst never got far enough"
            try:
                states = Counter(r[2] for r in rows(db))
            except sqlite3.OperationalError:  # not created yet
                states = Counter()
            fresh = {n for n, t in recording.items() if time.monotonic() - t < RECORD_DELAY / 2}
            if (sum(states.values()) >= KILL_AFTER and states["inflight"] and states["sent"]
                    and fresh >= set(urls)):
                break
            time.sleep(0.01)
        burst.send_signal(signal.SIGKILL)
        burst.wait(10)
    finally:
        stop(burst)

    accepted = rows(db)
    assert len(accepted) >= KILL_AFTER
    in_flight = [r for r in accepted if r[2] == "inflight"]
    blind = {(r[0], r[1]) for r in in_flight if "fast" in r[3]}
    asked = {(r[0], r[1]) for r in in_flight if "s2s" in r[3]}
    time.sleep(SLOW + 1.0)  # the held requests land at the gateway before anyone asks it
    requests.delete(box.url + "/admin/faults", timeout=10).raise_for_status()

    resume = subprocess.run([*args, "resume", str(db), json.dumps(urls)], capture_output=True,
                            text=True, timeout=180, env=child_env(), check=False)
    assert resume.returncode == 0, resume.stderr
    report = json.loads(resume.stdout.strip().splitlines()[-1])
    print(f"accepted={len(accepted)} in_flight_at_kill={len(in_flight)} report={report}")
    assert report["idle"]
    assert report["blind"] == len(blind)
    assert report["found"] + report["resent"] == len(asked)

    inbox = Counter((m["to"], m["text"]) for m in box.inbox())
    wanted = {(r[0], r[1]) for r in accepted}
    assert set(inbox) == wanted, "every accepted job delivered, and nothing else"
    twice = {key for key, n in inbox.items() if n > 1}
    assert all(inbox[key] == 2 for key in twice)
    assert twice <= blind, "only jobs in flight through a gateway that cannot be asked repeat"
    assert report["found"] > 0 and twice, "the kill came while answers were being recorded"
    print(f"duplicates={len(twice)} of {len(blind)} unaskable in flight; "
          f"{len(asked)} asked: found={report['found']} resent={report['resent']}")
    assert {r[2] for r in rows(db)} == {"sent"}
