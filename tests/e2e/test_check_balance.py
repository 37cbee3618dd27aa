"""`sms-notify check-balance` as a real process against the sandbox: OK, WARNING and CRITICAL
around a known balance, and UNKNOWN when the gateway cannot be asked (an injected fault, a closed
port) or the arguments are wrong. Status line and perfdata follow the plugin guidelines."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Cli, Sandbox

pytestmark = pytest.mark.e2e

CREDITS = 1234


@pytest.fixture
def funded(fresh_sandbox: Sandbox) -> Iterator[Sandbox]:
    """The sandbox with FastSMS at 1234 credits and IntelliSoftware at 80; balances restored after."""
    before = requests.get(fresh_sandbox.url + "/admin/balances", timeout=10).json()["balances"]

    def set_credits(gateway: str, credits: float) -> None:
        requests.post(fresh_sandbox.url + "/admin/balances", json={"gateway": gateway, "credits": credits},
                      timeout=10).raise_for_status()

    set_credits("fastsms", CREDITS)
    set_credits("intellisms", 80)
    try:
        yield fresh_sandbox
    finally:
        for gateway in ("fastsms", "intellisms"):
            set_credits(gateway, before[gateway])


@pytest.fixture
def config(funded: Sandbox, tmp_path: Path) -> Path:
    path = tmp_path / "sms-notify.yml"
    path.write_text(
        "accounts:\n"
        f"  primary: fastsms://sandbox@?from=Alerts&endpoint={funded.url}\n"
        f"  backup: intellisms://sandbox:sandbox@?endpoint={funded.url}\n"
        "routes:\n"
        "  oncall:\n"
        "    via: [primary, backup]\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("warning", "critical", "rc", "state"),
    [
        ("500", "100", 0, "OK"),
        ("2000", "100", 1, "WARNING"),
        ("3000", "2000", 2, "CRITICAL"),
        ("1234:", "100:", 0, "OK"),  # range syntax; the threshold itself is not an alert
        ("@1000:1500", "@0:10", 1, "WARNING"),
        ("~:1000", "10", 1, "WARNING"),  # alert above 1000
    ],
)
def test_states(cli: Cli, config: Path, warning: str, critical: str, rc: int, state: str) -> None:
    done = cli("check-balance", "primary", "--config", str(config), "-w", warning, "-c", critical)
    assert done.returncode == rc, done
    perf_w = f"{warning}:" if warning.isdigit() else warning
    perf_c = f"{critical}:" if critical.isdigit() else critical
    assert done.stdout == (
        f"SMS CREDIT {state} - {CREDITS} credits on primary | credits={CREDITS};{perf_w};{perf_c};0\n"
    )


def test_a_route_checks_each_account_and_reports_the_worst(cli: Cli, config: Path) -> None:
    done = cli("check-balance", "oncall", "--config", str(config), "-w", "500", "-c", "100")
    assert done.returncode == 2, done
    assert done.stdout == (
        f"SMS CREDIT CRITICAL - {CREDITS} credits on primary, 80 credits on backup"
        f" | credits_primary={CREDITS};500:;100:;0 credits_backup=80;500:;100:;0\n"
    )


def test_a_url_works_and_its_token_is_never_shown(cli: Cli, funded: Sandbox) -> None:
    done = cli("check-balance", funded.url_for("fastsms"), "-w", "500", "-c", "100")
    assert done.returncode == 0, done
    host = funded.url.split("//")[1]
    assert done.stdout.startswith(f"SMS CREDIT OK - {CREDITS} credits on fastsms@{host} | credits=")


def test_unknown_when_the_gateway_refuses(cli: Cli, config: Path, funded: Sandbox) -> None:
    funded.fault(gateway="fastsms", kind="error_code", code="auth")
    done = cli("check-balance", "primary", "--config", str(config), "-w", "500", "-c", "100")
    assert done.returncode == 3, done
    assert done.stdout.startswith("SMS CREDIT UNKNOWN - primary: auth: -501 "), done.stdout
    assert "|" not in done.stdout  # no perfdata without a value


def test_unknown_when_the_gateway_keeps_failing(cli: Cli, config: Path, funded: Sandbox) -> None:
    funded.fault(gateway="fastsms", kind="http_error", status=503)
    done = cli("check-balance", "primary", "--config", str(config), "-w", "500", "-c", "100")
    assert done.returncode == 3, done
    assert done.stdout.startswith("SMS CREDIT UNKNOWN - primary: unavailable: "), done.stdout


def test_unknown_on_a_closed_port(cli: Cli) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = cli("check-balance", f"fastsms://sandbox@?from=A&endpoint=http://127.0.0.1:{port}",
               "-w", "500", "-c", "100", "-t", "5")
    assert done.returncode == 3, done
    assert done.stdout == (
        f"SMS CREDIT UNKNOWN - fastsms@127.0.0.1:{port}: unavailable: cannot connect to 127.0.0.1:{port}\n"
    )


def test_unknown_when_the_timeout_passes(cli: Cli, config: Path, funded: Sandbox) -> None:
    funded.fault(gateway="fastsms", kind="timeout", delay=30)
    done = cli("check-balance", "primary", "--config", str(config), "-w", "500", "-c", "100", "-t", "2")
    assert done.returncode == 3, done
    assert done.stdout.startswith("SMS CREDIT UNKNOWN - "), done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("primary", "-w", "lots"),  # not a range
        ("primary", "-w", "20:10"),  # start above end
        ("primary", "--bogus"),  # unknown option
        (),  # no account
        ("nosuch",),  # no such account in the config
    ],
)
def test_wrong_arguments_are_unknown_not_usage(cli: Cli, config: Path, args: tuple[str, ...]) -> None:
    done = cli("check-balance", *args, "--config", str(config))
    assert done.returncode == 3, done
    assert done.stdout.startswith("SMS CREDIT UNKNOWN - "), done
