"""The core commands as a user and a script see them: --json, a route's balance, check-config's
verdicts, warnings said once and in the right words, consistent help."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sms_notify import hookimpl, manager, numbers
from sms_notify.cli import COMMANDS, main
from sms_notify.errors import Category, ProviderError
from sms_notify.model import Balance, Provider, Receipt

from .conftest import FakeGateway


@pytest.fixture
def gateways(fake_gateways: Callable[..., FakeGateway]) -> Iterator[tuple[FakeGateway, ...]]:
    yield fake_gateways("fake"), fake_gateways("backup")


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "sms.yml"
    path.write_text(
        "accounts:\n  primary: 'fake://u:p@'\n  second: 'backup://u:p@'\n"
        "routes:\n  oncall: {to: ['+447911123456'], via: [primary, second], max_segments: 2}\n"
    )
    return str(path)



def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_send_json(gateways: Any, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    fake, backup = gateways
    fake.answers = [lambda s: [Receipt(s.recipients[0], error=ProviderError(
        Category.CREDIT, "no credit", "-100"))]]
    code, out, _ = run(capsys, "send", "oncall", "--config", config, "-m", "DISK FULL", "--json")
    assert code == 0
    assert json.loads(out) == {"ok": True, "receipts": [{
        "recipient": "+447911123456", "kind": "number", "ok": True, "unconfirmed": False,
        "parts": 1, "message_id": "backup-1-0", "account": "second", "error": None}]}
    backup.answers = [ProviderError(Category.AUTH, "Unknown Username/Password", "-501")]
    code, out, _ = run(capsys, "send", "backup://u:p@+447911123456", "-m", "x", "--json")
    assert code == 1
    assert json.loads(out)["receipts"][0]["error"] == {
        "category": "auth", "code": "-501", "text": "Unknown Username/Password"}
    backup.answers = [ProviderError(Category.UNAVAILABLE, "unexpected answer: OK",
                                    unknown_outcome=True)]
    code, out, _ = run(capsys, "send", "backup://u:p@+447911123456", "-m", "x", "--json")
    assert code == 1
    assert json.loads(out)["receipts"][0]["unconfirmed"] is True  # it may have gone out


def test_a_usage_error_with_json_prints_the_reason_as_json(
    gateways: Any, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "send", "oncal", "--config", config, "-m", "x", "--json")
    assert code == 2
    assert "did you mean 'oncall'" in json.loads(out)["error"] and "oncall" in err


class Checkable:
    """A gateway `login://` that offers an online login check and a balance; the user `wrong`
    is refused."""

    @hookimpl
    def sms_notify_register_providers(self, register: Callable[[Provider], None]) -> None:
        register(Provider(scheme="login", name="Login", base_url="https://gw.invalid",
                          capabilities=frozenset({"balance", "login"})))

    @staticmethod
    def _refuse(account: Any) -> None:
        if account.user == "wrong":
            raise ProviderError(Category.AUTH, "Unknown Username/Password", "-501")

    @hookimpl
    def sms_notify_balance(self, account: Any) -> Balance | None:
        if account.scheme != "login":
            return None
        self._refuse(account)
        return Balance(42.0)

    @hookimpl
    def sms_notify_check_login(self, account: Any) -> bool | None:
        if account.scheme != "login":
            return None
        self._refuse(account)
        return True


@pytest.fixture
def checkable() -> Iterator[None]:
    manager.register(Checkable(), name="test-checkable")
    yield
    manager.unregister("test-checkable")


def test_balance_of_a_route_shows_every_account(
    checkable: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sms.yml"
    path.write_text("accounts: {primary: 'login://u:p@', second: 'login://wrong:p@'}\n"
                    "routes: {oncall: {to: ['+447911123456'], via: [primary, second]}}\n")
    code, out, _ = run(capsys, "balance", "oncall", "--config", str(path))
    assert code == 1
    assert out.splitlines() == ["primary: 42 credits",
                                "second: auth: -501 Unknown Username/Password"]
    code, out, _ = run(capsys, "balance", "oncall", "--config", str(path), "--json")
    assert json.loads(out) == {"ok": False, "accounts": [
        {"account": "primary", "credits": 42.0, "unit": "credits", "error": None},
        {"account": "second", "credits": None, "unit": None,
         "error": {"category": "auth", "code": "-501", "text": "Unknown Username/Password"}}]}
    assert run(capsys, "balance", "primary", "--config", str(path))[:2] == (
        0, "primary: 42 credits\n")


def test_max_segments_above_the_gateways_maximum_says_so(
    gateways: Any, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "send", "oncall", "--config", config, "-m", "x",
                       "--max-segments", "50")
    assert code == 0
    assert "--max-segments 50: Fake sends at most 3 parts; texts through primary are cut to fit" \
        in err
    assert "Backup sends at most 3 parts" in err
    _, _, err = run(capsys, "send", "oncall", "--config", config, "-m", "x",
                    "--max-segments", "3")
    assert "at most" not in err


def test_the_range_warning_comes_once_per_number_through_a_route(
    gateways: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(numbers, "_warned", set())
    path = tmp_path / "sms.yml"
    path.write_text("accounts: {p: 'fake://u:p@+447700900123'}\n"
                    "routes: {r: {to: ['+447700900123'], via: [p]}}\n")
    code, _, err = run(capsys, "send", "r", "--config", str(path), "-m", "x")
    assert code == 0
    assert err.count("+447700900123 is not a known number range") == 1, err


def check_config_file(tmp_path: Path, body: str) -> str:
    path = tmp_path / "check.yml"
    path.write_text(body)
    return str(path)


def test_check_config_points_out_unknown_ranges_in_its_own_words(
    gateways: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = check_config_file(tmp_path, (
        "accounts: {p: 'fake://u:p@07700900999?region=GB'}\n"
        "routes: {r: {to: ['+447700900123', '+447911123456'], via: [p], max_segments: 5}}\n"))
    code, out, err = run(capsys, "check-config", path)
    assert code == 0
    assert "sending anyway" not in out + err
    assert ("warning: routes.r.to[0]: +447700900123 is in no number range phonenumbers knows "
            "(a typo? texts to it are still sent, and the gateway decides)") in out
    assert "warning: accounts.p: +447700900999 is in no number range" in out
    assert "+447911123456" not in out.split("OK")[0]  # a known range: nothing to say
    assert ("warning: routes.r.max_segments: 5, but Fake (accounts.p) sends at most 3 parts; "
            "its texts are cut to fit") in out
    assert out.count("warning:") == 3


def test_check_config_online_failure_is_not_ok(
    checkable: None, gateways: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = check_config_file(tmp_path, "accounts: {good: 'login://u:p@', "
                                       "wrong: 'login://wrong:p@', other: 'fake://u:p@'}\n")
    code, out, _ = run(capsys, "check-config", path, "--online")
    assert code == 1
    assert "OK" not in out
    assert "accounts.good: credentials accepted" in out
    assert "accounts.wrong: auth: -501 Unknown Username/Password" in out
    assert "accounts.other: no online check for fake://" in out
    assert f"{path}: FAILED: wrong refused the online check" in out
    code, out, _ = run(capsys, "check-config", path, "--online", "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    assert data["online"] == {
        "good": {"ok": True, "error": None},
        "wrong": {"ok": False, "error": {"category": "auth", "code": "-501",
                                         "text": "Unknown Username/Password"}},
        "other": {"ok": None, "error": None}}
    assert data["accounts"]["wrong"] == "login://wrong:****@"
    path = check_config_file(tmp_path, "accounts: {good: 'login://u:p@'}\n")
    code, out, _ = run(capsys, "check-config", path, "--online")
    assert code == 0 and f"{path}: OK: 1 accounts, 0 routes" in out


def test_check_config_json(gateways: Any, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check-config", config, "--json")
    data = json.loads(out)
    assert code == 0
    assert set(data) == {"ok", "path", "warnings", "accounts", "routes", "outbox", "online"}
    assert data["routes"] == {"oncall": {"to": ["+447911123456"], "via": ["primary", "second"],
                                         "max_segments": 2}}
    assert data["ok"] is True and data["online"] == {} and data["warnings"] == []


def test_top_level_version_and_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    from sms_notify import __version__

    for flag in ("-V", "--version"):
        assert run(capsys, flag)[:2] == (0, f"sms-notify {__version__}\n")
    code, _, err = run(capsys, "chek-config")
    assert code == 2 and "did you mean 'check-config'?" in err


def parsers() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for name, (module_name, function, help_) in COMMANDS.items():
        module = importlib.import_module(module_name)
        parser_class = getattr(module, f"{function}_parser", argparse.ArgumentParser)
        parser = parser_class(prog=f"sms-notify {name}", description=help_)
        getattr(module, f"{function}_arguments")(parser)
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                yield from ((f"{name} {sub}", p) for sub, p in action.choices.items())


@pytest.mark.parametrize(("name", "parser"), list(parsers()), ids=lambda v: str(v)[:20])
def test_help_is_consistent(name: str, parser: argparse.ArgumentParser) -> None:
    """Every positional says what it is; the same option has the same metavar everywhere."""
    metavars = {"--timeout": "SECONDS", "--max-segments": "N", "--config": "FILE",
                "--to": "NUMBER", "--listen": "HOST:PORT", "--limit": "N"}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        if not action.option_strings:
            assert action.help, f"{name}: positional {action.dest} has no help"
        for option, metavar in metavars.items():
            if option in action.option_strings:
                assert action.metavar == metavar, f"{name} {option}: {action.metavar}"
        if action.option_strings and action.nargs != 0:
            assert action.help, f"{name}: {action.option_strings} has no help"
