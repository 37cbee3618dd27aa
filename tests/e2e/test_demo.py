"""`sms-notify demo`, the README's first command, as a new user runs it: no config, no account."""

from __future__ import annotations

import re

import pytest

from .conftest import Cli

pytestmark = pytest.mark.e2e


def test_demo_prints_the_texts_each_gateway_received_and_an_ack(cli: Cli, tmp_path: object) -> None:
    result = cli("demo", timeout=60, HOME=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # firing through the route's first gateway, to both numbers
    firing = re.findall(r"^  fastsms +-> (\+\d+) \(1 part, from Alerts\):\n"
                        r"      FIRING DiskFull1 critical\n      db1:9100: DiskFull1 is down$",
                        out, re.MULTILINE)
    assert firing == ["+447700900123", "+447700900456"], out
    # resolved after FastSMS ran out of credit: through the second
    resolved = re.findall(r"^  server2sms +-> (\+\d+) \(1 part, from Alerts\):\n"
                          r"      RESOLVED DiskFull1 critical\n      db1:9100: DiskFull1 is down$",
                          out, re.MULTILINE)
    assert resolved == ["+447700900123", "+447700900456"], out
    # the first phone replies ACK 30m: a silence of the group, and a confirmation to that phone
    assert re.search(r"^\+447700900123 replies 'ACK 30m'; FastSMS forwards it to the receiver's "
                     r"/inbound/primary: HTTP 200$", out, re.MULTILINE), out
    assert re.search(r"^  Alertmanager API: silence alertname=DiskFull1 by sms-notify until "
                     r"\S+Z \(acknowledged by SMS from \+447700900123\)", out, re.MULTILINE), out
    assert re.findall(r"^  fastsms +-> (\+\d+) \(1 part, from Alerts\):\n      ACK: silenced "
                      r"alertname=DiskFull1 for 30m, until \d\d:\d\d UTC$", out,
                      re.MULTILINE) == ["+447700900123"], out
    assert out.count("HTTP 200") == 3
    # the operator's warning is told in its place in the story, not as a log line on stderr
    assert re.search(r"^Alertmanager posts the resolved DiskFull1 group to /alert: HTTP 200 .*\n"
                     r"  serve logs: event=account_failing account=primary provider=fastsms "
                     r"category=credit reason=\"credit: -100 Not Enough Credits\" was=ok\n"
                     r"  server2sms ", out, re.MULTILINE), out
    assert "account_failing" not in result.stderr and "Traceback" not in result.stderr


def test_the_demos_next_step_is_in_the_installed_package(cli: Cli, tmp_path: object) -> None:
    """The demo ends by naming a guide; an installed wheel has no docs/ folder, so the guide
    is a `sms-notify help` topic."""
    result = cli("demo", timeout=60, HOME=str(tmp_path))
    topic = re.search(r"Next: 'sms-notify help (\S+)'", result.stdout)
    assert topic, result.stdout
    guide = cli("help", topic.group(1))
    assert guide.returncode == 0, guide.stderr
    assert guide.stdout.startswith("# Prometheus Alertmanager") and "alertmanager.yml" in guide.stdout
