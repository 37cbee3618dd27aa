"""The real `sms-notify sandbox` process driven by the real `sms-notify` commands.

Every gateway that has both a provider and a simulator is driven through the sandbox: what
the phone would show (the inbox), what the user sees (the command's output and exit status),
and how many requests crossed the wire when faults are injected.
"""

from __future__ import annotations

import re

import pytest
import requests

from sms_notify.manager import providers

from .conftest import Cli, Sandbox, start_sandbox

pytestmark = pytest.mark.e2e

TO = "+447700900123"
TO2 = "+447700900124"
BAD = "+447700900000"  # reserved: unroutable in the sandbox
SENT = re.compile(r"^(?P<to>\+\d+): sent, (?P<parts>\d+) parts?, id (?P<id>\S+)", re.MULTILINE)
FAILED = re.compile(r"^(?P<to>\+\d+): failed: (?P<category>\w+): (?P<detail>.*)$", re.MULTILINE)


def real_schemes(box: Sandbox) -> list[str]:
    served = set(box.get("/admin/gateways").json()["gateways"])
    return sorted(served & set(providers()))


ALL = ["fastsms", "intellisms", "server2sms", "sms24x", "mymobileapi"]


@pytest.fixture(scope="module")
def schemes(sandbox: Sandbox) -> list[str]:
    found = real_schemes(sandbox)
    assert set(ALL) <= set(found), "every built-in gateway has a client and a simulator"
    return found


@pytest.fixture(params=ALL)
def scheme(request: pytest.FixtureRequest, fresh_sandbox: Sandbox, schemes: list[str]) -> str:
    return str(request.param)


def send(cli: Cli, box: Sandbox, scheme: str, *targets: str, text: str, **options: str
         ) -> tuple[int, str, str]:
    budget = options.pop("budget", "10")
    url = box.url_for(scheme, *targets, from_="Alerts", **options)
    done = cli("send", url, "-m", text, "--timeout", budget)
    return done.returncode, done.stdout, done.stderr


def test_ready_line_health_and_page(sandbox: Sandbox) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.url)
    assert sandbox.stdout[0] == f"sandbox listening on {sandbox.url}"
    assert requests.get(sandbox.url + "/-/healthy", timeout=5).status_code == 200
    page = requests.get(sandbox.url + "/", timeout=5)
    assert page.status_code == 200 and "sms-notify sandbox" in page.text


def test_send_one_recipient(scheme: str, fresh_sandbox: Sandbox, cli: Cli) -> None:
    rc, out, err = send(cli, fresh_sandbox, scheme, TO, text="DISK FULL on db1")
    assert rc == 0, out + err
    sent = SENT.search(out)
    assert sent and sent["to"] == TO and sent["parts"] == "1"
    inbox = fresh_sandbox.inbox(scheme)
    assert [(m["to"], m["text"], m["sender"], m["parts"]) for m in inbox] == [
        (TO, "DISK FULL on db1", "Alerts", 1)]
    if scheme != "mymobileapi":
        assert sent["id"] in (inbox[0]["id"], inbox[0]["reference"])
    assert [r["gateway"] for r in fresh_sandbox.requests()] == [scheme]


def test_send_many_recipients_one_copy_each(scheme: str, fresh_sandbox: Sandbox, cli: Cli
                                            ) -> None:
    rc, out, err = send(cli, fresh_sandbox, scheme, TO, TO2, "447700900125",
                        text="PROBLEM web1 HTTP CRITICAL")
    assert rc == 0, out + err
    assert sorted(m["to"] for m in SENT.finditer(out)) == [TO, TO2, "+447700900125"]
    assert sorted(m["to"] for m in fresh_sandbox.inbox(scheme)) == [TO, TO2, "+447700900125"]
    assert len(fresh_sandbox.inbox(scheme, to=TO2)) == 1


def test_long_text_is_concatenated(scheme: str, fresh_sandbox: Sandbox, cli: Cli) -> None:
    text = "CRITICAL " + "disk /var at 99% on db1. " * 14
    rc, out, err = send(cli, fresh_sandbox, scheme, TO, text=text, max_segments="3")
    assert rc == 0, out + err
    (message,) = fresh_sandbox.inbox(scheme)
    assert message["parts"] == 3 and message["text"].startswith("CRITICAL disk /var")
    assert SENT.search(out)["parts"] == "3"  # type: ignore[index]


def test_unicode_text(scheme: str, fresh_sandbox: Sandbox, cli: Cli) -> None:
    text = "Größe überschritten: Zürich → 東京 ✓"
    rc, out, err = send(cli, fresh_sandbox, scheme, TO, text=text, max_segments="2")
    assert rc == 0, out + err
    (message,) = fresh_sandbox.inbox(scheme)
    if providers()[scheme].unicode:
        assert message["text"] == text.replace("→", "->")
    else:
        assert message["text"].startswith("Größe überschritten: Zürich -> ")


def test_balance_goes_down_by_parts(scheme: str, fresh_sandbox: Sandbox, cli: Cli) -> None:
    def credits() -> float:
        done = cli("balance", fresh_sandbox.url_for(scheme))
        assert done.returncode == 0, done.stdout + done.stderr
        return float(re.search(r": (-?[\d.]+) credits", done.stdout)[1])  # type: ignore[index]

    before = credits()
    rc, out, err = send(cli, fresh_sandbox, scheme, TO, TO2, text="x" * 200, max_segments="2")
    assert rc == 0, out + err
    assert credits() == before - 4


def test_status_moves_to_delivered(scheme: str, fresh_sandbox: Sandbox, cli: Cli) -> None:
    _, out, _ = send(cli, fresh_sandbox, scheme, TO, text="status please")
    message_id = SENT.search(out)["id"]  # type: ignore[index]
    url = fresh_sandbox.url_for(scheme)
    first = cli("status", url, message_id)
    if "status" not in providers()[scheme].capabilities:  # IntelliSoftware only pushes reports
        assert first.returncode == 1
        assert first.stdout.strip() == (
            f"{message_id}: request: {providers()[scheme].name} offers no status look-up"
        )
        return
    assert first.returncode == 0 and re.search(r": (sent|delivered), ", first.stdout), first.stdout
    second = cli("status", url, message_id)
    assert second.returncode == 0
    assert second.stdout.startswith(f"{message_id}: delivered, final"), second.stdout


@pytest.mark.parametrize("scheme", ALL, indirect=True)
def test_bad_credentials(scheme: str, fresh_sandbox: Sandbox, cli: Cli) -> None:
    url = fresh_sandbox.url_for(scheme, TO, from_="Alerts").replace("sandbox", "wrong", 1)
    done = cli("send", url, "-m", "hello")
    assert done.returncode == 1
    assert FAILED.search(done.stdout)["category"] == "auth"  # type: ignore[index]
    assert fresh_sandbox.inbox() == []
    assert "wrong" not in fresh_sandbox.log()


def test_unroutable_number_gets_the_gateways_answer(scheme: str, fresh_sandbox: Sandbox,
                                                    cli: Cli) -> None:
    rc, out, _ = send(cli, fresh_sandbox, scheme, BAD, text="nobody home")
    if scheme == "sms24x":  # 24x has no per-number error: it takes the text, then fails it
        sent = SENT.search(out)
        assert rc == 0 and sent and sent["to"] == BAD, out
        cli("status", fresh_sandbox.url_for(scheme), sent["id"])  # the next query sees it final
        status = cli("status", fresh_sandbox.url_for(scheme), sent["id"])
        assert status.stdout.startswith(f"{sent['id']}: failed, final"), status.stdout
        return
    assert rc == 1
    failed = FAILED.search(out)
    assert failed and failed["to"] == BAD and failed["category"] == "recipient", out
    assert fresh_sandbox.inbox() == []


def test_http_503_once_is_retried_and_sent_once(scheme: str, fresh_sandbox: Sandbox, cli: Cli
                                                ) -> None:
    fresh_sandbox.fault(gateway=scheme, kind="http_error", status=503, count=1)
    rc, out, err = send(cli, fresh_sandbox, scheme, TO, text="after a 503")
    assert rc == 0, out + err
    assert len(fresh_sandbox.inbox(scheme, to=TO)) == 1
    outcomes = [r["http_status"] for r in fresh_sandbox.requests(scheme)]
    assert outcomes == [503, 200]


@pytest.mark.parametrize("scheme", ALL, indirect=True)
def test_injected_auth_error_fails_at_once(scheme: str, fresh_sandbox: Sandbox, cli: Cli) -> None:
    fresh_sandbox.fault(gateway=scheme, kind="error_code", code="auth", count=1)
    rc, out, _ = send(cli, fresh_sandbox, scheme, TO, text="refused")
    assert rc == 1
    assert FAILED.search(out)["category"] == "auth"  # type: ignore[index]
    assert len(fresh_sandbox.requests(scheme)) == 1
    assert fresh_sandbox.inbox() == []


def test_injected_transient_code_is_retried(scheme: str, fresh_sandbox: Sandbox, cli: Cli
                                            ) -> None:
    fresh_sandbox.fault(gateway=scheme, kind="error_code", code="unavailable", count=2)
    rc, out, err = send(cli, fresh_sandbox, scheme, TO, text="third time lucky")
    assert rc == 0, out + err
    assert len(fresh_sandbox.requests(scheme)) == 3
    assert len(fresh_sandbox.inbox(scheme)) == 1


def test_no_answer_is_unconfirmed_and_never_sent_twice(scheme: str, fresh_sandbox: Sandbox,
                                                        cli: Cli) -> None:
    """A request that got no answer may have been sent: it is not sent again blindly, and the
    command says it cannot tell (exit 1)."""
    fresh_sandbox.fault(gateway=scheme, kind="timeout")
    rc, out, _ = send(cli, fresh_sandbox, scheme, TO, text="into the void", timeout="1",
                      budget="2")
    assert rc == 1
    assert out.startswith(f"{TO}: unconfirmed (the gateway may have sent it): unavailable: "
                          "no answer from "), out
    # Held requests are logged as they arrive, so all are there once the command is done and
    # none can land in the next test's log after this clear().
    held = fresh_sandbox.requests(scheme)
    assert held and {r["outcome"] for r in held} == {"held without an answer"}, held
    fresh_sandbox.clear()
    assert fresh_sandbox.inbox() == []


def test_slow_answer_still_succeeds(scheme: str, fresh_sandbox: Sandbox, cli: Cli) -> None:
    fresh_sandbox.fault(gateway=scheme, kind="slow", delay=0.5, count=1)
    rc, out, err = send(cli, fresh_sandbox, scheme, TO, text="patience")
    assert rc == 0, out + err
    assert len(fresh_sandbox.requests(scheme)) == 1
    assert len(fresh_sandbox.inbox(scheme)) == 1


def test_failover_to_the_next_gateway(fresh_sandbox: Sandbox, cli: Cli, schemes: list[str]
                                      ) -> None:
    backup = next(s for s in schemes if s != "fastsms")
    fresh_sandbox.fault(gateway="fastsms", kind="http_error", status=503)
    done = cli("send", fresh_sandbox.url_for("fastsms", TO, from_="Alerts"),
               fresh_sandbox.url_for(backup, from_="Alerts"), "-m", "via the backup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [m["gateway"] for m in fresh_sandbox.inbox()] == [backup]


def test_fault_flag_on_the_command_line(tmp_path: pytest.TempPathFactory, cli: Cli) -> None:
    box = start_sandbox(tmp_path / "flag.log", "--fault", "fastsms:http_error:503:count=1")  # type: ignore[operator]
    try:
        assert box.get("/admin/faults").json()["faults"][0]["status"] == 503
        done = cli("send", box.url_for("fastsms", TO, from_="Alerts"), "-m", "through a 503")
        assert done.returncode == 0, done.stdout + done.stderr
        assert [r["http_status"] for r in box.requests("fastsms")] == [503, 200]
        assert "fastsms POST /api" in box.log() and "HTTP 503" in box.log()
    finally:
        from .conftest import stop

        stop(box.proc)
    assert box.proc.returncode is not None


def test_bad_fault_flag_is_a_usage_error(cli: Cli) -> None:
    done = cli("sandbox", "--listen", "127.0.0.1:0", "--fault", "fastsms:explode")
    assert done.returncode == 2
    assert "unknown kind 'explode'" in done.stderr


def test_log_has_one_line_per_request_and_no_secret(fresh_sandbox: Sandbox, cli: Cli) -> None:
    before = fresh_sandbox.log().count("\n")
    rc, _, _ = send(cli, fresh_sandbox, "fastsms", TO, TO2, text="log me")
    assert rc == 0
    lines = fresh_sandbox.log().splitlines()[before:]
    sends = [line for line in lines if line.startswith("sandbox: fastsms Send")]
    assert sends == [f"sandbox: fastsms Send to={TO},{TO2} -> 2 sent, 1 part(s) each: "
                     + sends[0].rsplit(": ", 1)[1]]
    assert "Token" not in fresh_sandbox.log() and "Traceback" not in fresh_sandbox.log()
