"""What became of each text at the handset, recorded once per job; a text the handset never got
goes again through the route's next account (docs/design.md, Decision 15).

Reports come two ways. A gateway that pushes them (server2sms calls the URLs a send gives) calls
`serve`'s /receipts/ACCOUNT, whose requests `pushed` reads. A gateway that answers status queries
(FastSMS, 24x, MyMobileAPI's feed read on from its stored cursor) is asked: a sent job gets a
`check_at` when the dispatcher records it sent, and `check` asks about the jobs whose time has
come, a few seconds after the send and then at growing intervals (CHECKS), until a report is
final or the text's window ends (its validity and a MARGIN): then it is recorded `unknown`. A job
through an account that pushes is asked (or recorded unknown) only at the end of its window, if
no push came.

`undelivered` and `expired` send the text again, as a new job over the accounts after the one
that took it; with none left that is logged. Writing the report and adding that job is one
transaction that happens once per job, so a report pushed twice, or pushed and asked for, acts
once.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from .errors import ProviderError
from .logs import event
from .manager import gateway, provider_for
from .model import Account, DeliveryReport, Push, Receipt, Recipient
from .outbox import Job, Outbox

if TYPE_CHECKING:
    from .config import Config

log = logging.getLogger("sms_notify.receipts")

CHECKS = (5.0, 30.0, 120.0, 600.0, 1800.0)  # seconds after the send when a gateway is asked
MARGIN = 600.0  # after a text's validity, how long its report may still take
DEFAULT_WINDOW = 3600.0  # the validity assumed where an account sets none
BATCH = 100  # texts in one question to a gateway
DUE_LIMIT = 1000  # jobs read in one pass
RESEND = ("undelivered", "expired")  # the handset never got it

# What a recorded report is told to: the job, its report, and seconds from the send to the
# handset (None unless it was delivered).
OnReport = Callable[[Job, DeliveryReport, float | None], None]


class Receipts:
    """Delivery reports for the jobs of `serve`'s outbox."""

    def __init__(
        self, outbox: Outbox, accounts: Mapping[str, Account], *, public_url: str = "",
        secret: str = "", on_report: OnReport | None = None,
        on_resend: Callable[[], None] | None = None, now: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.accounts = accounts
        self.public_url = public_url.rstrip("/")
        self.secret = secret
        self.on_report = on_report
        self.on_resend = on_resend  # new jobs are in (the dispatcher's wake)
        self.now = now

    @classmethod
    def of(cls, config: Config, outbox: Outbox, accounts: Mapping[str, Account], *,
           on_report: OnReport | None = None, on_resend: Callable[[], None] | None = None
           ) -> Receipts:
        """The receipts of `serve`'s config: where gateways push (server.public_url, guarded
        by server.inbound_secret). `accounts` as the dispatcher has them (with their
        validity), for the windows."""
        return cls(outbox, accounts, public_url=config.server.public_url,
                   secret=config.server.inbound_secret or "", on_report=on_report,
                   on_resend=on_resend)

    def capabilities(self, name: str) -> frozenset[str]:
        account = self.accounts.get(name)
        return provider_for(account.scheme).capabilities if account else frozenset()

    def pushes(self, name: str) -> bool:
        """Whether the account's gateway pushes its reports to us."""
        return bool(self.public_url and self.secret) and "receipt_push" in self.capabilities(name)

    def push_url(self, name: str) -> str:
        """Where the account's gateway is to push each text's report; "" if it is not to."""
        if not self.pushes(name):
            return ""
        account, secret = quote(name, safe=""), quote(self.secret, safe="")
        return f"{self.public_url}/receipts/{account}?auth={secret}"

    def window(self, name: str) -> float:
        """How long after a send its report may come: the validity, and a margin."""
        account = self.accounts.get(name)
        return ((account.validity if account else None) or DEFAULT_WINDOW) + MARGIN

    def first_check(self, name: str, sent: float) -> float:
        """When to ask about a text the account just sent (0: never): soon where its gateway
        is asked, at the end of its window where it pushes."""
        if self.pushes(name):
            return sent + self.window(name)
        return sent + CHECKS[0] if "receipts" in self.capabilities(name) else 0.0

    def next_check(self, job: Job, now: float) -> float:
        """The next time to ask about a job after asking now, or 0 once its window is over."""
        age, end = now - job.done_at, job.done_at + self.window(job.account_name)
        if self.pushes(job.account_name) or now >= end:
            return 0.0
        later = [job.done_at + c for c in CHECKS if c > age]
        return min(later[0], end) if later else end

    # Asking.
    def check(self) -> int:
        """Ask the gateways about every job whose check_at has come; the reports recorded."""
        now = self.now()
        by_account: dict[str, list[Job]] = defaultdict(list)
        for job in self.outbox.checks_due(now, DUE_LIMIT):
            by_account[job.account_name].append(job)
        recorded = 0
        for name, jobs in by_account.items():
            for start in range(0, len(jobs), BATCH):
                recorded += self._ask(name, jobs[start : start + BATCH], now)
        return recorded

    def _ask(self, name: str, jobs: list[Job], now: float) -> int:
        account = self.accounts.get(name)
        reports: list[DeliveryReport] = []
        if account is not None and "receipts" in self.capabilities(name):
            from .feeds import feed_for

            texts = [Receipt(Recipient(j.recipient, j.reference), message_id=j.message_id,
                             account=name, request_ref=j.request_ref) for j in jobs]
            feed = feed_for(account, provider_for(account.scheme), self.outbox.feeds())
            try:
                reports = gateway(account.scheme).receipts(account, texts, feed)
            except ProviderError as exc:
                log.info(event("receipts_not_read", account=name, texts=len(jobs),
                               error=exc.describe()))
        found = match(jobs, reports)
        later = []
        recorded = 0
        for job in jobs:
            report = found.get(job.id)
            if report is None:
                job.check_at = self.next_check(job, now)
                if job.check_at:
                    later.append(job)
                    continue
                report = DeliveryReport("unknown", job.message_id, job.reference,
                                        detail="no report within its window")
            recorded += self.record(job, report, now)
        self.outbox.record_checks(later)
        return recorded

    # Pushed.
    def pushed(self, name: str, push: Push) -> int:
        """Record the reports a request the account's gateway pushed carries; how many were
        new. Raises ProviderError for a request that is not such a report."""
        account = self.accounts[name]
        reports = gateway(account.scheme).receipt_push(account, push)
        keys = [k for r in reports for k in (r.reference, r.message_id) if k]
        jobs = [j for j in self.outbox.sent_jobs(list(dict.fromkeys(keys)))
                if j.account_name == name]
        found = match(jobs, reports)
        now = self.now()
        return sum(self.record(job, found[job.id], now) for job in jobs if job.id in found)

    # Recording.
    def record(self, job: Job, report: DeliveryReport, now: float) -> bool:
        """Write one job's report, once, with its resend where the handset never got it."""
        job.receipt, job.check_at = report.state, 0.0
        job.receipt_at = report.at or now
        resend = self.resend(job, now) if report.state in RESEND else None
        if not self.outbox.record_receipt(job, resend):
            return False
        log.log(logging.WARNING if report.state in RESEND else logging.INFO, event(
            "receipt", job=job.id, route=job.route, to=job.recipient, state=report.state,
            account=job.account_name, detail=report.detail or "-",
            resent=f"job {resend.id} via {resend.via[0]}" if resend else "-"))
        if report.state in RESEND and resend is None:
            log.warning(event("not_resent", job=job.id, to=job.recipient,
                              reason=f"no account after {job.account_name}"))
        if self.on_report is not None:
            seconds = max(0.0, job.receipt_at - job.done_at) if report.state == "delivered" \
                else None
            try:
                self.on_report(job, report, seconds)
            except Exception:  # noqa: BLE001 - metrics must not stop the recording
                log.exception("on_report callback failed")
        if resend is not None and self.on_resend is not None:
            self.on_resend()
        return True

    @staticmethod
    def resend(job: Job, now: float) -> Job | None:
        """The text again, over the route's accounts after the one that took it; None when
        that was the last."""
        rest = job.via[job.account_index + 1:]
        if not rest:
            return None
        return Job(job.route, job.recipient, job.text, rest, job.max_segments,
                   summary_key=job.summary_key, kind=job.kind, page=job.page, created=now,
                   next_at=now)


def match(jobs: Sequence[Job], reports: Sequence[DeliveryReport]) -> dict[int, DeliveryReport]:
    """Job id -> its report: by our reference, else by the gateway's message id (24x gives one
    id, and one report, for every number of a send)."""
    by_reference = {r.reference: r for r in reports if r.reference}
    by_id = {r.message_id: r for r in reports if r.message_id}
    found: dict[int, DeliveryReport] = {}
    for job in jobs:
        report = by_reference.get(job.reference) or (
            by_id.get(job.message_id) if job.message_id else None)
        if report is not None:
            found[job.id] = report
    return found
