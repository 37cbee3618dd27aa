"""Plugins load through the sms_notify entry-point group, built-in and third-party alike."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from sms_notify import hookimpl, hookspecs, manager
from sms_notify.delivery import balance, deliver, status
from sms_notify.errors import ProviderError
from sms_notify.model import Balance, Provider, Receipt
from tests.providers_helpers import ENDPOINT, account

HOST = ENDPOINT.removeprefix("http://")

THIRD_PARTY = '''
"""A third-party provider, installed from outside the package."""
from sms_notify import hookimpl
from sms_notify.model import Provider, Receipt

SCHEME = "acme"

@hookimpl
def sms_notify_register_providers(register):
    register(Provider(scheme=SCHEME, name="Acme", base_url="https://acme.invalid", max_recipients=5))

@hookimpl
def sms_notify_send(account, submission):
    with open(account.options["endpoint"].split("://", 1)[1].replace("|", "/"), "a") as log:
        log.write(f"{submission.text}|{','.join(r.address for r in submission.recipients)}\\n")
    return [Receipt(r, message_id="acme-" + r.digits[-3:]) for r in submission.recipients]
'''

BROKEN = "raise RuntimeError('this plugin is broken')\n"


def install_dist(site: Path, name: str, module: str, source: str) -> None:
    """Lay out an installed distribution (module + dist-info with an entry point) in `site`."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[sms_notify]\n{name} = {module}\n")


def run_cli(site: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(site)}
    full_env.pop("SMS_NOTIFY_LOAD_PLUGINS", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "sms_notify", *args], capture_output=True, text=True,
        env=full_env, timeout=60,
    )


def test_an_installed_third_party_provider_sends(tmp_path: Path) -> None:
    install_dist(tmp_path, "sms-notify-acme", "sms_notify_acme", THIRD_PARTY)
    log = tmp_path / "sent.log"
    endpoint = "http://" + str(log).replace("/", "|")
    result = run_cli(
        tmp_path, "send", f"acme://u:p@+447700900123?endpoint={endpoint}", "-m", "Disk full"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("+447700900123: sent, 1 part, id acme-123 (via acme@")
    assert log.read_text() == "Disk full|+447700900123\n"
    assert "acme" in run_cli(tmp_path, "providers").stdout


def test_a_broken_third_party_plugin_warns_and_cannot_break_the_command(tmp_path: Path) -> None:
    install_dist(tmp_path, "sms-notify-broken", "sms_notify_broken", BROKEN)
    result = run_cli(tmp_path, "providers")
    assert result.returncode == 0
    assert "FastSMS" in result.stdout
    assert "plugin 'sms-notify-broken'" in result.stderr
    assert "this plugin is broken" in result.stderr
    assert "Traceback" not in result.stderr


def test_load_plugins_env_limits_what_loads(tmp_path: Path) -> None:
    install_dist(tmp_path, "sms-notify-broken", "sms_notify_broken", BROKEN)
    only = run_cli(tmp_path, "providers", env={"SMS_NOTIFY_LOAD_PLUGINS": "fastsms"})
    assert only.stdout.count("://") == 1 and "FastSMS" in only.stdout
    assert only.stderr == ""
    none = run_cli(tmp_path, "providers", env={"SMS_NOTIFY_LOAD_PLUGINS": ""})
    assert none.stdout == ""


def test_fake_provider_registered_from_code_sends(fake_gateways, clock) -> None:
    from sms_notify.delivery import deliver
    from sms_notify.manager import providers
    from sms_notify.urls import parse

    gw = fake_gateways("outside")
    receipts = deliver([parse("outside://u:p@+447700900123", providers())], "x", clock=clock)
    assert receipts[0].ok and gw.recipients_sent() == ["+447700900123"]


def test_a_plugin_failing_at_registration_is_dropped(capsys: pytest.CaptureFixture[str]) -> None:
    from sms_notify import hookimpl, manager

    class Bad:
        @hookimpl
        def sms_notify_register_providers(self, register):  # type: ignore[no-untyped-def]
            register("not a provider")

    manager.register(Bad(), name="bad-one")
    try:
        assert "fastsms" in manager.providers()
        assert "failed to register" in capsys.readouterr().err
        assert manager.get_pm().get_plugin("bad-one") is None
    finally:
        if manager.get_pm().get_plugin("bad-one") is not None:
            manager.unregister("bad-one")


def test_every_hook_has_a_docstring_and_types() -> None:
    hooks = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
             if name.startswith("sms_notify_")]
    assert len(hooks) >= 6
    for hook in hooks:
        assert hook.__doc__ and len(hook.__doc__.strip()) > 40, hook.__name__
        assert "return" in hook.__annotations__, hook.__name__
        assert all(p in hook.__annotations__ for p in inspect.signature(hook).parameters), hook.__name__


def test_core_names_no_gateway() -> None:
    core = Path(hookspecs.__file__).parent
    for path in core.glob("*.py"):
        text = path.read_text().lower()
        for gateway in ("fastsms", "intellisms", "server2sms", "sms24x", "mymobileapi"):
            assert f"import {gateway}" not in text and f"plugins.{gateway}" not in text, path


class Greedy:
    """A third-party provider written without any `account.scheme` check: it would answer
    every send if the core let it."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    @hookimpl
    def sms_notify_register_providers(self, register):  # type: ignore[no-untyped-def]
        register(Provider(scheme="greedy", name="Greedy", base_url="https://greedy.invalid",
                          capabilities=frozenset({"balance", "status"})))

    @hookimpl
    def sms_notify_send(self, account, submission):  # type: ignore[no-untyped-def]
        self.sent += [r.address for r in submission.recipients]
        return [Receipt(r, message_id="greedy") for r in submission.recipients]

    @hookimpl
    def sms_notify_balance(self, account):  # type: ignore[no-untyped-def]
        return Balance(1.0)


@pytest.fixture
def greedy() -> Iterator[Greedy]:
    plugin = Greedy()
    manager.register(plugin, name="test-greedy")  # last registered: pluggy asks it first
    yield plugin
    manager.unregister("test-greedy")


def test_a_plugin_without_a_scheme_guard_sends_only_its_own(greedy, gateway, clock) -> None:
    gateway.post(f"{ENDPOINT}/api", body="73786923")
    fast = deliver([account(f"fastsms://T@+447700900123?from=Alerts&endpoint={ENDPOINT}")],
                   "Disk full", clock=clock)
    assert [(r.message_id, r.account) for r in fast] == [("73786923", f"fastsms@{HOST}")]
    assert greedy.sent == [] and len(gateway.calls) == 1
    mine = deliver([account("greedy://u:p@+447700900124")], "Disk full", clock=clock)
    assert [r.message_id for r in mine] == ["greedy"]
    assert greedy.sent == ["+447700900124"]
    assert balance(account("greedy://u:p@")).credits == 1.0
    gateway.post(f"{ENDPOINT}/api", body="12.50")
    assert balance(account(f"fastsms://T@?from=A&endpoint={ENDPOINT}")).credits == 12.5


def test_other_plugins_wrappers_still_see_every_call(greedy, gateway, clock) -> None:
    seen: list[str] = []

    class Audit:
        @hookimpl(wrapper=True)
        def sms_notify_send(self, account, submission):  # type: ignore[no-untyped-def]
            seen.append(account.scheme)
            return (yield)

    manager.register(Audit(), name="test-audit")
    try:
        gateway.post(f"{ENDPOINT}/api", body="73786923")
        deliver([account(f"fastsms://T@+447700900123?from=A&endpoint={ENDPOINT}")], "x",
                clock=clock)
        deliver([account("greedy://u:p@+447700900124")], "x", clock=clock)
    finally:
        manager.unregister("test-audit")
    assert seen == ["fastsms", "greedy"]


@pytest.mark.parametrize("answer, message", [
    ("73786923", "answered send with '73786923', not 1 Receipts"),
    ([], "answered send with [], not 1 Receipts"),
])
def test_a_send_answered_wrongly_is_one_clear_error(fake_gateways, clock, answer, message
                                                    ) -> None:
    gw = fake_gateways("fake")
    gw.answers = [lambda sub: answer]
    receipts = deliver([account("fake://u:p@")], "hi", ["+447700900123"], clock=clock)
    assert receipts[0].error is not None and receipts[0].error.category == "request"
    assert message in receipts[0].error.text


def test_a_capability_without_its_hook_is_one_clear_error(greedy) -> None:
    with pytest.raises(ProviderError, match="the Greedy plugin offers no status"):
        status(account("greedy://u:p@"), "1")


def test_a_query_answered_wrongly_is_one_clear_error(greedy, monkeypatch) -> None:
    monkeypatch.setattr(Greedy, "sms_notify_balance", hookimpl(lambda self, account: "lots"))
    manager.unregister("test-greedy")
    manager.register(greedy, name="test-greedy")
    with pytest.raises(ProviderError, match="answered balance with 'lots', not a Balance"):
        balance(account("greedy://u:p@"))


def test_entry_points_are_read_as_importlib_metadata_reads_them(tmp_path: Path) -> None:
    """The manager reads entry_points.txt itself (no importlib.metadata at start-up): the same
    entry points, in the same order, for every group, with a distribution counted once (the
    first on sys.path) and `module:attr [extra]` loaded as importlib.metadata loads it."""
    install_dist(tmp_path, "sms_notify_acme", "sms_notify_acme", THIRD_PARTY)
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    install_dist(shadow, "sms_notify.acme", "sms_notify_acme_old", BROKEN)  # same dist, later
    (tmp_path / "extra.dist-info").mkdir()
    (tmp_path / "extra.dist-info" / "entry_points.txt").write_text(
        "# a comment\n[sms_notify]\nextra = os.path:join [fast]\n[other]\nx = y\n")
    code = textwrap.dedent(f"""
        import json, sys, os.path
        sys.path[:0] = [{str(tmp_path)!r}, {str(shadow)!r}]
        from importlib.metadata import entry_points as scan
        from sms_notify.manager import entry_points
        same = {{g: [(e.name, e.value) for e in scan(group=g)] ==
                    [(e.name, e.value) for e in entry_points(g)]
                for g in ("sms_notify", "console_scripts", "pytest11", "other")}}
        ours = {{e.name: e for e in entry_points("sms_notify")}}
        print(json.dumps({{"same": same, "names": sorted(ours),
                          "join": ours["extra"].load() is os.path.join}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    result = json.loads(out.stdout)
    assert all(result["same"].values()), result
    assert "sms_notify_acme" in result["names"] and result["join"]
    assert "sms_notify.acme" not in result["names"]  # the same distribution, later on the path
