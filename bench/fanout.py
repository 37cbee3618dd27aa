"""Fan-out: one alert to 1,000 recipients per gateway, against the sandbox.

    python bench/fanout.py [--recipients 1000]

For each gateway: the gateway requests made (goal: ceil(N / its per-request limit)) and the
seconds until every recipient is accepted (goal: under 2 s), through the core's deliver().
"""

from __future__ import annotations

import argparse
import logging
import math
import time

from common import machine, sandbox, sandbox_requests, table, url_for

from sms_notify.delivery import deliver
from sms_notify.manager import providers
from sms_notify.urls import parse

SENDER = "Alerts"  # FastSMS and 24x refuse a text without a sender


def numbers(count: int) -> list[str]:
    """Possible UK mobile numbers; none ends in the sandbox's special 0000 / 0001."""
    return [f"+4474001{i:05d}" for i in range(2, 2 + count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1000)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # numbers outside known ranges warn once each
    to = numbers(args.recipients)
    rows = []
    with sandbox("--credits", "1000000") as url:
        for scheme, provider in sorted(providers().items()):
            account = parse(url_for(url, scheme, **{"from": SENDER}), providers())
            start = time.perf_counter()
            receipts = deliver([account], "FIRING DiskFull db1: / at 97%", to)
            seconds = time.perf_counter() - start
            made = len(sandbox_requests(url, scheme))
            goal = math.ceil(args.recipients / provider.max_recipients)
            accepted = sum(r.ok for r in receipts)
            rows.append([scheme, provider.max_recipients, made, goal,
                         "yes" if made == goal else "NO", accepted, f"{seconds:.2f}",
                         "yes" if seconds < 2 and accepted == args.recipients else "NO"])
    print(f"fan-out: one text to {args.recipients} recipients per gateway ({machine()})\n")
    print(table(["gateway", "per request", "requests", "goal", "met", "accepted", "seconds",
                 "< 2 s"], rows))


if __name__ == "__main__":
    main()
