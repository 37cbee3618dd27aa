"""One text per recipient per accepted alert under gateway faults (issue 13;
docs/design.md, Decisions 12 and 13), through a real `sms-notify serve` and the real sandbox:

- a server2sms that takes the text but answers after the account's timeout: asked, not resent;
- a FastSMS that sends but answers something unreadable: at most one text per account;
- a sender refusal: the next account, with its own sender, takes the text;
- server2sms refusing a whole request of 50 for one number: the other 49 get their text.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .conftest import Sandbox
from .receiver import NUMBERS, Serve, receiver_config, serving, unique, wait_until
from .test_receiver_crash import first_line, payload

pytestmark = pytest.mark.e2e


def texts(sandbox: Sandbox, name: str) -> Counter[tuple[str, str]]:
    """(gateway, number) of every text of this alert in the sandbox's inbox."""
    return Counter((m["gateway"], m["to"]) for m in sandbox.inbox()
                   if m["text"].startswith(first_line(name)))


def idle(rx: Serve) -> bool:
    metrics = rx.metrics()
    return "sms_notify_outbox_depth 0.0" in metrics and "sms_notify_outbox_inflight 0.0" in metrics


def start(tmp_path: Path, sandbox: Sandbox, **edits: Any) -> Any:
    """serve on the doc's config, its route and accounts changed as given."""

    def edit(data: dict[str, Any]) -> None:
        for name, extra in edits.get("accounts", {}).items():
            data["accounts"][name] += extra
        data["routes"]["sms-webhook"].update(edits.get("route", {}))

    config, env = receiver_config(tmp_path, sandbox, edit)
    return serving(config, env, tmp_path / "serve.log")


def test_a_slow_server2sms_is_asked_not_sent_again(tmp_path: Path, fresh_sandbox: Sandbox
                                                   ) -> None:
    """Issue 13: 10 alerts through a server2sms that takes each text but answers after
    timeout=2 became 45 texts. Asked once its timeout has passed again, it has them all."""
    fresh_sandbox.fault(gateway="server2sms", kind="slow", delay=2.5, seconds=8)
    names = [unique("Slow") for _ in range(10)]
    with start(tmp_path, fresh_sandbox, accounts={"backup": "&timeout=2"},
               route={"via": ["backup"]}) as rx:
        for name in names:
            assert rx.post(payload(name)).status_code == 200
        wait_until(lambda: all(len(texts(fresh_sandbox, n)) == len(NUMBERS) for n in names)
                   and idle(rx), 60, "every alert delivered", lambda: rx.log()[-3000:])
        for name in names:
            assert texts(fresh_sandbox, name) == Counter(
                {("server2sms", n): 1 for n in NUMBERS}), name
        slow = [r for r in fresh_sandbox.requests("server2sms") if r["fault"]]
        assert slow, "the gateway was never slow"
        assert "sms_notify_dead_letters 0.0" in rx.metrics()
        assert "sms_notify_unconfirmed 0.0" in rx.metrics()


def test_a_garbled_answer_costs_at_most_one_text_per_account(tmp_path: Path,
                                                            fresh_sandbox: Sandbox) -> None:
    """FastSMS sends the text but answers `101, 102`: it cannot be asked, so the text moves on
    to server2sms once and is never sent through FastSMS again."""
    fresh_sandbox.fault(gateway="fastsms", kind="garble", body="101, 102")
    name = unique("Garbled")
    with start(tmp_path, fresh_sandbox) as rx:
        assert rx.post(payload(name)).status_code == 200
        wait_until(lambda: len([k for k in texts(fresh_sandbox, name) if k[0] == "server2sms"])
                   == len(NUMBERS) and idle(rx), 30, "failover after the garbled answer",
                   lambda: rx.log()[-3000:])
        assert texts(fresh_sandbox, name) == Counter(
            {(gw, n): 1 for gw in ("fastsms", "server2sms") for n in NUMBERS})
        assert len(fresh_sandbox.requests("fastsms")) == 1  # no resend loop


def test_a_garbled_answer_on_the_last_account_is_unconfirmed(tmp_path: Path,
                                                            fresh_sandbox: Sandbox) -> None:
    fresh_sandbox.fault(gateway="fastsms", kind="garble", body="101, 102")
    name = unique("Unconfirmed")
    with start(tmp_path, fresh_sandbox, route={"via": ["primary"]}) as rx:
        assert rx.post(payload(name)).status_code == 200
        wait_until(lambda: f"sms_notify_unconfirmed {float(len(NUMBERS))}" in rx.metrics(), 30,
                   "the jobs unconfirmed", lambda: rx.log()[-3000:])
        assert texts(fresh_sandbox, name) == Counter({("fastsms", n): 1 for n in NUMBERS})
        assert len(fresh_sandbox.requests("fastsms")) == 1
        assert 'outcome="unconfirmed"' in rx.metrics()
        lines = [line for line in rx.log().splitlines() if "state=unconfirmed" in line]
        assert len(lines) == len(NUMBERS) and all("level=warn" in line for line in lines), lines


def test_a_sender_refusal_fails_over(tmp_path: Path, fresh_sandbox: Sandbox) -> None:
    """FastSMS refuses the account's sender (-518): the backup, with its own, takes it."""
    fresh_sandbox.fault(gateway="fastsms", kind="error_code", code="-518")
    name = unique("Sender")
    with start(tmp_path, fresh_sandbox) as rx:
        assert rx.post(payload(name)).status_code == 200
        wait_until(lambda: len(texts(fresh_sandbox, name)) == len(NUMBERS) and idle(rx), 30,
                   "failover after the sender refusal", lambda: rx.log()[-3000:])
        assert texts(fresh_sandbox, name) == Counter({("server2sms", n): 1 for n in NUMBERS})
        # counted by serve from its delivery process's results, a moment after the outbox
        wait_until(lambda: 'outcome="sender"' in rx.metrics(), 10, "the refusal counted")


def test_one_bad_number_in_a_batch_of_50_costs_only_its_own_text(tmp_path: Path,
                                                                fresh_sandbox: Sandbox) -> None:
    """server2sms 14 refuses a whole request for one number; the core splits it until the number
    is alone, and the 49 others get their text, each once."""
    numbers = [f"+4477009005{i:02d}" for i in range(49)] + ["+447700900000"]  # 0000: unroutable
    fresh_sandbox.fault(gateway="server2sms", kind="error_code", code="14", count=1)
    name = unique("Batch")
    with start(tmp_path, fresh_sandbox, route={"via": ["backup"], "to": numbers}) as rx:
        assert rx.post(payload(name)).status_code == 200
        wait_until(lambda: len(texts(fresh_sandbox, name)) == 49 and idle(rx), 30,
                   "49 texts", lambda: rx.log()[-3000:])
        assert texts(fresh_sandbox, name) == Counter({("server2sms", n): 1 for n in numbers[:49]})
        sends = fresh_sandbox.requests("server2sms")
        assert sends[0]["outcome"] == "StatusCode 14"  # the whole request of 50, refused
        assert [len(r["recipients"]) for r in sends[1:3]] == [25, 25]  # split, not given up
