"""The two SOAP gateways end to end: the real `sms-notify` commands (send, balance, status,
check-config --online) against the real sandbox process, through what only they have: 24x
phonebooks and one id per call, MyMobileAPI's `customerid:eventid` ids, refused entries and test
mode."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Cli, Sandbox, start_sandbox, stop

pytestmark = pytest.mark.e2e

TO, TO2, BAD = "+447700900123", "+447700900124", "+447700900000"
LINE = re.compile(r"^(?P<who>\S+): (?P<what>sent|failed)[,:] (?P<rest>.*)$", re.MULTILINE)
SENT_ID = re.compile(r"^(?P<who>\S+): sent, (?P<parts>\d+) parts?, id (?P<id>\S+) \(via ",
                     re.MULTILINE)


def credits(cli: Cli, box: Sandbox, scheme: str, **options: str) -> float:
    done = cli("balance", box.url_for(scheme, **options))
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.fullmatch(rf"{scheme}@127\.0\.0\.1:\d+: (-?[\d.]+) credits\n", done.stdout)
    assert match, done.stdout
    return float(match[1])


def test_sms24x_send_balance_status(fresh_sandbox: Sandbox, cli: Cli) -> None:
    before = credits(cli, fresh_sandbox, "sms24x")
    done = cli("send", fresh_sandbox.url_for("sms24x", TO, TO2, from_="Alerts"), "-m", "DISK FULL")
    assert done.returncode == 0, done.stdout + done.stderr
    ids = {m["who"]: m["id"] for m in SENT_ID.finditer(done.stdout)}
    assert set(ids) == {TO, TO2} and len(set(ids.values())) == 1, "one id for the call"
    inbox = fresh_sandbox.inbox("sms24x")
    assert sorted(m["to"] for m in inbox) == [TO, TO2]
    assert {m["id"] for m in inbox} == set(ids.values())
    assert len({m["reference"] for m in inbox}) == 1 and inbox[0]["reference"], "UserField"
    assert credits(cli, fresh_sandbox, "sms24x") == before - 2
    url = fresh_sandbox.url_for("sms24x")
    message_id = ids[TO]
    first = cli("status", url, message_id)
    assert first.returncode == 0 and re.match(rf"{message_id}: (sent|delivered), ", first.stdout)
    second = cli("status", url, message_id)
    assert second.stdout == f"{message_id}: delivered, final (Delivered)\n", second.stdout


def test_sms24x_phonebook(fresh_sandbox: Sandbox, cli: Cli) -> None:
    """SendToPhonebook answers `Message Sent`, no id (the document promises none)."""
    url = fresh_sandbox.url_for("sms24x", phonebook="Oncall", from_="Alerts")
    done = cli("send", url, "-m", "all hands")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.fullmatch(r"phonebook:Oncall: sent, 1 part, id - \(via sms24x@127\.0\.0\.1:\d+\)\n",
                        done.stdout), done.stdout
    assert sorted(m["to"] for m in fresh_sandbox.inbox("sms24x")) == ["+447700900201",
                                                                       "+447700900202"]
    assert [r["operation"] for r in fresh_sandbox.requests("sms24x")] == ["SendToPhonebook"]
    missing = cli("send", fresh_sandbox.url_for("sms24x", phonebook="Nobody", from_="Alerts"),
                  "-m", "x")
    assert missing.returncode == 1
    assert "phonebook:Nobody: failed: request: 09 The phonebook does not exist" in missing.stdout


def test_sms24x_without_a_sender_is_refused_before_sending(fresh_sandbox: Sandbox,
                                                          cli: Cli) -> None:
    """24x answers 02 to every text without MessageFrom: such a URL can never send."""
    done = cli("send", fresh_sandbox.url_for("sms24x", TO, from_=""), "-m", "who am I")
    assert done.returncode == 2
    assert "24x needs a sender: add from=NAME or a number" in done.stderr
    assert fresh_sandbox.requests("sms24x") == []


@pytest.fixture
def held_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox whose texts stay "sent" until first asked about: the shared one delivers them
    after a second, which a loaded machine can take between `send` and `status`."""
    box = start_sandbox(tmp_path / "sandbox.log", "--deliver-after", "3600")
    try:
        yield box
    finally:
        stop(box.proc)


def test_mymobileapi_send_balance_status(held_sandbox: Sandbox, cli: Cli) -> None:
    before = credits(cli, held_sandbox, "mymobileapi")
    done = cli("send", held_sandbox.url_for("mymobileapi", TO, TO2, from_="Alerts"),
               "-m", "x" * 200, "--max-segments", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    ids = {m["who"]: m["id"] for m in SENT_ID.finditer(done.stdout)}
    assert set(ids) == {TO, TO2}
    parsed = {who: re.fullmatch(r"([0-9a-f]{12}):(\d+)", i) for who, i in ids.items()}
    assert all(parsed.values()), ids
    assert len({m[2] for m in parsed.values() if m}) == 1, "one eventid for the batch"
    inbox = {m["to"]: m for m in held_sandbox.inbox("mymobileapi")}
    assert {who: inbox[who]["reference"] for who in ids} == {
        who: m[1] for who, m in parsed.items() if m}, "customerid is our reference"
    assert credits(cli, held_sandbox, "mymobileapi") == before - 4
    url = held_sandbox.url_for("mymobileapi")
    first = cli("status", url, ids[TO])
    assert first.returncode == 0
    assert first.stdout.startswith(f"{ids[TO]}: sent, not final (UNKNOWN "), first.stdout
    second = cli("status", url, ids[TO])
    assert second.stdout.startswith(f"{ids[TO]}: delivered, final (DELIVRD "), second.stdout


def test_mymobileapi_one_refused_entry_among_three(fresh_sandbox: Sandbox, cli: Cli) -> None:
    done = cli("send", fresh_sandbox.url_for("mymobileapi", TO, BAD, TO2), "-m", "hi")
    assert done.returncode == 1
    lines = {m["who"]: (m["what"], m["rest"]) for m in LINE.finditer(done.stdout)}
    assert lines[BAD][0] == "failed" and lines[BAD][1].startswith("recipient: numto invalid")
    assert lines[TO][0] == lines[TO2][0] == "sent"
    assert sorted(m["to"] for m in fresh_sandbox.inbox("mymobileapi")) == [TO, TO2]
    assert len(fresh_sandbox.requests("mymobileapi")) == 1


def test_mymobileapi_test_mode_sends_nothing(fresh_sandbox: Sandbox, cli: Cli) -> None:
    before = credits(cli, fresh_sandbox, "mymobileapi")
    done = cli("send", fresh_sandbox.url_for("mymobileapi", TO, live="no"), "-m", "dry run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert SENT_ID.search(done.stdout)
    assert fresh_sandbox.inbox("mymobileapi") == []
    assert credits(cli, fresh_sandbox, "mymobileapi") == before


def test_check_config_online_checks_both_logins(fresh_sandbox: Sandbox, cli: Cli,
                                                tmp_path: Path) -> None:
    config = tmp_path / "sms-notify.yml"
    good24, goodmma = (fresh_sandbox.url_for(s, from_="Alerts") for s in ("sms24x", "mymobileapi"))
    config.write_text(
        "accounts:\n"
        f"  uk: '{good24}'\n"
        f"  za: '{goodmma}'\n"
        f"  wrong: '{good24.replace('sandbox@', 'nope@', 1)}'\n"
    )
    done = cli("check-config", str(config), "--online")
    assert done.returncode == 1, done.stdout + done.stderr  # valid, but an account refused
    assert f"{config}: FAILED: wrong refused the online check" in done.stdout
    assert "accounts.uk: credentials accepted" in done.stdout
    assert "accounts.za: credentials accepted" in done.stdout
    assert "accounts.wrong: auth: 0 Username or Password Incorrect" in done.stdout
    assert "nope" not in done.stdout
