"""The outbox under `sms-notify serve` meets the file system's faults: its file deleted or
replaced while serve runs, the disk full. Readiness and /alert turn to 503 at once, serve
recovers by itself, and every alert that got a 200 is texted, across a SIGKILL and a restart.

The gateways fail (HTTP 503) while the fault happens, so the accepted jobs are still pending
in the outbox when it is deleted, replaced or full: what a lost outbox loses.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import Sandbox
from .receiver import Serve, receiver_config, start_serve, unique, wait_until
from .test_receiver_crash import first_line, payload

pytestmark = pytest.mark.e2e


def ready(rx: Serve) -> int:
    return requests.get(rx.url + "/-/ready", timeout=10).status_code


def gateways_down(sandbox: Sandbox) -> None:
    for gateway in ("fastsms", "server2sms"):
        sandbox.fault(gateway=gateway, kind="http_error", status=503, seconds=600)


def clear_faults(sandbox: Sandbox) -> None:
    requests.delete(sandbox.url + "/admin/faults", timeout=10).raise_for_status()


def delivered(sandbox: Sandbox, names: list[str]) -> bool:
    lines = {m["text"].splitlines()[0] for m in sandbox.inbox()}
    return all(first_line(name) in lines for name in names)


def post_all(rx: Serve, names: list[str]) -> tuple[list[str], list[int]]:
    """Post each; the names that got a 200, and every status."""
    accepted, statuses = [], []
    for name in names:
        status = rx.post(payload(name)).status_code
        statuses.append(status)
        if status == 200:
            accepted.append(name)
    return accepted, statuses


def restart_and_deliver(rx: Serve, config: Path, env: dict[str, str], tmp_path: Path,
                        sandbox: Sandbox, accepted: list[str]) -> None:
    """SIGKILL, start again on the same path, let the gateways work: every 200 is texted."""
    rx.kill()
    clear_faults(sandbox)
    again = start_serve(config, env, tmp_path / "serve2.log")
    try:
        wait_until(lambda: delivered(sandbox, accepted), 60, "delivery of every accepted alert",
                   lambda: again.log()[-3000:])
        assert again.terminate() == 0
    finally:
        if again.proc.poll() is None:
            again.kill()


@pytest.mark.parametrize("how", ["deleted", "deleted-with-wal", "replaced"])
def test_an_outbox_file_deleted_or_replaced_is_restored_and_loses_nothing(
        tmp_path: Path, fresh_sandbox: Sandbox, how: str) -> None:
    """Deleting the outbox under serve used to go unnoticed: /alert kept answering 200 into the
    deleted file, and after a restart those jobs were gone (30 accepted, 10 delivered)."""
    config, env = receiver_config(tmp_path, fresh_sandbox)
    db = tmp_path / "outbox.sqlite"
    gateways_down(fresh_sandbox)
    rx = start_serve(config, env, tmp_path / "serve.log")
    try:
        run = unique("Gone")
        accepted, _ = post_all(rx, [f"{run}a{i}" for i in range(10)])
        assert len(accepted) == 10
        other = tmp_path / "other.sqlite"
        if how == "replaced":
            sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
            os.rename(other, db)
        else:
            for path in [db, *([Path(f"{db}-wal"), Path(f"{db}-shm")] if how.endswith("wal")
                               else [])]:
                path.unlink()
        more, statuses = post_all(rx, [f"{run}b{i}" for i in range(20)])
        assert statuses[0] == 503 or db.exists(), statuses  # refused until it is back
        wait_until(lambda: ready(rx) == 200, 10, "the outbox restored", lambda: rx.log()[-2000:])
        assert f"outbox {db} was {how.partition('-')[0]} while serve ran" in rx.log()
        if how == "replaced":
            kept = [p for p in tmp_path.iterdir() if p.name.startswith("outbox.sqlite.replaced-")]
            assert len(kept) == 1  # the file put there is kept, not deleted
        later, _ = post_all(rx, [f"{run}c{i}" for i in range(10)])
        assert len(later) == 10
        accepted += more + later
    except BaseException:
        rx.kill()
        raise
    restart_and_deliver(rx, config, env, tmp_path, fresh_sandbox, accepted)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs of our own (needs root, as CI runs), so the test can fill it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"mounting a tmpfs needs root: {done.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write zeros until the file system is full. Unbuffered: a buffered file keeps what the
    failed write could not place and raises ENOSPC again when it is closed."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def test_a_full_disk_turns_ready_and_alert_to_503_and_recovers_by_itself(
        tmp_path: Path, fresh_sandbox: Sandbox, small_disk: Path) -> None:
    """A full outbox answered 503 on /alert while /-/ready said 200."""
    def edit(data: dict[str, Any]) -> None:
        data["server"]["outbox"] = str(small_disk / "outbox.sqlite")

    config, env = receiver_config(tmp_path, fresh_sandbox, edit)
    gateways_down(fresh_sandbox)
    rx = start_serve(config, env, tmp_path / "serve.log")
    try:
        run = unique("Full")
        accepted, _ = post_all(rx, [f"{run}a{i}" for i in range(5)])
        filler = fill(small_disk)
        names = [f"{run}b{i}" for i in range(400)]
        statuses: list[int] = []
        for name in names:  # until the outbox cannot take more
            statuses.append(rx.post(payload(name)).status_code)
            if statuses[-1] == 200:
                accepted.append(name)
            elif statuses[-1] == 503:
                break
        assert statuses[-1] == 503, statuses
        assert ready(rx) == 503  # at once, not only on /alert
        filler.unlink()
        wait_until(lambda: ready(rx) == 200, 10, "readiness after space came back",
                   lambda: rx.log()[-2000:])
        later, _ = post_all(rx, [f"{run}c{i}" for i in range(5)])
        assert len(later) == 5
        accepted += later
    except BaseException:
        rx.kill()
        raise
    restart_and_deliver(rx, config, env, tmp_path, fresh_sandbox, accepted)
