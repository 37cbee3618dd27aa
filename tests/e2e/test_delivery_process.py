"""`sms-notify serve` delivers from a process of its own (sms_notify.deliverer): killed, it is
restarted and loses nothing accepted; one that keeps dying stops serve with an error, never a
serve that accepts alerts it will not send. Metrics count what the child sent, and the delivery
reports it asked for: a child killed between a send and its report is replaced by one that asks
on, once."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import requests

from .conftest import Sandbox
from .receiver import (
    NUMBERS, Serve, counter, receiver_config, start_serve, unique, wait_until,
)
from .test_receiver_crash import first_line, payload

pytestmark = pytest.mark.e2e


def delivery_pid(rx: Serve) -> int:
    """The pid of serve's delivery process (not multiprocessing's resource tracker), or 0."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if ppid == rx.proc.pid and b"spawn_main" in cmdline:
            return int(entry.name)
    return 0


def ready(rx: Serve) -> bool:
    return requests.get(rx.url + "/-/ready", timeout=10).status_code == 200


def test_a_killed_delivery_process_is_restarted_and_loses_nothing(
        tmp_path: Path, fresh_sandbox: Sandbox) -> None:
    config, env = receiver_config(tmp_path, fresh_sandbox)
    fresh_sandbox.fault(gateway="fastsms", kind="slow", delay=0.5)
    rx = start_serve(config, env, tmp_path / "serve.log")
    try:
        first = delivery_pid(rx)
        assert first and ready(rx)
        names = [unique("Before") for _ in range(10)]
        for name in names:
            assert rx.post(payload(name)).status_code == 200
        time.sleep(0.3)  # some requests in flight
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: "event=delivery_died" in rx.log(), 10, "the death logged", rx.log)
        # alerts are still accepted while the delivery process is down
        names += [unique("During") for _ in range(5)]
        for name in names[10:]:
            assert rx.post(payload(name)).status_code == 200
        wait_until(lambda: delivery_pid(rx) not in (0, first) and ready(rx), 30,
                   "a new delivery process", rx.log)
        requests.delete(fresh_sandbox.url + "/admin/faults", timeout=10).raise_for_status()

        def missing() -> list[str]:
            texts = {(m["text"].split("\n")[0], m["to"]) for m in fresh_sandbox.inbox()}
            return [n for n in names for to in NUMBERS
                    if not any(t.startswith(first_line(n)) and t_to == to for t, t_to in texts)]

        wait_until(lambda: not missing(), 60, "every accepted text", rx.log)

        def counted() -> float:  # what the new delivery process sent, counted by serve
            sent = re.search(r'^sms_notify_jobs_finished_total\{route="sms-webhook",'
                             r'state="sent"\} (\S+)$', rx.metrics(), re.M)
            return float(sent.group(1)) if sent else 0.0

        wait_until(lambda: counted() >= 5 * len(NUMBERS), 10, "the sends counted", rx.log)
        assert "recovered in-flight jobs" in rx.log() or "event=delivery_died" in rx.log()
        assert rx.terminate() == 0, rx.log()[-3000:]
        assert delivery_pid(rx) == 0
    finally:
        if rx.proc.poll() is None:
            rx.kill()


def test_a_restarted_delivery_process_asks_for_the_reports_and_serve_counts_them(
        tmp_path: Path, fresh_sandbox: Sandbox) -> None:
    """FastSMS is asked about a text 5 s after its send (sms_notify.receipts): the delivery
    process that sent it is killed before then, and the next one asks; serve's /metrics counts
    each report once, with its time to the handset."""
    config, env = receiver_config(tmp_path, fresh_sandbox)
    rx = start_serve(config, env, tmp_path / "serve.log")
    try:
        first = delivery_pid(rx)
        name = unique("Report")
        assert rx.post(payload(name)).status_code == 200
        wait_until(lambda: len(fresh_sandbox.inbox(gateway="fastsms")) == len(NUMBERS), 10,
                   "the texts sent", rx.log)
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: delivery_pid(rx) not in (0, first) and ready(rx), 30,
                   "a new delivery process", rx.log)

        def delivered() -> float:
            return counter(rx.metrics(), "sms_notify_receipts_total", account="primary",
                           state="delivered")

        wait_until(lambda: delivered() >= len(NUMBERS), 30, "the reports counted", rx.log)
        time.sleep(2)  # two more passes: a report is recorded once
        metrics = rx.metrics()
        assert delivered() == len(NUMBERS)
        assert counter(metrics, "sms_notify_delivery_seconds_count",
                       account="primary") == len(NUMBERS)
        assert rx.terminate() == 0, rx.log()[-3000:]
    finally:
        if rx.proc.poll() is None:
            rx.kill()


def test_a_delivery_process_that_keeps_dying_stops_serve(tmp_path: Path,
                                                          fresh_sandbox: Sandbox) -> None:
    config, env = receiver_config(tmp_path, fresh_sandbox)
    rx = start_serve(config, env, tmp_path / "serve.log")
    try:
        killed: set[int] = set()
        deadline = time.monotonic() + 60
        while rx.proc.poll() is None and time.monotonic() < deadline:
            pid = delivery_pid(rx)
            if pid and pid not in killed:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            time.sleep(0.05)
        assert rx.proc.wait(30) == 1
        log = rx.log()
        assert "event=delivery_failed" in log and "died 6 times within 60s" in log, log[-3000:]
        assert "sms-notify serve: stopped: the delivery process died" in log
    finally:
        if rx.proc.poll() is None:
            rx.kill()
