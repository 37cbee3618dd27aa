"""Real Nagios 4 runs `sms-notify nagios` and `sms-notify check-balance` with the definitions of
docs/nagios.md, and the texts arrive in the sandbox: a host problem, a service problem, the
credit check's problem (it asks the backup account), an acknowledgement (through the backup
account while the primary fails)
and two recoveries.

One Nagios for the module; each test waits for what it needs, so any one of them runs alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Sandbox
from tests.e2e.daemons import Daemon, one_text, start_nagios, texts, wait_for, write_sms_config

pytestmark = pytest.mark.e2e

WAIT = 30.0  # RECIPES: 1-2 s to a notification; generous for a loaded CI machine


@pytest.fixture(scope="module")
def nagios(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("nagios4")
    config = write_sms_config(root / "sms-notify.yml", sandbox)
    sandbox.clear()
    daemon = start_nagios(root, config)
    try:
        yield daemon
    finally:
        daemon.stop()
        sandbox.clear()


def test_host_problem_is_texted(nagios: Daemon, sandbox: Sandbox) -> None:
    [text] = wait_for(one_text(sandbox, "PROBLEM testhost "), WAIT, "host PROBLEM text", nagios)
    # Nagios strips ' & $ from $HOSTOUTPUT$ (illegal_macro_output_chars); the command collapses
    # the double spaces left behind, and says the state once (DOWN, not "CRITICAL - ").
    assert text["text"].startswith(
        "PROBLEM testhost DOWN: simulated failure: host unreachable (test quote dollar) "
    ), text
    assert text["gateway"] == "fastsms"
    assert text["sender"] == "Alerts"


def test_service_problem_is_texted(nagios: Daemon, sandbox: Sandbox) -> None:
    [text] = wait_for(
        one_text(sandbox, "PROBLEM svchost/Disk Space CRITICAL"), WAIT, "service PROBLEM text", nagios
    )
    # The state is said once: the output's leading "CRITICAL - " goes.
    assert text["text"].startswith("PROBLEM svchost/Disk Space CRITICAL: simulated failure"), text
    assert text["parts"] == 1


def test_credit_check_runs_as_a_plugin(nagios: Daemon, sandbox: Sandbox) -> None:
    """check-balance is CRITICAL against the test's thresholds: Nagios texts its status line."""
    [text] = wait_for(
        one_text(sandbox, "svchost/SMS credit CRITICAL"), WAIT, "SMS credit PROBLEM text", nagios
    )
    assert "SMS CREDIT CRITICAL - " in text["text"] and " credits on backup" in text["text"]

    def perfdata() -> str:  # status.dat is rewritten every second (status_update_interval=1)
        path = nagios.root / "var" / "status.dat"
        status = path.read_text() if path.exists() else ""
        return next((line for line in status.splitlines()
                     if line.strip().startswith("performance_data=credits=")), "")

    line = wait_for(perfdata, WAIT, "credit perfdata in status.dat", nagios)
    assert line.strip().endswith(";2000000:;1000000:;0"), line


def test_acknowledgement_goes_through_the_backup_while_primary_fails(
    nagios: Daemon, sandbox: Sandbox
) -> None:
    wait_for(one_text(sandbox, "PROBLEM svchost/Disk Space"), WAIT, "service PROBLEM text", nagios)
    sandbox.fault(gateway="fastsms", kind="error_code", code="auth", count=1)
    nagios.external_command("ACKNOWLEDGE_SVC_PROBLEM;svchost;Disk Space;1;1;0;bob;Working on it")
    [text] = wait_for(one_text(sandbox, "ACK "), WAIT, "ACKNOWLEDGEMENT text", nagios)
    assert text["text"].startswith("ACK svchost/Disk Space CRITICAL by bob: Working on it "), text
    assert text["gateway"] == "intellisms"  # failover: primary refused, backup sent it once
    refused = [r for r in sandbox.requests("fastsms") if r.get("fault")]
    assert len(refused) == 1, refused


def test_recoveries_are_texted(nagios: Daemon, sandbox: Sandbox) -> None:
    wait_for(one_text(sandbox, "PROBLEM testhost"), WAIT, "host PROBLEM text", nagios)
    wait_for(one_text(sandbox, "PROBLEM svchost/Disk Space"), WAIT, "service PROBLEM text", nagios)
    nagios.set_state("testhost", 0)
    nagios.set_state("svchost-svc", 0)
    [host] = wait_for(one_text(sandbox, "RECOVERY testhost"), WAIT, "host RECOVERY text", nagios)
    [service] = wait_for(
        one_text(sandbox, "RECOVERY svchost/Disk Space"), WAIT, "service RECOVERY text", nagios
    )
    assert host["text"].startswith("RECOVERY testhost UP: simulated check is fine "), host
    assert service["text"].startswith("RECOVERY svchost/Disk Space OK: simulated check is fine "), service
    # One text per notification: nothing was sent twice.
    bodies = [m["text"] for m in texts(sandbox)]
    assert len(bodies) == len(set(bodies)), bodies
    log = Path(nagios.log_path).read_text()
    # Every notification command exited 0 in time (Nagios logs only the failures).
    assert "exited with return code" not in log and "timed out" not in log, nagios.tail()
