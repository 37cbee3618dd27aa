"""`sms-notify nagios` and `sms-notify check-balance`: what Nagios and Icinga hand over, the
text that comes out, what the gateways receive (mocked with `responses`), the one line printed,
the exit codes, and the check plugin's ranges and states."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses

from sms_notify import delivery, manager
from sms_notify.cli import main
from sms_notify.integrations import nagios
from sms_notify.integrations.nagios import Alert, Range
from sms_notify.model import Balance, Receipt
from sms_notify.text import count_parts
from sms_notify.testing import ManualClock
from tests.providers_helpers import ENDPOINT, form

FAST_API = f"{ENDPOINT}/api"
INTELLI_SEND = f"{ENDPOINT}/smsgateway/sendmsg.aspx"
INTELLI_BALANCE = f"{ENDPOINT}/smsgateway/getbalance.aspx"
TOKEN, PASSWORD = "T0kenSecret", "Pa55wordSecret"
FAST = f"fastsms://{TOKEN}@?from=Alerts&endpoint={ENDPOINT}"
INTELLI = f"intellisms://user:{PASSWORD}@?from=Alerts&endpoint={ENDPOINT}"
PAGER = "+447700900123"
ROOT = Path(__file__).resolve().parent.parent

PROBLEM = ["-t", "PROBLEM", "-l", "web01", "-e", "HTTP", "-s", "CRITICAL",
           "-o", "CRITICAL - connection refused", "-d", "2026-11-22 12:03:49 +0000"]


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    """No NAGIOS_* or Icinga variables from the machine running the tests; every gateway loaded."""
    import os

    for name in list(os.environ):
        if name.startswith("NAGIOS_") or name in ICINGA_VARS:
            monkeypatch.delenv(name)
    if "fastsms" not in manager.providers() or "intellisms" not in manager.providers():
        manager._reset()


ICINGA_VARS = {
    "NOTIFICATIONTYPE", "HOSTNAME", "HOSTDISPLAYNAME", "SERVICENAME", "SERVICEDESC",
    "SERVICEDISPLAYNAME", "SERVICESTATE", "HOSTSTATE", "SERVICEOUTPUT", "HOSTOUTPUT",
    "LONGDATETIME", "NOTIFICATIONAUTHORNAME", "NOTIFICATIONCOMMENT", "USERPAGER",
}


@pytest.fixture
def instant(monkeypatch: pytest.MonkeyPatch, clock: ManualClock) -> ManualClock:
    """Retries without waiting: the delivery policy's Clock is the test's."""
    monkeypatch.setattr(delivery, "Clock", lambda: clock)
    return clock


@pytest.fixture
def gateway() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    nagios.notify_arguments(parser)
    return parser.parse_args(["acct", *argv])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# ------------------------------------------------------------------------- where values come from


def test_flags_alone() -> None:
    alert = nagios.gather(parse(*PROBLEM, "-b", "bob", "-c", "hi"), {})
    assert (alert.type, alert.host, alert.service, alert.state, alert.output, alert.date,
            alert.author, alert.comment) == (
        "PROBLEM", "web01", "HTTP", "CRITICAL", "CRITICAL - connection refused",
        "2026-11-22 12:03:49 +0000", "bob", "hi",
    )


NAGIOS_SERVICE_ENV = {
    "NAGIOS_NOTIFICATIONTYPE": "PROBLEM", "NAGIOS_HOSTNAME": "web01", "NAGIOS_SERVICEDESC": "HTTP",
    "NAGIOS_SERVICESTATE": "CRITICAL", "NAGIOS_HOSTSTATE": "UP",
    "NAGIOS_SERVICEOUTPUT": "CRITICAL - it's \"down\" & $x", "NAGIOS_HOSTOUTPUT": "PING OK",
    "NAGIOS_LONGDATETIME": "Sun Nov 22 11:27:42 UTC 2026", "NAGIOS_NOTIFICATIONAUTHOR": "",
    "NAGIOS_NOTIFICATIONCOMMENT": "", "NAGIOS_CONTACTPAGER": PAGER,
}
ICINGA_HOST_ENV = {
    "NOTIFICATIONTYPE": "RECOVERY", "HOSTNAME": "db1", "HOSTDISPLAYNAME": "Database 1",
    "HOSTSTATE": "UP", "HOSTOUTPUT": "PING OK - rta 0.1ms ", "LONGDATETIME": "2026-11-22 11:32:49 +0000",
    "NOTIFICATIONAUTHORNAME": "", "NOTIFICATIONCOMMENT": "", "USERPAGER": "+447700900124",
}


def test_nagios_environment_macros_with_no_flags() -> None:
    alert = nagios.gather(parse(), NAGIOS_SERVICE_ENV)
    assert (alert.type, alert.host, alert.service, alert.state, alert.time) == (
        "PROBLEM", "web01", "HTTP", "CRITICAL", "11:27"
    )
    assert alert.output == "CRITICAL - it's \"down\" & $x"  # the env copy keeps what args lose


def test_nagios_host_notification_reads_the_host_macros() -> None:
    env = {**NAGIOS_SERVICE_ENV, "NAGIOS_SERVICEDESC": "", "NAGIOS_HOSTSTATE": "DOWN",
           "NAGIOS_HOSTOUTPUT": "PING CRITICAL - 100% loss"}
    alert = nagios.gather(parse(), env)
    assert (alert.service, alert.state, alert.output) == ("", "DOWN", "PING CRITICAL - 100% loss")


def test_icinga_variables_with_no_flags() -> None:
    alert = nagios.gather(parse(), ICINGA_HOST_ENV)
    assert (alert.type, alert.host, alert.service, alert.state, alert.output, alert.time) == (
        "RECOVERY", "db1", "", "UP", "PING OK - rta 0.1ms", "11:32"
    )


def test_icinga_service_variables_stock_names() -> None:
    env = {"NOTIFICATIONTYPE": "PROBLEM", "HOSTDISPLAYNAME": "Database 1",
           "SERVICEDISPLAYNAME": "Disk Space", "SERVICESTATE": "WARNING", "SERVICEOUTPUT": "87%"}
    alert = nagios.gather(parse(), env)
    assert (alert.host, alert.service, alert.state, alert.output) == (
        "Database 1", "Disk Space", "WARNING", "87%"
    )
    assert nagios.gather(parse(), {**env, "SERVICENAME": "disk"}).service == "disk"


def test_precedence_flags_then_nagios_then_icinga() -> None:
    env = {**ICINGA_HOST_ENV, "NAGIOS_HOSTNAME": "from-nagios", "NAGIOS_HOSTSTATE": "DOWN"}
    alert = nagios.gather(parse("-s", "UNREACHABLE"), env)
    assert alert.host == "from-nagios"  # NAGIOS_* beats Icinga's HOSTNAME
    assert alert.state == "UNREACHABLE"  # a flag beats both
    assert alert.type == "RECOVERY"  # only Icinga had it
    assert nagios.gather(parse("-l", "from-flag"), env).host == "from-flag"


def test_an_empty_flag_counts_as_given() -> None:
    """Icinga passes `-b ''` for an unset author: that is the answer, not a reason to look further."""
    env = {**NAGIOS_SERVICE_ENV, "NAGIOS_NOTIFICATIONAUTHOR": "someone-else"}
    assert nagios.gather(parse("-b", ""), env).author == ""


def test_icinga_variables_need_notificationtype() -> None:
    """HOSTNAME is set by shells and containers: without NOTIFICATIONTYPE it is not Icinga's."""
    alert = nagios.gather(parse(), {"HOSTNAME": "a1b2c3d4e5", "USERPAGER": PAGER})
    assert alert.host == ""
    assert nagios.recipients([], {"USERPAGER": PAGER}, []) == []


def test_values_become_one_line() -> None:
    alert = nagios.gather(parse("-o", "disk  full\n  on /var \t now "), {})
    assert alert.output == "disk full on /var now"


def test_recipient_order_to_then_pager_then_route() -> None:
    nagios_env = {"NAGIOS_CONTACTPAGER": "+447700900001"}
    icinga_env = {"NOTIFICATIONTYPE": "PROBLEM", "USERPAGER": "+447700900002"}
    route = ["+447700900003"]
    assert nagios.recipients(["+447700900009"], nagios_env, route) == ["+447700900009"]
    assert nagios.recipients([], {**nagios_env, **icinga_env}, route) == ["+447700900001"]
    assert nagios.recipients([], icinga_env, route) == ["+447700900002"]
    assert nagios.recipients([], {}, route) == route
    # A contact without a pager gives --to "": fall through to the next source.
    assert nagios.recipients([""], nagios_env, route) == ["+447700900001"]
    assert nagios.recipients(["+447700900001, +447700900002"], {}, []) == [
        "+447700900001", "+447700900002"
    ]


# ------------------------------------------------------------------------------------ the text


def alert(**values: str) -> Alert:
    base = {"host": "web01", "service": "HTTP", "state": "CRITICAL",
            "output": "CRITICAL - connection refused", "date": "2026-11-22 12:03:49 +0000"}
    return Alert(**{**base, **values})


@pytest.mark.parametrize(
    ("type_", "extra", "expected"),
    [
        ("PROBLEM", {}, "PROBLEM web01/HTTP CRITICAL: connection refused 12:03"),
        ("RECOVERY", {"state": "OK", "output": "HTTP OK: 200 in 0.01s"},
         "RECOVERY web01/HTTP OK: HTTP OK: 200 in 0.01s 12:03"),
        ("ACKNOWLEDGEMENT", {"author": "bob", "comment": "Working on it"},
         "ACK web01/HTTP CRITICAL by bob: Working on it 12:03"),
        ("CUSTOM", {"author": "alice", "comment": "Test SMS from ops"},
         "CUSTOM web01/HTTP CRITICAL by alice: Test SMS from ops 12:03"),
        ("CUSTOM", {"author": "", "comment": ""},
         "CUSTOM web01/HTTP CRITICAL: connection refused 12:03"),
        ("FLAPPINGSTART", {}, "FLAPPING web01/HTTP CRITICAL: connection refused 12:03"),
        ("FLAPPINGSTOP", {"state": "OK", "output": "OK - fine"}, "FLAPPING OVER web01/HTTP OK: fine 12:03"),
        ("FLAPPINGEND", {"state": "OK", "output": "OK - fine"}, "FLAPPING OVER web01/HTTP OK: fine 12:03"),
        ("FLAPPINGDISABLED", {}, "FLAPPING DISABLED web01/HTTP CRITICAL 12:03"),
        ("DOWNTIMESTART", {"state": "OK", "author": "carol", "comment": "kernel update"},
         "DOWNTIME web01/HTTP OK by carol: kernel update 12:03"),
        ("DOWNTIMEEND", {"state": "OK", "output": "OK - fine", "author": "carol", "comment": "kernel update"},
         "DOWNTIME OVER web01/HTTP OK by carol: kernel update 12:03"),
        ("DOWNTIMECANCELLED", {"state": "OK", "author": "carol", "comment": "not needed"},
         "DOWNTIME CANCELLED web01/HTTP OK by carol: not needed 12:03"),
        ("SOMETHINGNEW", {}, "SOMETHINGNEW web01/HTTP CRITICAL: connection refused 12:03"),
        ("", {}, "web01/HTTP CRITICAL: connection refused 12:03"),
    ],
)
def test_one_compact_text_per_type(type_: str, extra: dict[str, str], expected: str) -> None:
    assert nagios.default_text(alert(type=type_, **extra)) == expected


def test_host_texts_say_the_state_once() -> None:
    down = alert(type="PROBLEM", service="", state="DOWN", output="CRITICAL - host unreachable")
    assert nagios.default_text(down) == "PROBLEM web01 DOWN: host unreachable 12:03"
    up = alert(type="RECOVERY", service="", state="UP", output="OK - rta 0.1ms")
    assert nagios.default_text(up) == "RECOVERY web01 UP: rta 0.1ms 12:03"
    keep = alert(type="PROBLEM", state="WARNING", output="CRITICAL - odd")
    assert nagios.default_text(keep).endswith("WARNING: CRITICAL - odd 12:03")


@pytest.mark.parametrize(
    ("date", "time_"),
    [
        ("Sun Nov 22 11:27:42 UTC 2026", "11:27"),  # Nagios $LONGDATETIME$
        ("2026-11-22 11:32:49 +0000", "11:32"),  # Icinga $icinga.long_date_time$
        ("11-22-2026 7:05:00", "07:05"),  # Nagios date_format=us
        ("2026-11-22T11:27:42", "11:27"),  # Nagios date_format=strict-iso8601
        ("yesterday", "yesterday"),
        ("", ""),
    ],
)
def test_time_from_either_daemon(date: str, time_: str) -> None:
    assert alert(date=date).time == time_


def test_a_long_output_is_cut_but_type_host_service_state_and_time_stay() -> None:
    long = alert(type="PROBLEM", output="CRITICAL - " + "x" * 400)
    text = nagios.default_text(long)
    assert count_parts(text).parts == 1 and len(text) == 160
    assert text.startswith("PROBLEM web01/HTTP CRITICAL: xxx") and text.endswith("x... 12:03")
    two = nagios.default_text(long, max_segments=2)
    assert count_parts(two).parts == 2 and two.endswith("... 12:03")


def test_a_unicode_output_is_cut_by_ucs2_rules() -> None:
    text = nagios.default_text(alert(type="PROBLEM", output="Überlast 温度 " * 20))
    assert count_parts(text).parts == 1 and text.endswith("... 12:03")


# --------------------------------------------------------------------------- sending, exit codes


def test_sends_one_text_and_prints_one_line(gateway, capsys) -> None:
    gateway.add(responses.POST, FAST_API, body="73786923")
    rc, out, err = run(capsys, "nagios", FAST, "--to", PAGER, *PROBLEM)
    assert rc == 0, err
    assert out == f"{PAGER}: sent, 1 part, id 73786923 (via fastsms@127.0.0.1:8025)\n"
    assert err == ""
    sent = form(gateway.calls[0])
    assert (sent["Body"], sent["DestinationAddress"], sent["SourceAddress"]) == (
        "PROBLEM web01/HTTP CRITICAL: connection refused 12:03", PAGER[1:], "Alerts"
    )


def test_environment_only_as_nagios_runs_it(gateway, capsys, monkeypatch) -> None:
    for name, value in NAGIOS_SERVICE_ENV.items():
        monkeypatch.setenv(name, value)
    gateway.add(responses.POST, FAST_API, body="1")
    rc, _, err = run(capsys, "nagios", FAST)
    assert rc == 0, err
    sent = form(gateway.calls[0])
    assert sent["DestinationAddress"] == PAGER[1:]
    assert sent["Body"] == "PROBLEM web01/HTTP CRITICAL: it's \"down\" & $x 11:27"


def test_route_recipients_accounts_and_max_segments(gateway, capsys, tmp_path) -> None:
    config = tmp_path / "c.yml"
    config.write_text(
        f"accounts:\n  primary: {FAST}\nroutes:\n  oncall:\n    via: [primary]\n"
        "    to: ['+447700900001', '+447700900002']\n    max_segments: 2\n"
    )
    gateway.add(responses.POST, FAST_API, body="11,12")
    rc, out, err = run(capsys, "nagios", "oncall", "--config", str(config),
                       "-t", "PROBLEM", "-l", "web01", "-s", "DOWN", "-o", "y" * 400)
    assert rc == 0, err
    assert out.count("\n") == 1 and out.count("sent") == 2 and "(via primary)" in out
    sent = form(gateway.calls[0])
    assert sent["DestinationAddress"] == "447700900001,447700900002"
    assert count_parts(sent["Body"]).parts == 2


def test_failover_through_two_urls_sends_one_text(gateway, capsys, instant) -> None:
    gateway.add(responses.POST, FAST_API, status=503, body="<html>down</html>")
    gateway.add(responses.POST, INTELLI_SEND, body="ID:4242")
    rc, out, err = run(capsys, "nagios", FAST, INTELLI, "--to", PAGER, *PROBLEM)
    assert rc == 0, err
    assert out == f"{PAGER}: sent, 1 part, id 4242 (via intellisms@127.0.0.1:8025)\n"
    asked = [c.request.url for c in gateway.calls]
    assert asked == [FAST_API] * 2 + [INTELLI_SEND]  # 503 retried once, then the next account
    assert len(instant.slept) == 1 and sum(instant.slept) < nagios.budget(25)
    assert form(gateway.calls[2])["text"] == "PROBLEM web01/HTTP CRITICAL: connection refused 12:03"


def test_failover_on_auth_error_is_immediate(gateway, capsys, instant) -> None:
    gateway.add(responses.POST, FAST_API, body="-501\nUnknown Username/Password")
    gateway.add(responses.POST, INTELLI_SEND, body="ID:7")
    rc, out, _ = run(capsys, "nagios", FAST, INTELLI, "--to", PAGER, *PROBLEM)
    assert rc == 0 and "via intellisms" in out
    assert len(gateway.calls) == 2 and instant.slept == []


def test_exit_1_when_no_gateway_takes_it(gateway, capsys, instant) -> None:
    gateway.add(responses.POST, FAST_API, body="-501\nUnknown Username/Password")
    gateway.add(responses.POST, INTELLI_SEND, body="ERR:LOGIN_INVALID")
    rc, out, err = run(capsys, "nagios", FAST, INTELLI, "--to", PAGER, *PROBLEM)
    assert rc == 1
    assert out.startswith(f"{PAGER}: failed: auth: ") and out.count("\n") == 1
    assert "via intellisms" in out and err == ""


def test_six_503s_in_a_row_still_page(gateway, capsys, instant) -> None:
    """Issue 13: a one-second gateway blip ended it after three tries, 1.2 s into 25 s, and
    Nagios never retries a notification. Transient errors are retried inside --timeout."""
    for _ in range(6):
        gateway.add(responses.POST, FAST_API, status=503, body="<html>busy</html>")
    gateway.add(responses.POST, FAST_API, body="73786923")
    rc, out, err = run(capsys, "nagios", FAST, "--to", PAGER, *PROBLEM)
    assert rc == 0, out + err
    assert out == f"{PAGER}: sent, 1 part, id 73786923 (via fastsms@127.0.0.1:8025)\n"
    assert len(gateway.calls) == 7 and sum(instant.slept) < nagios.budget(25)


def test_an_unreadable_answer_is_unconfirmed_and_not_sent_again(gateway, capsys, instant) -> None:
    gateway.add(responses.POST, FAST_API, body="101, 102")
    rc, out, _ = run(capsys, "nagios", FAST, "--to", PAGER, *PROBLEM)
    assert rc == 1 and len(gateway.calls) == 1
    assert out == (f"{PAGER}: unconfirmed (the gateway may have sent it): unavailable: unexpected "
                   "answer: 101, 102 (via fastsms@127.0.0.1:8025)\n")


def test_exit_1_when_a_recipient_is_refused(gateway, capsys) -> None:
    gateway.add(responses.POST, FAST_API, body="-401\nInvalid Destination Address")
    rc, out, _ = run(capsys, "nagios", FAST, "--to", PAGER, *PROBLEM)
    assert rc == 1 and "recipient: -401 Invalid Destination Address" in out


def test_the_time_budget_stays_below_the_timeout() -> None:
    for timeout in (0.2, 1, 2, 5, 10, 25, 60):
        assert 0 < nagios.budget(timeout) < timeout
    assert nagios.budget(25) == 23


def test_a_hard_stop_at_the_timeout(capsys, monkeypatch) -> None:
    """Whatever hangs, the command answers before the daemon kills it."""

    def hang(*args: Any, **kwargs: Any) -> None:
        time.sleep(5)

    monkeypatch.setattr(delivery, "deliver", hang)
    started = time.monotonic()
    rc, out, _ = run(capsys, "nagios", FAST, "--to", PAGER, *PROBLEM, "--timeout", "0.3")
    assert rc == 1 and out == "failed: no gateway accepted the text within 0.3s\n"
    assert time.monotonic() - started < 2


def test_at_the_time_limit_a_request_still_out_is_unconfirmed(fake_gateways, capsys) -> None:
    """The line said "failed: no gateway accepted the text within 25s" though a request was
    out, and the gateway may have sent it. Now each recipient says what is known: sent,
    unconfirmed (its request unanswered), or not sent."""

    def sent(submission: Any) -> list[Receipt]:
        return [Receipt(r, message_id="id-1") for r in submission.recipients]

    def hangs(submission: Any) -> list[Receipt]:
        time.sleep(30)  # the text went in; the answer never comes
        raise AssertionError("not reached")

    gateway = fake_gateways("slow", max_recipients=1)
    gateway.answers = [sent, hangs]
    others = ["+447700900124", "+447700900125"]
    started = time.monotonic()
    rc, out, _ = run(capsys, "nagios", "slow://u:p@", "--to", PAGER, "--to", others[0],
                     "--to", others[1], *PROBLEM, "--timeout", "1")
    assert time.monotonic() - started < 5
    assert rc == 1
    assert out == (f"{PAGER}: sent, 1 part, id id-1 (via slow); "
                   f"{others[0]}: unconfirmed (the gateway may have sent it): unavailable: no "
                   "answer before the time limit (via slow); "
                   f"{others[1]}: failed: unavailable: not sent before the time limit "
                   "(via slow)\n")
    assert gateway.recipients_sent() == [PAGER, others[0]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to", PAGER, "-t", "PROBLEM"], "no host"),
        (["-l", "web01"], "no recipient"),
        (["--to", PAGER, "-l", "web01", "--max-segments", "0"], "--max-segments"),
    ],
)
def test_usage_errors_exit_2(capsys, argv: list[str], message: str) -> None:
    rc, out, err = run(capsys, "nagios", FAST, *argv)
    assert rc == 2 and out == "" and message in err


def test_config_errors_exit_2(capsys, tmp_path) -> None:
    config = tmp_path / "c.yml"
    config.write_text(f"accounts:\n  primary: {FAST}\n")
    rc, _, err = run(capsys, "nagios", "nosuch", "--config", str(config), "-l", "h", "--to", PAGER)
    assert rc == 2 and "no account or route named 'nosuch'" in err
    rc, _, err = run(capsys, "nagios", "primary", "-l", "h", "--to", PAGER)  # no config at all
    assert rc == 2 and "no config file" in err


def test_argparse_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nagios", FAST, "--bogus"])
    assert exc.value.code == 2


BAD_TIMEOUTS = ["0", "-1", "nan", "inf", "-inf", "1e10", "86401", "x"]


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS)
def test_a_bad_timeout_is_a_usage_error(gateway, capsys, timeout: str) -> None:
    """Not a crash in setitimer: a finite number of seconds, more than 0, at most a day."""
    gateway.add(responses.POST, FAST_API, body="1")
    with pytest.raises(SystemExit) as exc:
        main(["nagios", FAST, "--to", PAGER, *PROBLEM, f"--timeout={timeout}"])
    assert exc.value.code == 2
    assert "--timeout" in capsys.readouterr().err
    assert not gateway.calls


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS)
def test_check_balance_a_bad_timeout_is_unknown(gateway, capsys, timeout: str) -> None:
    gateway.add(responses.POST, FAST_API, body="3")
    with pytest.raises(SystemExit) as exc:
        main(["check-balance", FAST, f"--timeout={timeout}"])
    assert exc.value.code == 3
    out, _ = capsys.readouterr()
    assert out.startswith("SMS CREDIT UNKNOWN - ") and "--timeout" in out
    assert not gateway.calls


def test_the_longest_timeout_is_a_day() -> None:
    assert parse("--timeout", "86400").timeout == 86400.0
    assert parse("--timeout", "0.5").timeout == 0.5


class Stub:
    """A gateway on 127.0.0.1 in a thread: answers every request with `status` and `body`
    (None: echo the request line and body back, as careless gateways do), or with `drip`
    its status line and then a header byte every half second, never ending; it keeps what it
    received."""

    def __init__(self, status: int = 200, body: str | None = "1", drip: bool = False) -> None:
        import http.server
        import threading

        self.received: list[tuple[str, str]] = []
        self.closed = threading.Event()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(size).decode("utf-8", "replace")
                stub.received.append((self.path, data))
                if drip:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    while not stub.closed.wait(0.5):
                        self.wfile.write(b"z")
                    return
                text = f"{self.command} {self.path}\n{data}" if body is None else body
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub_factory() -> Iterator[Any]:
    stubs: list[Stub] = []

    def make(**kwargs: Any) -> Stub:
        stubs.append(Stub(**kwargs))
        return stubs[-1]

    yield make
    for stub in stubs:
        stub.close()


def command(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`sms-notify ARGV` as a real process (its own logging setup, as Nagios runs it)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SMS_NOTIFY_CONFIG", "SMS_NOTIFY_LOAD_PLUGINS")
           and not k.startswith("NAGIOS_") and k not in ICINGA_VARS}
    return subprocess.run([sys.executable, "-m", "sms_notify", *argv], capture_output=True,
                          text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL,
                          cwd=ROOT, check=False)


def test_secrets_are_never_printed(stub_factory) -> None:
    """Whatever the gateway echoes and however verbose the log, no credential reaches the
    output. A real process: in-process, pytest owns the root logger and log lines never
    reach the captured stderr."""
    stub = stub_factory(status=500, body=None)  # HTTP 500 echoing the request, credentials too
    fast = FAST.replace(ENDPOINT, stub.url)
    intelli = INTELLI.replace(ENDPOINT, stub.url)
    done = command("nagios", fast, intelli, "--to", PAGER, *PROBLEM, "-vv", "--timeout", "3")
    assert done.returncode == 1, done.stderr
    assert any(TOKEN in body for _, body in stub.received)  # the gateway did get them
    assert any(PASSWORD in path + body for path, body in stub.received)
    bad = command("nagios", fast.replace("from=", "frm="), "--to", PAGER, *PROBLEM, "-vv")
    assert bad.returncode == 2
    balance = command("check-balance", intelli, "-w", "10", "-v", "--timeout", "3")
    assert balance.returncode == 3
    for text in (done.stdout, done.stderr, bad.stdout, bad.stderr, balance.stdout, balance.stderr):
        assert TOKEN not in text and PASSWORD not in text, text


def test_a_request_out_at_the_time_limit_is_unconfirmed_in_the_line(stub_factory) -> None:
    """The gateway takes the text and drip-feeds its answer's headers: no read timeout ends
    that, the command's own time limit does. The line said "failed: no gateway accepted the
    text within 3s"; the gateway may have sent it, and the line now says so (exit 1 still)."""
    stub = stub_factory(drip=True)
    done = command("nagios", FAST.replace(ENDPOINT, stub.url), "--to", PAGER, *PROBLEM,
                   "--timeout", "3")
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith(f"{PAGER}: unconfirmed (the gateway may have sent it): "), \
        done.stdout
    assert done.stdout.endswith(f" (via fastsms@{stub.url.removeprefix('http://')})\n")
    assert len(stub.received) == 1  # the text reached the gateway, once


# ------------------------------------------------------------------------------------- templates


def test_a_jinja2_template(gateway, capsys) -> None:
    gateway.add(responses.POST, FAST_API, body="1")
    template = "{{ state }} on {{ subject }} ({{ kind }}) at {{ time }} | {{ text }}"
    rc, _, err = run(capsys, "nagios", FAST, "--to", PAGER, *PROBLEM, "--template", template)
    assert rc == 0, err
    assert form(gateway.calls[0])["Body"] == (
        "CRITICAL on web01/HTTP (service) at 12:03 | PROBLEM web01/HTTP CRITICAL: connection refused 12:03"
    )


def test_a_template_file(capsys, tmp_path) -> None:
    path = tmp_path / "sms.j2"
    path.write_text("{{ type|lower }} {{ host }}{% if service %} {{ service }}{% endif %}\n")
    rc, out, _ = run(capsys, "nagios", FAST, *PROBLEM, "--template", f"@{path}", "--dry-run")
    assert (rc, out) == (0, "problem web01 HTTP\n")


@pytest.mark.parametrize("template", ["{{ hots }}", "{% if %}", "@/nonexistent/sms.j2", "{{ '' }}"])
def test_a_broken_template_still_sends_the_default_text(gateway, capsys, template: str) -> None:
    gateway.add(responses.POST, FAST_API, body="1")
    rc, out, err = run(capsys, "nagios", FAST, "--to", PAGER, *PROBLEM, "--template", template)
    assert rc == 0 and "sent" in out
    assert "sent the default text" in err
    assert form(gateway.calls[0])["Body"] == "PROBLEM web01/HTTP CRITICAL: connection refused 12:03"
    rc, out, err = run(capsys, "nagios", FAST, *PROBLEM, "--template", template, "--dry-run")
    assert rc == 2 and "sent the default text" in err  # a dry run tells the template is broken


@pytest.mark.parametrize("template", [
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
])
def test_a_template_that_never_ends_cannot_hold_up_the_alert(stub_factory, template: str) -> None:
    """The template renders in a sandbox and inside its share of --timeout; when it runs out,
    the default text goes out in time."""
    stub = stub_factory()
    started = time.monotonic()
    done = command("nagios", FAST.replace(ENDPOINT, stub.url), "--to", PAGER, *PROBLEM,
                   "--template", template, "--timeout", "3", timeout=30)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert elapsed < 3, elapsed
    assert "sent the default text" in done.stderr
    assert len(stub.received) == 1
    sent = {k: v[0] for k, v in parse_qs(stub.received[0][1]).items()}
    assert sent["Body"] == "PROBLEM web01/HTTP CRITICAL: connection refused 12:03"


def test_a_template_cannot_reach_outside_the_sandbox(capsys) -> None:
    template = "{{ host.__class__.__mro__[1].__subclasses__() }}"
    rc, out, err = run(capsys, "nagios", FAST, *PROBLEM, "--template", template, "--dry-run")
    assert rc == 2 and "sent the default text" in err
    assert out == "PROBLEM web01/HTTP CRITICAL: connection refused 12:03\n"


def test_dry_run_sends_nothing(capsys) -> None:
    rc, out, _ = run(capsys, "nagios", FAST, *PROBLEM, "--dry-run")
    assert (rc, out) == (0, "PROBLEM web01/HTTP CRITICAL: connection refused 12:03\n")


# ---------------------------------------------------------------------------- starting fast


def _modules_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True)
    return set(done.stdout.split())


def test_the_module_imports_nothing_heavy() -> None:
    """Beyond the package and argparse (what cli.py loads anyway), the module adds only itself."""
    base = _modules_after("import sys, argparse, sms_notify; print(*sys.modules)")
    loaded = _modules_after("import sys, argparse, sms_notify.integrations.nagios; print(*sys.modules)")
    assert loaded - base == {"sms_notify.integrations", "sms_notify.integrations.nagios"}


def test_jinja2_is_imported_only_for_a_template() -> None:
    code = (
        "import sys; from sms_notify.cli import main\n"
        f"main(['nagios', {FAST!r}, '-l', 'h', '-s', 'DOWN', '--dry-run'{{extra}}])\n"
        "print('JINJA', 'jinja2' in sys.modules)"
    )
    assert "JINJA False" in subprocess.run(
        [sys.executable, "-c", code.replace("{extra}", "")], capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout
    assert "JINJA True" in subprocess.run(
        [sys.executable, "-c", code.replace("{extra}", ", '--template', '{{ host }}'")],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout


# ------------------------------------------------------------------------------ check-balance


@pytest.mark.parametrize(
    ("text", "alerts", "quiet"),
    [
        ("10", [9.99, 0, -1], [10, 11, 1e9]),  # plain N: alert below N (docs/design.md, Decision 6)
        ("10:", [9.99, -5], [10, 1e9]),
        ("~:10", [10.01, 1e9], [10, 0, -1e9]),
        ("10:20", [9, 21], [10, 15, 20]),
        ("@10:20", [10, 15, 20], [9.99, 20.01]),
        ("@10", [0, 10], [-1, 10.5]),  # @N: the guidelines' 0..N, inside
        (":5", [-1, 6], [0, 5]),
        ("~:", [], [-1e9, 0, 1e9]),
        ("2.5:", [2.4], [2.5]),
    ],
)
def test_nagios_ranges(text: str, alerts: list[float], quiet: list[float]) -> None:
    r = Range.parse(text)
    assert [v for v in alerts if not r.alert(v)] == []
    assert [v for v in quiet if r.alert(v)] == []


@pytest.mark.parametrize("text", ["", "abc", "20:10", "1:2:3", "nan", "inf", "@", "~"])
def test_bad_ranges(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        Range.parse(text)


def test_perfdata_thresholds_as_given_with_plain_numbers_made_explicit() -> None:
    assert Range.parse("500").text == "500:"
    assert Range.parse("@10:20").text == "@10:20"


@pytest.mark.parametrize(
    ("credits", "state"), [(1234, 0), (500, 0), (499, 1), (100, 1), (99.5, 2), (0, 2)]
)
def test_states_at_the_thresholds(credits: float, state: int) -> None:
    w, c = Range.parse("500"), Range.parse("100")
    assert nagios.classify(credits, w, c) == state


def test_status_lines() -> None:
    w, c = Range.parse("500"), Range.parse("100:")
    assert nagios.status_line([("primary", Balance(1234.0), "")], w, c) == (
        0, "SMS CREDIT OK - 1234 credits on primary | credits=1234;500:;100:;0"
    )
    assert nagios.status_line([("primary", Balance(12.5, "GBP"), "")], None, None) == (
        0, "SMS CREDIT OK - 12.5 GBP on primary | credits=12.5;;;0"
    )
    assert nagios.status_line([("a", Balance(1e6), ""), ("b b", Balance(450), "")], w, c) == (
        1, "SMS CREDIT WARNING - 1000000 credits on a, 450 credits on b b"
        " | credits_a=1000000;500:;100:;0 'credits_b b'=450;500:;100:;0"
    )
    # Worst first: CRITICAL > WARNING > UNKNOWN > OK.
    assert nagios.status_line([("a", None, "unavailable: x"), ("b", Balance(50), "")], w, c)[0] == 2
    assert nagios.status_line([("a", None, "unavailable: x"), ("b", Balance(600), "")], w, c) == (
        3, "SMS CREDIT UNKNOWN - a: unavailable: x, 600 credits on b | credits_b=600;500:;100:;0"
    )


@pytest.mark.parametrize(("w", "c", "rc", "word"), [
    ("500", "100", 0, "OK"), ("2000", "100", 1, "WARNING"), ("3000", "2000", 2, "CRITICAL"),
])
def test_check_balance_states(gateway, capsys, w: str, c: str, rc: int, word: str) -> None:
    gateway.add(responses.POST, FAST_API, body="1234")
    code, out, _ = run(capsys, "check-balance", FAST, "-w", w, "-c", c)
    assert code == rc
    assert out == f"SMS CREDIT {word} - 1234 credits on fastsms@127.0.0.1:8025 | credits=1234;{w}:;{c}:;0\n"
    assert form(gateway.calls[0])["Action"] == "CheckCredits"


def test_check_balance_of_a_route_asks_every_account(gateway, capsys, tmp_path) -> None:
    config = tmp_path / "c.yml"
    config.write_text(f"accounts:\n  primary: {FAST}\n  backup: {INTELLI}\n"
                      "routes:\n  oncall:\n    via: [primary, backup]\n")
    gateway.add(responses.POST, FAST_API, body="1234")
    gateway.add(responses.POST, INTELLI_BALANCE, body="BALANCE:80")
    code, out, _ = run(capsys, "check-balance", "oncall", "--config", str(config), "-w", "500", "-c", "100")
    assert code == 2
    assert out == ("SMS CREDIT CRITICAL - 1234 credits on primary, 80 credits on backup"
                   " | credits_primary=1234;500:;100:;0 credits_backup=80;500:;100:;0\n")


def test_check_balance_unknown_when_the_gateway_fails(gateway, capsys, instant) -> None:
    gateway.add(responses.POST, FAST_API, status=503, body="down")
    code, out, _ = run(capsys, "check-balance", FAST, "-w", "500", "-c", "100")
    assert code == 3
    assert out == (
        "SMS CREDIT UNKNOWN - fastsms@127.0.0.1:8025: unavailable: 503 127.0.0.1:8025 answered HTTP 503: down\n"
    )


@pytest.mark.parametrize("argv", [["-w", "lots"], ["-c", "9:1"], ["--nope"], ["-t", "x"]])
def test_check_balance_usage_errors_are_unknown(capsys, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check-balance", FAST, *argv])
    assert exc.value.code == 3
    out, err = capsys.readouterr()
    assert out.startswith("SMS CREDIT UNKNOWN - ") and out.count("\n") == 1
    assert err.startswith("usage: sms-notify check-balance")


def test_check_balance_config_errors_are_unknown(capsys, tmp_path) -> None:
    code, out, _ = run(capsys, "check-balance", "primary", "-w", "5")
    assert code == 3 and out.startswith("SMS CREDIT UNKNOWN - no config file")
    with pytest.raises(SystemExit) as exc:
        main(["check-balance", "primary", "-t", "0"])
    assert exc.value.code == 3 and "--timeout" in capsys.readouterr().out


def test_check_balance_without_thresholds_is_ok(gateway, capsys) -> None:
    gateway.add(responses.POST, FAST_API, body="3")
    assert run(capsys, "check-balance", FAST)[:2] == (0, "SMS CREDIT OK - 3 credits on fastsms@127.0.0.1:8025 | credits=3;;;0\n")


# ----------------------------------------------------------------------------------- the docs


def test_the_docs_show_the_definitions_the_e2e_tests_run() -> None:
    """docs/nagios.md (or the README it is merged into) carries the e2e definitions verbatim."""
    from tests.e2e.daemons import ICINGA_DEFINITIONS, NAGIOS_DEFINITIONS

    docs = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "nagios.md", ROOT / "README.md")
                   if p.exists())
    for snippet in (NAGIOS_DEFINITIONS, ICINGA_DEFINITIONS):
        for block in snippet.strip().split("\n\n"):
            assert block in docs, block
