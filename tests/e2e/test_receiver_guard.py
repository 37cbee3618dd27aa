"""What `sms-notify serve` refuses to start with (docs/design.md, Decisions 14 and 16): a second serve on
one SQLite outbox, an open receiver beyond loopback, an empty secret. Each is a real process
that exits 2 with a line saying why, and leaves a running receiver untouched.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import Sandbox, child_env
from .receiver import receiver_config, serve_command, serving, start_serve, unique, wait_until
from .test_receiver_crash import first_line, payload

pytestmark = pytest.mark.e2e


def run_serve(config: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """serve as the unit starts it, expected to refuse: it must exit by itself."""
    return subprocess.run([*serve_command(config), *extra], capture_output=True, text=True,
                          env=child_env(**env), timeout=60, stdin=subprocess.DEVNULL,
                          check=False)


@pytest.mark.parametrize("path", ["the same", "a hard link"])
def test_a_second_serve_on_one_outbox_names_the_holder_and_exits_2(
        tmp_path: Path, fresh_sandbox: Sandbox, path: str) -> None:
    """Two receivers on one SQLite file texted 600 alerts 1,116 times; the second now refuses,
    and the lock dies with its holder, SIGKILL included. A hard link is another path to the
    same file: two receivers shared its database, each with its own -wal file."""
    config, env = receiver_config(tmp_path, fresh_sandbox)
    first = start_serve(config, env, tmp_path / "serve.log")
    try:
        outbox = tmp_path / "outbox.sqlite"
        second_config, second_env = config, env
        if path == "a hard link":
            (tmp_path / "other").mkdir()
            outbox = tmp_path / "other" / "linked.sqlite"
            os.link(tmp_path / "outbox.sqlite", outbox)
            second_config, second_env = receiver_config(
                tmp_path / "other", fresh_sandbox,
                lambda data: data["server"].update(outbox=str(outbox)))
        second = run_serve(second_config, second_env)
        assert second.returncode == 2, second
        assert f"{outbox} is held by sms-notify serve pid {first.proc.pid} " in second.stderr, \
            second.stderr
        assert "server.outbox" in second.stderr
        assert not Path(f"{outbox}-wal").exists() or path == "the same"
        name = unique("Held")
        assert first.post(payload(name)).status_code == 200  # the first one carries on
        wait_until(lambda: len([m for m in fresh_sandbox.inbox()
                                if m["text"].startswith(first_line(name))]) == 2, 15,
                   "the texts", first.log)
    finally:
        first.kill()  # SIGKILL: no clean-up of ours runs
    with serving(second_config, second_env, tmp_path / "serve2.log") as again:
        assert again.post(payload(unique("After"))).status_code == 200


def without_auth(data: dict[str, Any]) -> None:
    del data["server"]["bearer_token"]


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0"])
def test_an_open_receiver_beyond_loopback_does_not_start(
        tmp_path: Path, fresh_sandbox: Sandbox, listen: str) -> None:
    config, env = receiver_config(tmp_path, fresh_sandbox, without_auth)
    done = run_serve(config, env, "--listen", listen)  # the last --listen counts
    assert done.returncode == 2, done
    assert "is not a loopback address and the receiver has no authentication" in done.stderr
    assert "insecure_no_auth" in done.stderr
    assert "listening" not in done.stdout


def test_insecure_no_auth_opens_it_and_says_so(tmp_path: Path, fresh_sandbox: Sandbox) -> None:
    def edit(data: dict[str, Any]) -> None:
        without_auth(data)
        data["server"]["insecure_no_auth"] = True

    config, env = receiver_config(tmp_path, fresh_sandbox, edit)
    # --listen last wins: the unit's 127.0.0.1:0, then all addresses (the test posts to loopback)
    command = [*serve_command(config), "--listen", "0.0.0.0:0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(**env), stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith("sms-notify serve listening on http://0.0.0.0:"), ready
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "event=no_auth" in err and "anyone who reaches it can send texts" in err


def test_an_empty_token_does_not_start(tmp_path: Path, fresh_sandbox: Sandbox) -> None:
    """`bearer_token: ${SMS_NOTIFY_TOKEN}` with the variable set but empty used to serve open."""
    config, env = receiver_config(tmp_path, fresh_sandbox)
    done = run_serve(config, {**env, "SMS_NOTIFY_TOKEN": ""})
    assert done.returncode == 2, done
    assert "server.bearer_token: environment variable SMS_NOTIFY_TOKEN is set but empty" \
        in done.stderr


def test_an_outbox_urls_password_is_never_shown(tmp_path: Path, fresh_sandbox: Sandbox) -> None:
    """server.outbox will take a database URL; whatever becomes of it, its password stays out
    of what serve prints."""
    def edit(data: dict[str, Any]) -> None:
        data["server"]["outbox"] = "postgresql://sms:TopSecret99@127.0.0.1:9/sms"

    config, env = receiver_config(tmp_path, fresh_sandbox, edit)
    done = run_serve(config, env)
    assert done.returncode != 0, done
    assert "server.outbox" in done.stderr and "sms:****@127.0.0.1:9" in done.stderr, done.stderr
    assert "TopSecret99" not in done.stdout + done.stderr
