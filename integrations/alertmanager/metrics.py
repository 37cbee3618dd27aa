"""Prometheus metrics of the receiver, on a registry of its own (never the global default, so
two apps in one process, as in tests and the demo, do not collide).

Labels are only names from the config (routes, accounts, providers) and fixed words: never a
secret, a number or anything a request chose (an unknown receiver is counted as "(unknown)").
Outbox gauges are read from outbox.stats() at scrape time, so they cannot drift.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sms_notify.outbox import FINISHED

log = logging.getLogger("sms_notify.alertmanager")

UNKNOWN_ROUTE = "(unknown)"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HANDSET_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class _OutboxCollector(Collector):
    """Depth, age of the oldest pending alert, in-flight, dead and unconfirmed jobs, read when
    scraped."""

    def __init__(self, outbox: Any) -> None:
        self.outbox = outbox

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            stats = self.outbox.stats()
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail with the outbox
            log.warning("event=outbox_stats_failed error=%s", type(exc).__name__)
            return
        yield GaugeMetricFamily("sms_notify_outbox_depth",
                                "Jobs waiting to be sent", stats.depth)
        yield GaugeMetricFamily(
            "sms_notify_outbox_oldest_pending_age_seconds",
            "Age of the oldest alert text not sent yet (a rate-limit summary waiting for the "
            "end of its window is not counted)", stats.oldest_pending_age)
        yield GaugeMetricFamily("sms_notify_outbox_inflight",
                                "Jobs whose gateway request is under way", stats.inflight)
        yield GaugeMetricFamily("sms_notify_outbox_sent", "Jobs sent, kept in the outbox",
                                stats.sent)
        yield GaugeMetricFamily("sms_notify_dead_letters",
                                "Jobs that failed for good (see the log for the reason)",
                                stats.dead)
        yield GaugeMetricFamily("sms_notify_unconfirmed",
                                "Jobs given up with an unknown outcome: the gateway may have "
                                "sent them (see the log)", stats.unconfirmed)


class _HealthCollector(Collector):
    """1 for each account failing now (auth, credit, sender, unavailable), else 0."""

    def __init__(self, health: Any, providers: Mapping[str, str]) -> None:
        self.health = health
        self.providers = providers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        failing = self.health.failing()
        family = GaugeMetricFamily(
            "sms_notify_account_failing", "1 while an account's sends fail with auth, credit, "
            "sender or unavailable (the log says why)", labels=["provider", "account"])
        for account, provider in sorted(self.providers.items()):
            family.add_metric([provider, account], 1.0 if account in failing else 0.0)
        yield family


class Metrics:
    """The receiver's counters and histograms; `on_result` is the dispatcher's callback."""

    def __init__(self, outbox: Any, accounts: Mapping[str, Any], health: Any = None,
                 routes: Iterable[str] = ()) -> None:
        disable_created_metrics()  # the *_created series only double what a scrape shows
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[Any, ...], Any] = {}
        self._providers = {name: getattr(a, "scheme", "") for name, a in accounts.items()}
        self.webhooks = Counter(
            "sms_notify_webhooks", "Webhook requests by route and HTTP status code",
            ["route", "code"], registry=self.registry)
        self.jobs = Counter(
            "sms_notify_jobs_accepted", "Jobs written to the outbox by route", ["route"],
            registry=self.registry)
        self.duplicates = Counter(
            "sms_notify_jobs_duplicate", "Jobs dropped as duplicates inside dedup_window",
            ["route"], registry=self.registry)
        self.messages = Counter(
            "sms_notify_messages", "Texts by provider, account and outcome (sent, unconfirmed "
            "or the error category)", ["provider", "account", "outcome"], registry=self.registry)
        self.parts = Counter(
            "sms_notify_message_parts", "SMS parts by provider, account and outcome",
            ["provider", "account", "outcome"], registry=self.registry)
        self.latency = Histogram(
            "sms_notify_send_seconds", "Time of one gateway send, by provider and account",
            ["provider", "account"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.finished = Counter(
            "sms_notify_jobs_finished", "Jobs that ended, by route and state: sent, dead (failed "
            "for good), dropped (folded into a rate-limit summary) or unconfirmed",
            ["route", "state"], registry=self.registry)
        # Closing the loop (docs/design.md, Decision 15).
        self.receipts = Counter(
            "sms_notify_receipts", "Delivery reports recorded, by provider, account and what "
            "became of the text (delivered, undelivered, expired, unknown)",
            ["provider", "account", "state"], registry=self.registry)
        self.handset = Histogram(
            "sms_notify_delivery_seconds", "Time from the gateway taking a text to the handset "
            "getting it (the gateway's time where it reports one, else when the report was "
            "read), by provider and account", ["provider", "account"], buckets=HANDSET_BUCKETS,
            registry=self.registry)
        self.replies = Counter(
            "sms_notify_replies", "Replies by account and outcome (acknowledged, resolved, "
            "failed, not_ack, unknown_number, no_page, duplicate, rate_limited)",
            ["account", "outcome"], registry=self.registry)
        self.escalations = Counter(
            "sms_notify_escalation_texts", "Texts to escalation numbers, by route",
            ["route"], registry=self.registry)
        self.inbound_requests = Counter(
            "sms_notify_inbound_requests", "Requests gateways made to /receipts and /inbound, "
            "by endpoint and HTTP status code", ["endpoint", "code"], registry=self.registry)
        for route in routes:  # at 0 from the start: increase() misses a series' first sample
            for state in FINISHED:
                self._child(self.finished, route, state)
        self.registry.register(_OutboxCollector(outbox))
        if health is not None:
            self.registry.register(_HealthCollector(health, self._providers))

    def _child(self, metric: Any, *labels: str) -> Any:
        """A labelled series, looked up once: `labels()` takes a lock and builds a key on every
        call, and the webhook path counts three series per request."""
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def webhook(self, route: str, code: int) -> None:
        self._child(self.webhooks, route, str(code)).inc()

    def accepted(self, route: str, jobs: int, duplicates: int) -> None:
        """Jobs a webhook wrote to the outbox, and those it dropped as duplicates."""
        self._child(self.jobs, route).inc(jobs)
        if duplicates:
            self._child(self.duplicates, route).inc(duplicates)

    def on_result(self, job: Any, receipt: Any, seconds: float) -> None:
        """A send finished (receipt) or a job died without one (receipt None)."""
        try:
            account = (getattr(receipt, "account", "") or getattr(job, "account", "")
                       or "-") if receipt is not None else (getattr(job, "account", "") or "-")
            provider = self._providers.get(account, "-")
            if receipt is None:
                outcome = str(getattr(job, "state", "") or "dead")
                parts = 0
            elif getattr(job, "state", "") == "unconfirmed":
                outcome, parts = "unconfirmed", 0
            elif receipt.error is None:
                outcome, parts = "sent", int(receipt.parts or 1)
            else:
                outcome, parts = str(receipt.error.category), 0
            self.messages.labels(provider, account, outcome).inc()
            if parts:
                self.parts.labels(provider, account, outcome).inc(parts)
            if receipt is not None and seconds >= 0:
                self.latency.labels(provider, account).observe(seconds)
            state = str(getattr(job, "state", ""))
            if state in FINISHED:
                self._child(self.finished, str(getattr(job, "route", "") or "-"), state).inc()
        except Exception:  # noqa: BLE001 - metrics must never break delivery
            log.exception("event=metrics_failed")

    def report(self, job: Any, report: Any, seconds: float | None) -> None:
        """A delivery report was recorded (sms_notify.receipts)."""
        account = str(getattr(job, "account_name", "") or "-")
        provider = self._providers.get(account, "-")
        self._child(self.receipts, provider, account, str(report.state)).inc()
        if seconds is not None:
            self._child(self.handset, provider, account).observe(seconds)

    def reply(self, account: str, outcome: str) -> None:
        self._child(self.replies, account, str(outcome)).inc()

    def escalated(self, route: str, texts: int) -> None:
        self._child(self.escalations, route).inc(texts)

    def inbound(self, endpoint: str, code: int) -> None:
        self._child(self.inbound_requests, endpoint, str(code)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
