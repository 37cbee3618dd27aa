"""Real Icinga 2 runs `sms-notify nagios` and `sms-notify check-balance` with the
NotificationCommands, apply rules and CheckCommand of docs/nagios.md, and the texts arrive in the
sandbox: a host problem, a service problem, the credit check's problem, an acknowledgement
(after a retried 503 from the gateway) and two recoveries.

One Icinga 2 for the module; each test waits for what it needs, so any one of them runs alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Sandbox
from tests.e2e.daemons import Daemon, one_text, start_icinga, texts, wait_for, write_sms_config

pytestmark = pytest.mark.e2e

WAIT = 30.0  # RECIPES: 1.7 s to the first notification, 0.3-1.7 s after a state change


@pytest.fixture(scope="module")
def icinga(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("icinga2")
    config = write_sms_config(root / "sms-notify.yml", sandbox)
    sandbox.clear()
    daemon = start_icinga(root, config)
    try:
        yield daemon
    finally:
        daemon.stop()
        sandbox.clear()


def test_host_problem_is_texted(icinga: Daemon, sandbox: Sandbox) -> None:
    [text] = wait_for(one_text(sandbox, "PROBLEM testhost "), WAIT, "host PROBLEM text", icinga)
    # Icinga passes the output raw (quotes, & and $ kept) and with the space that separated the
    # perfdata: the command trims it, and says the state once.
    assert text["text"].startswith(
        "PROBLEM testhost DOWN: simulated failure: host unreachable (test 'quote' & $dollar) "
    ), text
    assert text["gateway"] == "fastsms"


def test_service_problem_is_texted(icinga: Daemon, sandbox: Sandbox) -> None:
    [text] = wait_for(
        one_text(sandbox, "PROBLEM svchost/Disk Space CRITICAL"), WAIT, "service PROBLEM text", icinga
    )
    assert text["text"].startswith("PROBLEM svchost/Disk Space CRITICAL: simulated failure"), text
    # $icinga.long_date_time$ is "2026-11-22 11:32:49 +0000": the text ends in HH:MM.
    assert text["text"][-6] == " " and text["text"][-3] == ":", text


def test_credit_check_runs_as_a_plugin(icinga: Daemon, sandbox: Sandbox) -> None:
    """check-balance is CRITICAL against the test's thresholds: Icinga texts its status line."""
    [text] = wait_for(
        one_text(sandbox, "svchost/SMS credit CRITICAL"), WAIT, "SMS credit PROBLEM text", icinga
    )
    assert "SMS CREDIT CRITICAL - " in text["text"] and " credits on backup" in text["text"]


def test_acknowledgement_is_texted_after_a_retried_gateway_error(
    icinga: Daemon, sandbox: Sandbox
) -> None:
    wait_for(one_text(sandbox, "PROBLEM svchost/Disk Space"), WAIT, "service PROBLEM text", icinga)
    sandbox.fault(gateway="fastsms", kind="http_error", status=503, count=1)
    icinga.external_command("ACKNOWLEDGE_SVC_PROBLEM;svchost;Disk Space;1;1;0;bob;Working on it")
    [text] = wait_for(one_text(sandbox, "ACK "), WAIT, "ACKNOWLEDGEMENT text", icinga)
    assert text["text"].startswith("ACK svchost/Disk Space CRITICAL by bob: Working on it "), text
    assert text["gateway"] == "fastsms"  # a 503 is transient: retried on the same account
    failed = [r for r in sandbox.requests("fastsms") if r.get("fault")]
    assert len(failed) == 1, failed


def test_recoveries_are_texted(icinga: Daemon, sandbox: Sandbox) -> None:
    wait_for(one_text(sandbox, "PROBLEM testhost"), WAIT, "host PROBLEM text", icinga)
    wait_for(one_text(sandbox, "PROBLEM svchost/Disk Space"), WAIT, "service PROBLEM text", icinga)
    icinga.set_state("testhost", 0)
    icinga.set_state("svchost-svc", 0)
    [host] = wait_for(one_text(sandbox, "RECOVERY testhost"), WAIT, "host RECOVERY text", icinga)
    [service] = wait_for(
        one_text(sandbox, "RECOVERY svchost/Disk Space"), WAIT, "service RECOVERY text", icinga
    )
    assert host["text"].startswith("RECOVERY testhost UP: simulated check is fine "), host
    assert service["text"].startswith("RECOVERY svchost/Disk Space OK: simulated check is fine "), service
    bodies = [m["text"] for m in texts(sandbox)]
    assert len(bodies) == len(set(bodies)), bodies  # one text per notification
    log = icinga.log_path.read_text()
    # Icinga logs a notification command's non-zero exit or timeout as a warning.
    assert "warning/PluginNotificationTask" not in log, icinga.tail()
