"""The Apprise integration around the URLs: registration, Apprise's template rules, YAML config,
the `apprise-plugin` command and the plugin file it writes."""

from __future__ import annotations

import inspect
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import apprise
import pytest
import responses
from apprise import NotificationManager, NotifyBase
from sms_notify.integrations.apprise import SchemaConflictWarning, register
from sms_notify.integrations.apprise.install import FILE_NAME, plugin_source
from sms_notify.integrations.apprise.notify import APPRISE_ARGS, SmsNotifyBase, schema_classes

from sms_notify.cli import main
from sms_notify.manager import providers
from tests.test_apprise_urls import GW, Gateways, instant_retries  # noqa: F401 - fixture

SCHEMES = ("fastsms", "intellisms", "server2sms", "sms24x", "mymobileapi")  # built in
CLASSES = schema_classes()
PLUGIN_FILE = Path(sys.modules["sms_notify.integrations.apprise"].__file__).with_name(
    "plugin_file.py"
)


pytestmark = pytest.mark.usefixtures("apprise_schemas")


@pytest.fixture
def gateways() -> Iterator[Gateways]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield Gateways(mock)


class NotifyOther(NotifyBase):
    """Another package's class that claims fastsms:// first."""

    service_name = "Other"
    secure_protocol = "fastsms"

    def send(self, body: str, title: str = "", **kwargs: object) -> bool:
        return True


# --- registration ------------------------------------------------------------------------------


def test_register_is_idempotent() -> None:
    assert register() == sorted(providers())
    assert register() == sorted(providers())
    assert {s: NotificationManager()[s] for s in CLASSES} == CLASSES


def test_unload_modules_forgets_the_schemas_and_register_brings_them_back() -> None:
    NotificationManager().unload_modules()
    assert "fastsms" not in NotificationManager()
    assert apprise.Apprise().add("fastsms://TOKEN@447700900123?from=A") is False
    register()
    assert apprise.Apprise().add("fastsms://TOKEN@447700900123?from=A") is True


def test_a_schema_taken_by_another_class_is_left_alone_with_a_warning() -> None:
    NotificationManager().unload_modules()
    assert NotificationManager().add(NotifyOther)
    with pytest.warns(SchemaConflictWarning, match=r"fastsms:// is already provided .*NotifyOther"):
        registered = register()
    assert "fastsms" not in registered and "intellisms" in registered
    assert NotificationManager()["fastsms"] is NotifyOther
    assert register(force=True) == sorted(providers())
    assert NotificationManager()["fastsms"] is CLASSES["fastsms"]


def test_every_gateway_gets_a_schema_a_third_party_one_too(fake_gateways, clock) -> None:
    gateway = fake_gateways("acme")
    NotificationManager().unload_modules()
    assert "acme" in register()
    acme = apprise.Apprise.instantiate("acme://u:p@447700900123?from=Alerts")
    assert type(acme).__name__ == "NotifyAcme" and acme.service_name == "Acme"
    assert acme.url(privacy=True).startswith("acme://u:****@")
    assert acme.notify(body="DISK FULL") is True
    assert gateway.recipients_sent() == ["+447700900123"]


def test_a_scheme_apprise_cannot_name_is_skipped_with_a_warning(fake_gateways) -> None:
    fake_gateways("acme-sms")
    NotificationManager().unload_modules()
    with pytest.warns(SchemaConflictWarning, match=r"acme-sms:// not added to Apprise"):
        registered = register()
    assert "acme-sms" not in registered and "fastsms" in registered


def test_importing_the_integration_needs_no_apprise_and_the_core_never_imports_it() -> None:
    code = (
        "import sys\n"
        "import sms_notify.integrations.apprise, sms_notify.integrations.apprise.install\n"
        "from sms_notify.cli import main\n"
        "rc = main(['send', 'fastsms://T@447700900123?from=A&endpoint=http://127.0.0.1:9&timeout=1',"
        " '-m', 'x', '--timeout', '1'])\n"
        "print(rc, 'apprise' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.stdout.strip().splitlines()[-1] == "1 False", out.stderr


# --- Apprise's template rules (its test_apprise_details_plugin_verification, for our classes) --

TOKEN_KEYS = {
    "name",
    "private",
    "required",
    "type",
    "values",
    "min",
    "max",
    "regex",
    "default",
    "list",
    "delim",
    "prefix",
    "map_to",
    "alias_of",
    "group",
    "_lookup_default",
    "_exists_if",
}
BASE_MAP_TO = {
    "user",
    "password",
    "port",
    "host",
    "schema",
    "fullpath",
    "tz",
    "format",
    "overflow",
    "emojis",
    "retry",
    "wait",
    "optional",
    "verify",
    "redirect",
    "cto",
    "rto",
    "store",
}
TYPE = re.compile(r"^((choice|list):)?(string|bool|int|float|email)$")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_templates_follow_apprise_rules(scheme: str) -> None:
    cls = CLASSES[scheme]
    provider = providers()[scheme]
    params = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    # Provider options arrive as keywords named after the option (__init__ reads **kwargs).
    accepted = params | BASE_MAP_TO | set(provider.url_options)
    tokens, args = cls.template_tokens, cls.template_args
    for template in cls.templates:
        for name in re.findall(r"{(\w+)}", template):
            assert name == "schema" or name in tokens, (template, name)
    for key, spec in {**tokens, **args}.items():
        assert set(spec) <= TOKEN_KEYS, (key, set(spec) - TOKEN_KEYS)
        if "alias_of" in spec:
            assert spec["alias_of"] in tokens or spec["alias_of"] in args, key
            continue
        assert TYPE.match(spec.get("type", "string")), key
        assert spec.get("map_to", key) in accepted, key
        if spec.get("type") == "bool":
            assert "default" in spec, key
        if spec.get("type", "").startswith("choice"):
            assert spec.get("values"), key
        if "regex" in spec:
            pattern, _ = spec["regex"]
            assert pattern.startswith("^") and pattern.endswith("$"), key
    assert {k for k, v in tokens.items() if v.get("private")} == (
        {"token"} if provider.credentials == ("token",) else {"password"}
    )
    assert set(provider.url_options) <= set(args)
    assert {"from", "source", "to", "endpoint", "timeout", "region", "max_segments"} <= set(args)
    assert not (set(provider.url_options) & APPRISE_ARGS)


def test_apprise_details_lists_the_five_services() -> None:
    details = apprise.Apprise().details()
    ours = {tuple(s["secure_protocols"] or ()): s for s in details["schemas"]}
    for scheme in SCHEMES:
        entry = ours[(scheme,)]
        assert entry["service_name"] == providers()[scheme].name
        assert entry["protocols"] is None
        assert entry["details"]["args"]["to"]["alias_of"] == "targets"


# --- Apprise YAML config ----------------------------------------------------------------------


def test_yaml_config_with_two_schemas_and_numbers_as_ints(gateways: Gateways) -> None:
    """Trap G2: YAML hands `to: 447700900124` over as an int; it is still a recipient."""
    config = apprise.AppriseConfig()
    assert config.add_config(
        f"""
version: 1
urls:
  - fastsms://sandbox@?endpoint={GW}:
      - from: Alerts
        to: 447700900124
        tag: oncall
  - intellisms://sandbox:sandbox@:
      - to: [447700900125, "+447700900126"]
        endpoint: {GW}
        timeout: 5
        max_segments: 2
        tag: oncall
""",
        format="yaml",
    )
    apobj = apprise.Apprise()
    apobj.add(config)
    services = list(apobj.find("oncall"))
    assert sorted(type(s).__name__ for s in services) == ["NotifyFastSMS", "NotifyIntelliSoftware"]
    intelli = next(s for s in services if s.gateway == "intellisms")
    assert intelli.account.options["timeout"] == "5" and intelli.account.max_segments == 2
    assert apobj.notify(body="DISK FULL on db1", tag="oncall")
    got = sorted((m.gateway, m.to) for m in gateways.inbox)
    assert got == [
        ("fastsms", "+447700900124"),
        ("intellisms", "+447700900125"),
        ("intellisms", "+447700900126"),
    ]
    assert [m.sender for m in gateways.inbox if m.gateway == "fastsms"] == ["Alerts"]


def test_yaml_config_refuses_an_unknown_query_option(caplog: pytest.LogCaptureFixture) -> None:
    config = apprise.AppriseConfig()
    config.add_config("urls:\n  - fastsms://sandbox@447700900123?form=Alerts\n", format="yaml")
    apobj = apprise.Apprise()
    apobj.add(config)
    assert len(apobj) == 0
    assert "unknown option 'form'" in caplog.text


# --- failures as Apprise shows them -----------------------------------------------------------


def test_each_failed_recipient_is_a_warning_with_category_and_gateway_text(
    gateways: Gateways, caplog: pytest.LogCaptureFixture
) -> None:
    obj = apprise.Apprise.instantiate(
        f"fastsms://sandbox@447700900123/447700900000/447700900124?endpoint={GW}&from=Alerts"
    )
    assert obj.notify(body="DISK FULL") is False
    failed = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "Failed to send" in r.getMessage()
    ]
    assert failed == [
        "Failed to send FastSMS SMS to +447700900000: recipient: -406 No Route Available"
    ] or (
        len(failed) == 1
        and failed[0].startswith("Failed to send FastSMS SMS to +447700900000: recipient: -40")
    )
    assert sorted(m.to for m in gateways.inbox) == ["+447700900123", "+447700900124"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_secrets_stay_out_of_logs_and_privacy_urls(
    scheme: str, gateways: Gateways, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "S3cr3t-Pa55"
    creds = secret if scheme == "fastsms" else f"sandbox:{secret}"
    caplog.set_level(logging.DEBUG)
    obj = apprise.Apprise.instantiate(f"{scheme}://{creds}@447700900123?endpoint={GW}&from=Alerts")
    assert obj.notify(body="DISK FULL") is False
    gateways.answer_with(status=500, body="oops")
    assert obj.notify(body="DISK FULL") is False
    assert f"Failed to send {obj.service_name} SMS" in caplog.text
    assert secret not in obj.url(privacy=True)
    assert secret in obj.url()
    ours = [r for r in caplog.records if not r.getMessage().startswith("Loaded ")]
    assert not [r.getMessage() for r in ours if secret in r.getMessage()]


# --- `sms-notify apprise-plugin` and the plugin file ----------------------------------------


def test_apprise_plugin_writes_the_file_into_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "plugins"
    assert main(["apprise-plugin", str(target)]) == 0
    written = target / FILE_NAME
    assert capsys.readouterr().out.strip() == str(written)
    assert written.read_text() == PLUGIN_FILE.read_text() == plugin_source()
    assert sorted(p.name for p in target.iterdir()) == [FILE_NAME]
    assert main(["apprise-plugin", str(target)]) == 0


def test_apprise_plugin_defaults_to_the_users_apprise_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["apprise-plugin"]) == 0
    written = tmp_path / ".config" / "apprise" / "plugins" / FILE_NAME
    assert capsys.readouterr().out.strip() == str(written)
    assert written.is_file()


def test_apprise_plugin_exits_2_when_dir_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["apprise-plugin", str(blocker / "plugins")]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {blocker / 'plugins' / FILE_NAME}" in err
    assert "sms-notify apprise-plugin DIR" in err


def test_apprise_plugin_says_a_file_is_not_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostname = tmp_path / "hostname"
    hostname.write_text("web01\n")
    assert main(["apprise-plugin", str(hostname)]) == 2
    err = capsys.readouterr().err
    assert f"{hostname} is a file, not a folder" in err and "File exists" not in err
    assert hostname.read_text() == "web01\n"


def test_apprise_plugin_exits_2_for_a_package_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "__init__.py").write_text("")
    assert main(["apprise-plugin", str(tmp_path)]) == 2
    assert "__init__.py" in capsys.readouterr().err
    assert not (tmp_path / FILE_NAME).exists()


def test_the_plugin_file_registers_through_an_apprise_plugin_path(tmp_path: Path) -> None:
    assert main(["apprise-plugin", str(tmp_path)]) == 0
    NotificationManager().unload_modules()
    assert "fastsms" not in NotificationManager()
    asset = apprise.AppriseAsset(plugin_paths=[str(tmp_path)])
    assert apprise.Apprise(asset=asset).add("fastsms://TOKEN@447700900123?from=A")
    assert NotificationManager()["fastsms"] is CLASSES["fastsms"]


def test_the_plugin_file_explains_loudly_when_sms_notify_cannot_be_imported(tmp_path: Path) -> None:
    """`python -S` skips site-packages: the situation of a pipx or system Apprise."""
    script = tmp_path / FILE_NAME
    script.write_text(plugin_source())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-S", str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0
    assert out.stdout == ""
    assert (
        "mymobileapi:// and those of other sms-notify plugins) are NOT available"
        in out.stderr
    )
    assert "cannot import sms_notify (ModuleNotFoundError" in out.stderr
    assert (
        f"pip install sms-notify into the same environment as apprise: {sys.executable}"
        in out.stderr
    )


def test_the_plugin_file_uses_absolute_imports_only() -> None:
    """Apprise runs it as apprise.custom.module.<sha1>: a relative import would fail there."""
    source = plugin_source()
    assert not re.search(r"^\s*from \.", source, re.MULTILINE)
    NotificationManager().unload_modules()
    namespace: dict[str, object] = {"__file__": FILE_NAME, "__name__": "apprise.custom.module.x"}
    exec(compile(source, FILE_NAME, "exec"), namespace)  # noqa: S102 - as Apprise runs it
    assert {s for s in providers() if s in NotificationManager()} == set(providers())


def test_the_base_class_is_not_a_service() -> None:
    assert SmsNotifyBase.gateway == "" and SmsNotifyBase.secure_protocol is None
