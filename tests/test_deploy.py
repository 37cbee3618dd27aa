"""The files a deployment needs (deploy/), checked with the tools that read them: the systemd
unit with systemd-analyze, the example config with check-config, the alerting rules with
promtool; and the guides an installed package prints with `sms-notify help`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sms_notify.cli import main
from sms_notify.guide import DOC_COMMAND, installed_command, text

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "sms-notify-rules.yml"


def require(binary: str) -> str:
    """The tool's path; in CI a missing one is a failure, never a skip (.ci/run installs it)."""
    path = shutil.which(binary)
    if not path:
        pytest.fail(f"{binary} is not installed (.ci/run installs it with apt-get)")
    return path



def test_the_systemd_unit_verifies_with_the_path_a_venv_install_gives(tmp_path: Path) -> None:
    """`sms-notify help systemd` writes this installation's command into ExecStart (a venv
    has no /usr/local/bin/sms-notify); systemd-analyze checks the unit, that path included."""
    analyze = require("systemd-analyze")
    command = installed_command()
    assert command and Path(command).is_file(), command
    unit = tmp_path / "sms-notify.service"
    unit.write_text(text("systemd"), encoding="utf-8")
    assert f"ExecStart={command} serve --config /etc/sms-notify/sms-notify.yml\n" in \
        unit.read_text()
    assert unit.read_text() == (DEPLOY / "sms-notify.service").read_text().replace(
        DOC_COMMAND, command)
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sms-notify.service" not in done.stdout + done.stderr  # no warning about it
    # The unit as shipped names /opt/sms-notify, which this machine lacks: systemd-analyze
    # does check ExecStart's path.
    shipped = tmp_path / "shipped" / "sms-notify.service"
    shipped.parent.mkdir()
    shutil.copy(DEPLOY / "sms-notify.service", shipped)
    done = subprocess.run([analyze, "verify", str(shipped)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0 and "/opt/sms-notify/bin/sms-notify" in done.stderr


def test_the_example_config_passes_check_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    assert main(["check-config", str(DEPLOY / "sms-notify.yml"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["warnings"] == []
    assert data["outbox"] == "/var/lib/sms-notify/outbox.sqlite"
    assert set(data["routes"]) == {"oncall"}
    assert main(["check-config", str(DEPLOY / "sms-notify.yml")]) == 0
    assert "your-fastsms-token" not in capsys.readouterr().out


def test_the_alert_rules_pass_promtool() -> None:
    promtool = require("promtool")
    for args in (["check", "rules", str(RULES)],
                 ["test", "rules", str(ROOT / "tests" / "deploy" / "sms-notify-rules.test.yml")]):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout


def scrape_series(scrapes: list[str]) -> list[dict[str, str]]:
    """promtool input_series from /metrics texts taken a minute apart ('_' where absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    columns: dict[str, list[str]] = {}
    for minute, body in enumerate(scrapes):
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                labels = {"job": "sms-notify", "instance": "rx:9717", **sample.labels}
                shown = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                column = columns.setdefault(f"{sample.name}{{{shown}}}", ["_"] * len(scrapes))
                column[minute] = repr(float(sample.value))
    return [{"series": name, "values": " ".join(values)} for name, values in columns.items()]


def test_ordinary_rate_limiting_as_measured_fires_no_rule(
    fake_gateways: Callable[..., Any], path: str, now: Any, tmp_path: Path
) -> None:
    """A recipient over limits.per_recipient for an hour, on the real outbox, dispatcher and
    metrics: /metrics scraped every minute and played to promtool against the rules. The
    summary waits an hour for the end of its window; no rule may fire."""
    from sms_notify.dispatch import Dispatcher
    from sms_notify.health import AccountHealth
    from sms_notify.integrations.alertmanager.metrics import Metrics
    from sms_notify.model import Account
    from sms_notify.outbox import Job, SqliteOutbox

    promtool = require("promtool")
    fake_gateways("fake")
    accounts = {"primary": Account(scheme="fake", user="u", password="p", name="primary")}
    outbox = SqliteOutbox(path, now=now)
    health = AccountHealth(accounts, now=now)
    metrics = Metrics(outbox, accounts, health, routes=["oncall"])

    def on_result(job: Any, receipt: Any, seconds: float) -> None:
        metrics.on_result(job, receipt, seconds)
        health.on_result(job, receipt, seconds)

    dispatcher = Dispatcher(outbox, accounts, per_recipient=(2, 3600.0), now=now,
                            on_result=on_result)
    scrapes = []
    for minute in range(70):
        if minute < 40:  # an alert storm on one number: 3 new alerts a minute
            outbox.enqueue([Job("oncall", "+447911123456", f"FIRING Disk{minute}.{i}",
                                ("primary",), dedup_key=f"{minute}.{i}", summary_key="Disk")
                            for i in range(3)], 600)
        while dispatcher.step():
            pass
        scrapes.append(metrics.render().decode())
        now.t += 60
    outbox.close()
    stats_seen = [s for s in scrapes if "sms_notify_outbox_depth 1.0" in s]
    assert len(stats_seen) >= 50, "the summary did not wait for its window"  # the premise
    dropped = [line for line in scrapes[-1].splitlines()
               if line.startswith('sms_notify_jobs_finished_total{route="oncall",state="dropped"}')]
    assert dropped and float(dropped[0].split()[-1]) > 100
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": 'up{job="sms-notify",instance="rx:9717"}',
                              "values": "1x70"}, *scrape_series(scrapes)],
            "alert_rule_test": [
                {"eval_time": f"{m}m", "alertname": name, "exp_alerts": []}
                for m in (10, 30, 50, 69)
                for name in ("SmsNotifyTextsStuck", "SmsNotifyDeadLetters",
                             "SmsNotifyAccountFailing", "SmsNotifyWebhooksRefused",
                             "SmsNotifyUnconfirmed", "SmsNotifyDown")
            ],
        }],
    }
    test_file = tmp_path / "measured.test.yml"
    test_file.write_text(yaml.safe_dump(tests), encoding="utf-8")
    done = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_nagios_and_icinga_snippets_the_e2e_tests_run_are_the_docs() -> None:
    from tests.e2e.daemons import DOC_COMMAND as E2E_COMMAND
    from tests.e2e.daemons import ICINGA_DEFINITIONS, NAGIOS_DEFINITIONS

    guide = (ROOT / "docs" / "nagios.md").read_text()
    assert NAGIOS_DEFINITIONS in guide and ICINGA_DEFINITIONS in guide
    assert E2E_COMMAND == DOC_COMMAND and "/usr/local/bin" not in guide.replace(
        "no\n`/usr/local/bin/sms-notify`", "")


def test_help_lists_and_prints_the_packaged_guides(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["help"]) == 0
    listing = capsys.readouterr().out
    for topic in ("alertmanager", "nagios", "apprise", "sandbox", "config", "operating",
                  "systemd", "example-config", "env", "alert-rules"):
        assert f"\n  {topic} " in listing, topic
    assert main(["help", "operating"]) == 0
    assert capsys.readouterr().out == (ROOT / "docs" / "operating.md").read_text().replace(
        DOC_COMMAND, installed_command() or DOC_COMMAND)
    assert main(["help", "nagios"]) == 0
    out = capsys.readouterr().out
    assert f"command_line    {installed_command()} nagios oncall" in out
    assert main(["help", "alert-rules"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == yaml.safe_load(RULES.read_text())
    assert main(["help", "operatng"]) == 2
    assert "did you mean 'operating'" in capsys.readouterr().err


def test_the_wheel_carries_the_guides_and_deployment_files(tmp_path: Path) -> None:
    """An installed wheel has no docs/ folder: the guides and deploy/ travel in the package."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                           str(tmp_path), str(ROOT)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = tmp_path.glob("sms_notify-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    guides = {f"sms_notify/docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    shipped = {f"sms_notify/deploy/{p.name}" for p in DEPLOY.iterdir()
               if p.suffix in (".service", ".yml", ".example")}
    assert {"sms_notify/docs/operating.md", "sms_notify/deploy/sms-notify.service"} <= guides | \
        shipped
    assert guides | shipped <= names
