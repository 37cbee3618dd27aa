"""The alert storm: 2,000 distinct alert groups posted to `sms-notify serve` at once, delivered
through one FastSMS account to the sandbox, with and without a 10 s gateway outage.

    python bench/storm.py [--groups 2000] [--recipients 1 5] [--outage 0 10] [--concurrency 50]

Each case starts a fresh sandbox and a fresh `serve` (its own outbox), then a bounded asyncio
client posts every group (a real Alertmanager 0.25 payload with its own group key and alert
name) over keep-alive connections. For an outage, the sandbox answers HTTP 503 to every FastSMS
request for the first N seconds of the storm. Reported per case:

- time to all accepted (the last 200) and to all delivered (the last text in the sandbox's
  inbox), from the first post;
- per-text latency, from its group's 200 to its arrival in the inbox: p50, p99, max;
- gateway requests: answered 200 (each carries up to the gateway's 500 recipients), and those
  made during the outage (503s);
- texts lost (a recipient of a group that never got it) and duplicated (got it twice);
- CPU seconds of serve (its delivery process included) and of the sandbox.

Run it from the repository root with the interpreter of the install to measure (a second
install, e.g. main's, gives the "before" column).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests
from common import command, machine, sandbox, started, table, url_for

HERE = Path(__file__).resolve().parent
PAYLOAD = HERE.parent / "tests" / "fixtures" / "alertmanager" / "am-0.25-firing.json"
READY = "sms-notify serve listening on "
TOKEN = "storm-token"
NAME = re.compile(r"Storm(\d{5})")


def numbers(count: int) -> list[str]:
    return [f"+4474009{i:05d}" for i in range(2, 2 + count)]


def payloads(groups: int, run: str) -> list[bytes]:
    """One firing group per index, alert name Storm00042, so each text says which it is."""
    base = json.loads(PAYLOAD.read_text())
    out = []
    for i in range(groups):
        data = copy.deepcopy(base)
        name = f"Storm{i:05d}"
        data["groupKey"] = f'{{}}:{{alertname="{name}",run="{run}"}}'
        data["groupLabels"] = {"alertname": name}
        data["commonLabels"] = {**data["commonLabels"], "alertname": name}
        data["alerts"] = [{**data["alerts"][0], "fingerprint": f"{run}{i:05d}",
                           "labels": {**data["alerts"][0]["labels"], "alertname": name}}]
        out.append(json.dumps(data).encode())
    return out


async def post_all(host: str, port: int, bodies: list[bytes], concurrency: int
                   ) -> tuple[dict[int, float], int]:
    """POST every body over `concurrency` keep-alive connections; (index -> wall time of its
    200, non-200 answers)."""
    todo = list(enumerate(bodies))
    todo.reverse()
    accepted: dict[int, float] = {}
    failed = 0

    async def worker() -> None:
        nonlocal failed
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while todo:
                index, body = todo.pop()
                writer.write(b"POST /alert/storm HTTP/1.1\r\nHost: %s\r\n"
                             b"Content-Type: application/json\r\nAuthorization: Bearer %s\r\n"
                             b"Content-Length: %d\r\n\r\n%s"
                             % (host.encode(), TOKEN.encode(), len(body), body))
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if status == 200:
                    accepted[index] = time.time()
                else:
                    failed += 1
                    todo.insert(0, (index, body))  # as Alertmanager would: again, later
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted, failed


def idle(url: str) -> bool:
    """Nothing pending or in flight in serve's outbox."""
    metrics = requests.get(f"{url}/metrics", timeout=10).text
    return all(re.search(rf"^sms_notify_outbox_{name} 0\.0$", metrics, re.M)
               for name in ("depth", "inflight"))


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and every process under it (serve's delivery process)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            stats[int(entry.name)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    stack = [pid]
    while stack:
        current = stack.pop()
        if current in stats:
            total += (int(stats[current][11]) + int(stats[current][12])) / ticks
        stack.extend(children.get(current, []))
    return total


def pid_listening(url: str) -> int:
    port = url.rsplit(":", 1)[1]
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True,
                         text=True).stdout
    match = re.search(r"pid=(\d+)", out)
    return int(match.group(1)) if match else 0


def run_case(groups: int, recipients: int, outage: float, concurrency: int, timeout: float
             ) -> dict[str, Any]:
    to = numbers(recipients)
    run = f"r{time.time_ns() % 10**9}"
    bodies = payloads(groups, run)
    with tempfile.TemporaryDirectory(prefix="sms-storm-") as tmp, ExitStack() as stack:
        box = stack.enter_context(sandbox("--credits", "1000000000"))
        config = Path(tmp) / "storm.yml"
        account = url_for(box, "fastsms", **{"from": "Alerts", "timeout": "10"})
        config.write_text(
            f"accounts:\n  primary: {account}\n"
            f"routes:\n  storm: {{to: {json.dumps(to)}, via: [primary]}}\n"
            f"server:\n  bearer_token: {TOKEN}\n  outbox: {Path(tmp) / 'outbox.sqlite'}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_NOTIFY_")}
        url = stack.enter_context(started(
            [command(), "serve", "--listen", "127.0.0.1:0", "--config", str(config)], READY, env))
        serve_pid, box_pid = pid_listening(url), pid_listening(box)
        cpu_before = cpu_seconds(serve_pid), cpu_seconds(box_pid)
        host, port = url.split("//")[1].rsplit(":", 1)
        if outage:
            requests.post(f"{box}/admin/faults", json={
                "gateway": "fastsms", "kind": "http_error", "status": 503, "seconds": outage,
            }, timeout=10).raise_for_status()
        start = time.time()
        accepted, refused = asyncio.run(post_all(host, int(port), bodies, concurrency))
        all_accepted = max(accepted.values())
        # serve's outbox says when it is done (the sandbox's inbox is the evidence, read once:
        # polling it would cost the sandbox a quarter of its CPU)
        while time.time() - all_accepted < timeout and not idle(url):
            time.sleep(0.2)
        time.sleep(1.0)  # a duplicate would come now
        messages = requests.get(f"{box}/inbox", params={"gateway": "fastsms"},
                                timeout=60).json()["messages"]
        cpu = cpu_seconds(serve_pid) - cpu_before[0], cpu_seconds(box_pid) - cpu_before[1]
        made = requests.get(f"{box}/admin/requests", params={"gateway": "fastsms"},
                            timeout=60).json()["requests"]
    seen = Counter((int(m.group(1)), msg["to"]) for msg in messages
                   if (m := NAME.search(msg["text"])))
    latencies = sorted(msg["at"] - accepted[int(m.group(1))] for msg in messages
                       if (m := NAME.search(msg["text"])) and int(m.group(1)) in accepted)
    delivered_at = max((msg["at"] for msg in messages), default=float("nan"))
    wanted = {(i, n) for i in range(groups) for n in to}
    return {
        "accepted": all_accepted - start,
        "delivered": delivered_at - start,
        "behind": delivered_at - all_accepted,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "ok_requests": sum(1 for r in made if r["http_status"] == 200),
        "outage_requests": sum(1 for r in made if r["http_status"] == 503),
        "outage_rate": sum(1 for r in made if r["http_status"] == 503) / outage if outage else 0,
        "lost": len(wanted - set(seen)),
        "duplicated": sum(n - 1 for n in seen.values() if n > 1),
        "refused": refused,
        "cpu_serve": cpu[0],
        "cpu_sandbox": cpu[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--recipients", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--outage", type=float, nargs="+", default=[0, 10],
                        help="seconds the gateway answers 503 from the storm's start")
    parser.add_argument("--concurrency", type=int, default=50, help="connections posting")
    parser.add_argument("--timeout", type=float, default=180,
                        help="seconds after the last accept to wait for every text")
    parser.add_argument("--json", action="store_true", help="print each case's figures as JSON")
    args = parser.parse_args()
    rows = []
    for recipients in args.recipients:
        for outage in args.outage:
            r = run_case(args.groups, recipients, outage, args.concurrency, args.timeout)
            if args.json:
                print(json.dumps({"recipients": recipients, "outage": outage, **r}), flush=True)
            rows.append([
                recipients, f"{outage:g} s" if outage else "none", f"{r['accepted']:.2f}",
                f"{r['delivered']:.2f}", f"{r['behind']:.2f}",
                f"{r['p50']:.2f} / {r['p99']:.2f} / {r['max']:.2f}", r["ok_requests"],
                f"{r['outage_requests']} ({r['outage_rate']:.0f}/s)" if outage else "-",
                r["lost"], r["duplicated"], f"{r['cpu_serve']:.1f} / {r['cpu_sandbox']:.1f}",
            ])
    print(f"storm: {args.groups} alert groups posted over {args.concurrency} connections to "
          f"serve, one FastSMS account to the sandbox ({machine()})\n")
    print(table(["recipients", "outage", "all accepted s", "all delivered s",
                 "delivered - accepted s", "latency p50 / p99 / max s", "requests 200",
                 "requests in outage", "lost", "duplicated", "CPU s serve / sandbox"], rows))


if __name__ == "__main__":
    main()
