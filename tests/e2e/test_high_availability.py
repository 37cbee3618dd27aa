"""Two `sms-notify serve` processes sharing a PostgreSQL outbox behind a real Alertmanager HA
pair, each Alertmanager posting to both receivers, as docs/high-availability.md sets it up
(docs/design.md, Decision 14). PostgreSQL is Debian's, started in a temporary folder
(tests/postgres.py); the receivers reach it with a password in server.outbox.

- 50 alerts fired at both Alertmanagers: each is texted once.
- A storm of 300, and one receiver SIGKILLed in the middle of it: every alert is texted; a text
  goes out twice only for a job that was in flight at the kill through a gateway that cannot be
  asked (FastSMS). The time from the kill until the survivor has finished every job the dead
  one held is printed (its lease, 10 s, plus the sends).
- PostgreSQL stopped under a running receiver: 503 on /alert and /-/ready; started again:
  200, and the alert is texted, without a restart.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import yaml

from tests.postgres import PASSWORD, PostgresServer

from .conftest import Sandbox, stop
from .receiver import (
    NUMBERS,
    TOKEN,
    Alertmanager,
    Serve,
    am_alert,
    free_port,
    receiver_config,
    start_alertmanager,
    start_serve,
    unique,
    wait_until,
)

pytestmark = pytest.mark.e2e

DOC = Path(__file__).resolve().parents[2] / "docs" / "high-availability.md"
TO = NUMBERS[0]


def ha_alertmanager_yml(urls: list[str], token_file: Path) -> str:
    """The doc's alertmanager.yml with these receivers and test timings."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- test: ha-alertmanager.yml -->\n```\w*\n(.*?)```", text, re.DOTALL)
    assert match, "docs/high-availability.md has no block marked ha-alertmanager.yml"
    data = yaml.safe_load(match.group(1))
    route = data["route"]
    route["group_wait"], route["group_interval"] = "1s", "2s"
    hooks = data["receivers"][0]["webhook_configs"]
    assert len(hooks) == len(urls) == 2
    for hook, url in zip(hooks, urls, strict=True):
        hook["url"] = f"{url}/alert"
        hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    return yaml.safe_dump(data, sort_keys=False)


def start_pair(directory: Path, config: str) -> list[Alertmanager]:
    """Two Alertmanagers gossiping on loopback; returns once both see a ready cluster of two."""
    ports = [free_port(), free_port()]
    pair = []
    for i, (mine, peer) in enumerate([(ports[0], ports[1]), (ports[1], ports[0])]):
        pair.append(start_alertmanager(directory / f"am{i}", config, cluster=(
            f"--cluster.listen-address=127.0.0.1:{mine}",
            f"--cluster.advertise-address=127.0.0.1:{mine}",
            f"--cluster.peer=127.0.0.1:{peer}",
            "--cluster.peer-timeout=1s", "--cluster.gossip-interval=50ms",
            "--cluster.pushpull-interval=2s")))

    def ready() -> bool:
        for am in pair:
            status = requests.get(f"{am.url}/api/v2/status", timeout=5).json()["cluster"]
            if status["status"] != "ready" or len(status.get("peers") or []) != 2:
                return False
        return True

    wait_until(ready, 30, "the Alertmanager cluster", lambda: pair[0].log()[-2000:])
    return pair


class Cluster:
    """Two receivers on one PostgreSQL outbox, and an Alertmanager pair posting to both."""

    def __init__(self, tmp: Path, sandbox: Sandbox, url: str, via: str = "primary") -> None:
        def edit(data: dict[str, Any]) -> None:
            route = data["routes"]["sms-webhook"]
            route["to"], route["via"] = [TO], [via]
            data["server"]["outbox"] = url
            data["server"]["workers"] = 4

        self.config, self.env = receiver_config(tmp, sandbox, edit)
        self.tmp = tmp
        self.receivers = [start_serve(self.config, self.env, tmp / f"serve{i}.log")
                          for i in range(2)]
        token = tmp / "token"
        token.write_text(TOKEN, encoding="utf-8")
        self.pair = start_pair(tmp, ha_alertmanager_yml([r.url for r in self.receivers], token))

    def fire(self, names: list[str]) -> None:
        """As Prometheus does: every alert to every Alertmanager."""
        starts = datetime.now(UTC)
        alerts = [am_alert(name, starts) for name in names]
        for am in self.pair:
            for i in range(0, len(alerts), 100):
                am.post_alerts(alerts[i : i + 100])

    def logs(self) -> str:
        return "\n".join(r.log()[-2000:] for r in self.receivers)

    def close(self) -> None:
        for am in self.pair:
            stop(am.proc)
        for rx in self.receivers:
            if rx.proc.poll() is None:
                assert rx.terminate() == 0, rx.log()[-3000:]
        for rx in self.receivers:  # the password is nowhere in what they wrote
            assert PASSWORD not in rx.log() and quote(PASSWORD, safe="") not in rx.log()


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.fresh_database()


@pytest.fixture
def cluster(tmp_path: Path, fresh_sandbox: Sandbox, database: str) -> Iterator[Cluster]:
    made = Cluster(tmp_path, fresh_sandbox, database)
    try:
        yield made
    finally:
        made.close()


def texted(sandbox: Sandbox, run: str) -> Counter[str]:
    """Texts of this run per alert name (the first line of the doc's template names it)."""
    found = (re.search(rf"\b({run}x\d+)\b", m["text"]) for m in sandbox.inbox(to=TO))
    return Counter(m.group(1) for m in found if m)


def test_fifty_alerts_through_an_alertmanager_pair_are_texted_once_each(
        cluster: Cluster, fresh_sandbox: Sandbox) -> None:
    run = unique("Ha")
    names = [f"{run}x{i:03d}" for i in range(50)]
    cluster.fire(names)
    wait_until(lambda: len(texted(fresh_sandbox, run)) == 50, 60, "a text for every alert",
               cluster.logs)
    time.sleep(4)  # the second Alertmanager's notifications and any retry come after the first
    counts = texted(fresh_sandbox, run)
    accepted = [metric(r, "sms_notify_jobs_accepted_total") for r in cluster.receivers]
    duplicates = [metric(r, "sms_notify_jobs_duplicate_total") for r in cluster.receivers]
    sent = [metric(r, "sms_notify_messages_total") for r in cluster.receivers]
    print(f"\n50 alerts: {sum(counts.values())} texts for {len(counts)} alerts; per receiver: "
          f"jobs accepted {accepted}, duplicates {duplicates}, texts sent {sent}")
    assert set(counts) == set(names) and set(counts.values()) == {1}, counts
    # both were posted every alert and shared one dedup: whichever committed first took it (one
    # receiver may win every race: accepted [0, 50], duplicates [50, 0] is as right as 45/5)
    assert sum(accepted) == 50 and all(a + d >= 50 for a, d in zip(accepted, duplicates))


def metric(rx: Serve, name: str) -> float:
    """The sum of a counter's samples in the receiver's /metrics."""
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", rx.metrics(),
                                            re.MULTILINE))


def held_by(url: str, owner_pid: int) -> set[int]:
    """Jobs of the outbox still held by the process with this pid, pending or in flight."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, owner FROM jobs WHERE state IN ('pending', 'inflight')"
                            " AND owner != ''").fetchall()
    return {int(i) for i, owner in rows if str(owner).split("/")[1] == str(owner_pid)}


def states(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())


def in_flight_texts(url: str, owner_pid: int) -> set[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT text, owner FROM jobs WHERE state = 'inflight'").fetchall()
    return {str(t) for t, owner in rows if str(owner).split("/")[1] == str(owner_pid)}


STORM = 300
SLOW = 0.2  # the sandbox holds each FastSMS request this long: requests are in flight


@pytest.mark.parametrize(("gateway", "account"), [("fastsms", "primary"),
                                                  ("server2sms", "backup")])
def test_a_receiver_killed_in_a_storm_loses_nothing_and_repeats_only_the_unknowable(
        tmp_path: Path, fresh_sandbox: Sandbox, database: str, gateway: str, account: str
) -> None:
    """FastSMS cannot be asked: what the dead receiver had in flight is sent again. server2sms
    can: the survivor looks it up after the account's timeout, and nothing goes out twice."""
    fresh_sandbox.fault(gateway=gateway, kind="slow", delay=SLOW)
    cluster = Cluster(tmp_path, fresh_sandbox, database, via=account)
    try:
        run = unique("Storm")
        names = [f"{run}x{i:03d}" for i in range(STORM)]
        victim, survivor = cluster.receivers
        cluster.fire(names)
        wait_until(lambda: len(texted(fresh_sandbox, run)) >= STORM // 4, 60,
                   "a quarter texted", cluster.logs)
        victim.kill()
        killed = time.monotonic()
        held = held_by(database, victim.proc.pid)
        flying = in_flight_texts(database, victim.proc.pid)
        print(f"\n{gateway}: at the kill: outbox {states(database)}, held by the killed "
              f"receiver {len(held)} ({len(flying)} in flight)")
        wait_until(lambda: not held_by(database, victim.proc.pid), 90,
                   "the survivor taking over", survivor.log)
        taken = time.monotonic() - killed
        wait_until(lambda: len(texted(fresh_sandbox, run)) == STORM, 90,
                   "a text for every alert", lambda: survivor.log()[-3000:])
        done = time.monotonic() - killed
        wait_until(lambda: not {"pending", "inflight"} & set(states(database)), 60,
                   "an idle outbox", survivor.log)
        counts = texted(fresh_sandbox, run)
        twice = {name for name, n in counts.items() if n > 1}
        flying_names = {m.group(1) for t in flying if (m := re.search(rf"({run}x\d+)", t))}
        missing = set(names) - set(counts)
        print(f"{gateway}: storm of {STORM}: {sum(states(database).values())} jobs accepted, "
              f"{len(counts)} alerts texted in {sum(counts.values())} texts, duplicates "
              f"{len(twice)} (in flight at the kill {len(flying_names)}), missing "
              f"{len(missing)}; the dead one's jobs taken over {taken:.1f}s after the kill, "
              f"every alert texted {done:.1f}s after it")
        assert held and not missing, sorted(missing)[:10]
        assert twice <= flying_names, twice - flying_names
        assert max(counts.values()) <= 2
        if gateway == "server2sms":  # it can be asked: exactly once, in flight or not
            assert not twice, twice
        if flying:
            assert "took over" in survivor.log()
    finally:
        cluster.close()


def test_a_database_that_goes_away_answers_503_and_comes_back_by_itself(
        tmp_path: Path, fresh_sandbox: Sandbox, postgres: PostgresServer) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["routes"]["sms-webhook"]["to"] = [TO]
        data["server"]["outbox"] = postgres.fresh_url()

    config, env = receiver_config(tmp_path, fresh_sandbox, edit)
    rx: Serve = start_serve(config, env, tmp_path / "serve.log")
    try:
        from .test_receiver_crash import payload

        name = unique("Outage")
        postgres.stop()
        try:
            assert requests.get(rx.url + "/-/ready", timeout=30).status_code == 503
            answer = rx.post(payload(name), timeout=30)
            assert answer.status_code == 503, answer.text
            assert "postgresql://sms:****@127.0.0.1" in answer.json()["error"]
        finally:
            postgres.start()
        wait_until(lambda: requests.get(rx.url + "/-/ready", timeout=30).status_code == 200,
                   30, "ready again", rx.log)
        assert rx.post(payload(name)).status_code == 200
        wait_until(lambda: any(name in m["text"] for m in fresh_sandbox.inbox(to=TO)), 30,
                   "the text", rx.log)
        assert rx.terminate() == 0
        assert PASSWORD not in rx.log() and quote(PASSWORD, safe="") not in rx.log()
    finally:
        if rx.proc.poll() is None:
            rx.kill()
