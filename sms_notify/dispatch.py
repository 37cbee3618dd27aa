"""The background dispatcher: delivers the outbox's jobs with the core's sending policy.

One scheduler thread reads due jobs, groups them by (account, text, max_segments) so one
gateway request carries as many recipients as the gateway takes, and marks a request's jobs
in flight and commits before it leaves (docs/design.md, Decision 1), for at most `workers`
requests on the wire and as many claimed ahead for the next free sender thread: a job is
"inflight" only while its request is on the wire or about to be. Each pass makes one request
per job; what follows is sms_notify.policy's, as for the one-shot commands, with the job's
max_age as the deadline: transient failures come back later with backoff, accounts fail over in
the route's order, recipient and request errors are dead letters at once.

Receivers that share an outbox (PostgreSQL, docs/design.md, Decision 14) each claim the due
jobs they plan, under a lease the outbox renews while the process lives; jobs in flight whose
lease ran out (their receiver died) are taken over by another and recovered as after a crash.

A job whose request has an unknown outcome (no answer, an answer that cannot be read) is never
sent again blindly: where the gateway can be asked, it is, once the account's timeout has passed
(an "ask" request in the same passes); elsewhere it moves on to the next account once, or ends
`unconfirmed` (docs/design.md, Decision 12).

Each account has a circuit breaker (sms_notify.policy.Breaker): while it fails with
`unavailable` or `rate_limited`, a request is admitted only as the one probe, after a backoff;
the other jobs for it are held (their next_at pushed to the next probe, so nobody re-reads them
meanwhile) or, where their route has another account, move on at once (policy.held). The first
success releases every held job at once, and the next pass batches them again.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeGuard

from .delivery import RetryPolicy, askable, chunks, lookup, submit
from .errors import Category, ProviderError
from .logs import event
from .manager import provider_for
from .model import VALIDITY_OPTION, Account, Receipt, Recipient
from .numbers import normalize
from .outbox import DAY, Job, Outbox, OutboxError
from .policy import Asked, Breaker, Decision, Outcome, Progress, Situation, Step, decide, held

if TYPE_CHECKING:
    from .receipts import Receipts

log = logging.getLogger("sms_notify.outbox")

CLAIM_LIMIT = 2000  # due jobs read in one pass
SHARED_CLAIM = 25  # due jobs claimed in one pass per sender, from an outbox other receivers
# share: what this one can send soon, so that the rest is theirs to take
LOOKUP_BATCH = 100  # jobs asked about in one look-up
PRUNE_EVERY = 600.0
TAKE_OVER_EVERY = 1.0  # seconds between looks for jobs a dead receiver left in flight
# How long the network keeps trying a text, where the gateway takes validity= and the account
# does not set it: a FIRING text that arrives a day late (the gateways' default) misleads.
DEFAULT_VALIDITY = 3600.0
A_NUMBER = Recipient("")

OnResult = Callable[[Job, Receipt | None, float], None]


@dataclass
class Task:
    """One gateway request: one text through one account to up to max_recipients jobs."""

    account: str
    text: str
    max_segments: int
    jobs: list[Job]
    ask: bool = False  # a look-up of texts whose send has an unknown outcome, not a send
    probe: bool = False  # the one request let through to an account whose breaker is open


@dataclass
class Recovery:
    """What start() found in flight after a crash."""

    found: int = 0  # the gateway has them: marked sent
    resent: int = 0  # the gateway said it has no trace: sent again, safely
    blind: int = 0  # the gateway cannot be asked: sent again, may arrive twice
    asking: int = 0  # the question failed: asked again as delivery asks (policy), not resent


def summary_text(folded: Mapping[str, int], limit: tuple[int, float]) -> str:
    """`+7 more alerts: HighLatency x4, DiskFull x3 (limit 20/1h)`."""
    total = sum(folded.values())
    keys = sorted(folded.items(), key=lambda kv: (-kv[1], kv[0]))
    listed = ", ".join(f"{k} x{n}" for k, n in keys)
    plural = "s" if total != 1 else ""
    return f"+{total} more alert{plural}: {listed} (limit {limit[0]}/{_span(limit[1])})"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class Dispatcher:
    """Sends the outbox's due jobs in the background until drained."""

    def __init__(
        self,
        outbox: Outbox,
        accounts: Mapping[str, Account],
        *,
        workers: int = 4,
        max_age: float = 6 * 3600,
        per_recipient: tuple[int, float] | None = None,
        region: str | None = None,
        on_result: OnResult | None = None,
        policy: RetryPolicy = RetryPolicy(),
        validity: float | None = DEFAULT_VALIDITY,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        poll: float = 1.0,
        receipts: Receipts | None = None,
    ) -> None:
        self.outbox = outbox
        self.feeds = outbox.feeds()  # change-feed cursors, in the outbox's own database
        self.accounts = {name: _with_validity(a, validity) for name, a in accounts.items()}
        self.workers = max(1, workers)
        # requests claimed ahead of a free sender, so no sender waits for the scheduler's
        # commit: a crash leaves them in flight though never sent, and recovery sends them
        # once (no gateway has a trace of them)
        self.ahead = self.workers
        self.max_age = max_age
        self.per_recipient = per_recipient
        self.region = region
        self.on_result = on_result
        self.policy = policy
        self.now = now
        self.sleep = sleep  # pauses of policy (an outbox that failed); tests make them instant
        self.rng = rng or random.Random()
        self.poll = poll  # longest the scheduler sleeps without a wake() (also re-reads the clock)
        self.receipts = receipts  # delivery reports (docs/design.md, Decision 15)
        self.recovery = Recovery()
        self._cond = threading.Condition()
        self._busy = 0
        self._woken = False
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._inbox: queue.SimpleQueue[Task | None] = queue.SimpleQueue()  # for the senders
        self._queue: deque[Task] = deque()  # planned requests waiting for a free sender
        self._pruned = 0.0
        self._looked = 0.0  # when the scheduler last looked for jobs to take over (monotonic)
        self._recovering: list[threading.Thread] = []
        self._breakers: dict[str, Breaker] = defaultdict(Breaker)  # by account name
        self._held: dict[str, dict[int, Job]] = defaultdict(dict)  # waiting for their breaker
        self._gate = threading.Lock()  # guards _breakers, _held and _unrecorded
        # outcomes the outbox could not take (a full disk): written again until they land
        self._unrecorded: dict[int, Job] = {}

    # Life cycle.
    def start(self) -> None:
        """Send in background threads, once what a crash left in flight is settled (docs/design.md,
        Decision 1). Where the gateway cannot be asked, that is at once: sent again. Where it
        can, the asking waits out the account's request timeout, in the background: a gateway
        may take a request after the process that sent it died, and asked at once it would
        have no trace of it yet. A receiver sharing the outbox does the same, while it runs, with
        the jobs of one that died."""
        orphans = self.outbox.take_over(self.now())
        self._looked = time.monotonic()
        self._threads = [threading.Thread(target=self._loop, name="sms-notify-dispatch",
                                          daemon=True)]
        self._threads += [threading.Thread(target=self._sender, name=f"sms-notify-send-{i}",
                                           daemon=True) for i in range(self.workers)]
        self._adopt(orphans)
        for thread in self._threads:
            thread.start()
        self.outbox.listen(self.wake)  # jobs another receiver accepted

    @property
    def running(self) -> bool:
        """The scheduler thread is alive and not stopping (the receiver's /-/ready)."""
        return bool(self._threads) and self._threads[0].is_alive() and not self._stopping

    def wake(self) -> None:
        """New jobs are in: look at once instead of at the next poll. A wake already pending
        covers them (the scheduler clears it before it reads the outbox), so a burst of
        webhooks does not pull the scheduler thread onto the GIL once per request."""
        if self._woken:
            return
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def drain(self, timeout: float) -> None:
        """Stop claiming and let the requests on the wire finish (SIGTERM), their outcomes
        recorded; requests claimed but not yet sent go back to pending. Only what is still
        unknown after `timeout` (a request still out, an outcome the outbox would not take) is
        left in flight for the next start()'s recovery."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads[:1] + self._recovering:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            while self._busy and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            left = self._busy
        for _ in self._threads[1:]:
            self._inbox.put(None)  # each sender ends after its current request
        while not self._record_kept() and time.monotonic() < deadline:
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        log.info("dispatcher drained: requests_left_in_flight=%d outcomes_not_recorded=%d",
                 left, len(self._unrecorded))

    def wait_idle(self, timeout: float) -> bool:
        """True once no job is due or in flight (tests, and serve's shutdown). A recovery
        still asking counts as busy: it turns jobs in flight into due ones between the two
        reads, which looked idle (20 recovered jobs left unsent by a test under load)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                busy = self._busy or any(t.is_alive() for t in self._recovering)
            if not busy and not self.outbox.due(self.now(), 1) and not self.outbox.stats().inflight:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def step(self) -> int:
        """One pass in the calling thread: every due job is sent, synchronously. Returns the
        number of requests made (tests and one-shot tools; start() runs passes in threads)."""
        self._record_kept()
        tasks, _ = self._plan()
        made = 0
        for task in tasks:
            if self._admit(task, self.now()):
                self._claim([task])
                self._run(task)
                made += 1
            else:
                self._hold([task], self.now())
        return made

    # Crash recovery.
    def _adopt(self, jobs: Sequence[Job]) -> None:
        """Recover jobs taken over: blind ones at once, the rest once the account's timeout has
        passed, in a thread of their own."""
        askable: list[Job] = []
        blind: list[Job] = []
        for job in jobs:
            (askable if self._askable(self.accounts.get(job.account_name)) else blind).append(job)
        self.recover(blind)
        if askable:
            thread = threading.Thread(target=self._recover_later, args=(askable,),
                                      name="sms-notify-recovery", daemon=True)
            self._recovering = [t for t in self._recovering if t.is_alive()] + [thread]
            thread.start()

    def _take_over(self) -> None:
        """Every TAKE_OVER_EVERY seconds, the jobs a receiver that died left in flight."""
        if time.monotonic() - self._looked < TAKE_OVER_EVERY:
            return
        self._looked = time.monotonic()
        self._adopt(self.outbox.take_over(self.now()))

    def recover(self, jobs: Sequence[Job] | None = None) -> Recovery:
        """Jobs left in flight by a process that died (by default: those the outbox lets this
        one take over): sent where the gateway has a trace of their reference, else sent again
        (docs/design.md, Decision 1). Adds to `recovery`; returns what this call found."""
        jobs = self.outbox.take_over(self.now()) if jobs is None else list(jobs)
        report = Recovery()
        if not jobs:
            return report
        now = self.now()
        by_account: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            by_account[job.account_name].append(job)
        found_jobs: list[Job] = []
        for name, group in by_account.items():
            account = self.accounts.get(name)
            found: dict[str, bool] | None = None
            if self._askable(account):
                found = {}
                try:
                    for part in chunks(group, LOOKUP_BATCH):
                        found.update(lookup(account, [r for j in part for r in j.references],
                                            feeds=self.feeds))
                except Exception as exc:  # noqa: BLE001 - cannot ask: resend as without look-up
                    log.warning("recovery look-up via %s failed: %s", account.label(), exc)
                    found = None
            counts = Counter[str]()
            for job in group:
                if found is not None and any(found.get(r) for r in job.references):
                    job.state, job.done_at, job.message_id = "sent", now, job.reference
                    job.check_at = self._first_check(job, now)
                    job.account = account.label() if account else name
                    found_jobs.append(job)
                    counts["found"] += 1
                elif found is None and self._askable(account):  # the question failed: ask
                    job.state, job.next_at, job.doubt = "pending", now, True  # again (policy)
                    counts["asking"] += 1
                else:
                    job.state, job.next_at = "pending", now
                    counts["resent" if found is not None else "blind"] += 1
            report.found += counts["found"]
            report.resent += counts["resent"]
            report.blind += counts["blind"]
            report.asking += counts["asking"]
            log.warning(
                "recovered in-flight jobs account=%s found_at_gateway=%d resend_after_lookup=%d"
                " resend_without_lookup=%d asked_again=%d%s", account.label() if account else name,
                counts["found"], counts["resent"], counts["blind"], counts["asking"],
                " (these may arrive twice)" if counts["blind"] else "",
            )
        self.outbox.save(jobs)
        for job in found_jobs:
            self._report(job, Receipt(Recipient(job.recipient, job.reference),
                                      message_id=job.reference, account=job.account), 0.0)
        before = self.recovery
        self.recovery = Recovery(before.found + report.found, before.resent + report.resent,
                                 before.blind + report.blind, before.asking + report.asking)
        return report

    @staticmethod
    def _askable(account: Account | None) -> TypeGuard[Account]:
        """Whether the gateway can say if it took a job's text (jobs are numbers)."""
        return account is not None and askable(account, A_NUMBER)

    def _recover_later(self, jobs: list[Job]) -> None:
        """Ask about `jobs` once their accounts' request timeout has passed since the start;
        nothing if the dispatcher stops first (they stay in flight for the next start)."""
        grace = max(self.accounts[j.account_name].timeout for j in jobs)
        log.info("in-flight jobs from before the restart: %d, looked up in %gs", len(jobs), grace)
        deadline = time.monotonic() + grace
        while self._pause_until(deadline):
            try:
                self.recover(jobs)
            except Exception as exc:  # noqa: BLE001 - the outbox cannot record it: try again
                if self._stopping:  # shutdown closed the outbox: the next start asks again
                    log.info("recovery left for the next start: %s", exc)
                    return
                log.warning("recovering in-flight jobs failed, again in 1s: %s", exc)
                deadline = time.monotonic() + 1.0
                continue
            self.wake()
            return

    def _pause_until(self, deadline: float) -> bool:
        """Wait until `deadline`; False if the dispatcher is stopping."""
        with self._cond:
            while not self._stopping and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            return not self._stopping

    # The scheduler.
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and self._busy >= self.workers + self.ahead:
                    self._cond.wait()
                if self._stopping:
                    return
                free = self.workers + self.ahead - self._busy
                self._woken = False
            batch: list[Task] = []
            waiting: list[Task] = []  # for an account whose breaker is open
            more = False
            try:
                self._record_kept()
                if not self._queue:  # plan again only once every planned request has left
                    tasks, more = self._plan()
                    self._queue.extend(tasks)
                    self._prune()
                    self._take_over()
                now = self.now()
                while self._queue and len(batch) < free:
                    task = self._queue.popleft()
                    (batch if self._admit(task, now) else waiting).append(task)
                self._claim(batch)
                more = self._hold(waiting, now) or more
            except Exception as exc:  # noqa: BLE001 - the scheduler must outlive a bad pass
                if isinstance(exc, OutboxError):
                    log.error("outbox unusable, retrying in 1s: %s", exc)
                else:
                    log.exception("dispatcher pass failed")
                self._queue.clear()  # still pending in the outbox: planned again
                batch, more = [], False
                self.sleep(1.0)
            for task in batch:
                with self._cond:
                    self._busy += 1
                self._inbox.put(task)
            if self._queue or more:
                continue
            with self._cond:
                if self._stopping:
                    return
                if self._woken:
                    continue
                try:
                    due = self.outbox.next_due()
                except OutboxError:
                    due = None
                wait = self.poll if due is None else min(self.poll, due - self.now())
                if wait > 0:
                    self._cond.wait(wait)

    def _sender(self) -> None:
        while (task := self._inbox.get()) is not None:
            try:
                if self._stopping:  # claimed ahead, never sent: pending again for the next start
                    self._release(task)
                else:
                    self._run(task)
            except Exception:  # noqa: BLE001
                log.exception("sending failed unexpectedly; jobs stay in flight until restart")
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _plan(self) -> tuple[list[Task], bool]:
        """Read due jobs: settle the expired and the folded, group the rest into requests.
        Returns the requests and whether more is due at once. The due jobs are claimed: held
        for this dispatcher until saved, so a receiver sharing the outbox plans others."""
        with self.outbox.planning():
            return self._plan_claimed()

    def _plan_claimed(self) -> tuple[list[Task], bool]:
        now = self.now()
        limit = self.workers * SHARED_CLAIM if self.outbox.shared else CLAIM_LIMIT
        due = self.outbox.claim(now, limit)
        if not due:
            return [], False
        changed: list[Job] = []
        new: list[Job] = []
        ended: list[Job] = []
        ready: list[Job] = []
        for job in due:
            if now >= job.created + self.max_age:  # unconfirmed where it may have gone out
                job.state = "unconfirmed" if job.doubt or job.unsure else "dead"
                job.done_at = now
                last = job.error or ("no answer recorded" if job.attempts else "never sent")
                job.error = f"expired after max_age ({_span(self.max_age)}): {last}"
                ended.append(job)
            elif job.kind == "summary" and not job.folded:
                job.state, job.done_at, job.error = "dropped", now, "summary: nothing folded"
                changed.append(job)
            elif job.account_name not in self.accounts:
                job.state, job.done_at = "dead", now
                job.error = f"request: unknown account {job.account_name!r}"
                ended.append(job)
            elif not job.recipient.startswith("+"):
                try:
                    job.recipient = normalize(job.recipient, self.region)
                    ready.append(job)
                except ProviderError as exc:
                    job.state, job.done_at, job.error = "dead", now, exc.describe()
                    ended.append(job)
            else:
                ready.append(job)
        ready = self._limit(ready, now, changed, new, ended)
        tasks = self._group(ready)
        self.outbox.save([*changed, *ended], new)
        for job in ended:
            self._log(job)
            self._report(job, None, 0.0)
        return tasks, len(due) >= limit or bool(new)

    def _claim(self, tasks: Sequence[Task]) -> None:
        """Mark jobs in flight and commit before their requests leave (docs/design.md,
        Decision 1). A look-up sends nothing, but its jobs are in flight too, so no other pass
        takes them; a crash meanwhile leaves them to the start's own look-up."""
        for task in tasks:
            for job in task.jobs:
                job.state = "inflight"
                if not task.ask:
                    job.attempts += 1
                    job.request_ref = task.jobs[0].reference  # what submit() sends as the request's
        jobs = [j for t in tasks for j in t.jobs]
        if jobs:
            self.outbox.save(jobs)

    def _group(self, jobs: Sequence[Job]) -> list[Task]:
        """Requests of up to the gateway's max_recipients, never one number twice in one: a
        number's next job of a kind goes in a later request than its last one. Jobs to ask
        about go in look-ups of their own."""
        groups: dict[tuple[str, str, int, bool], list[Task]] = {}
        sizes: dict[str, int] = {}
        last: dict[tuple[str, str, int, bool, str], int] = {}  # (kind, number) -> its request
        for job in jobs:
            key = (job.account_name, job.text, job.max_segments, job.doubt)
            if key[0] not in sizes:
                sizes[key[0]] = provider_for(self.accounts[key[0]].scheme).max_recipients
            tasks = groups.setdefault(key, [])
            start = last.get((*key, job.recipient), -1) + 1
            size = LOOKUP_BATCH if job.doubt else sizes[key[0]]
            index = next((i for i in range(start, len(tasks)) if len(tasks[i].jobs) < size),
                         len(tasks))
            if index == len(tasks):
                tasks.append(Task(key[0], key[1], key[2], [], ask=job.doubt))
            tasks[index].jobs.append(job)
            last[(*key, job.recipient)] = index
        return [t for tasks in groups.values() for t in tasks]

    def _limit(self, jobs: list[Job], now: float, changed: list[Job], new: list[Job],
               ended: list[Job]) -> list[Job]:
        """Per-recipient rate limit: beyond N texts in the window, alerts fold into one summary
        that goes out at once and again at the end of the window (docs/design.md, Decision 8)."""
        if not self.per_recipient:
            return jobs
        most, window = self.per_recipient
        counts: dict[str, int] = {}
        folded: dict[str, list[Job]] = defaultdict(list)
        out: list[Job] = []
        for job in jobs:
            if job.kind != "alert" or job.attempts > 0:
                out.append(job)
                continue
            r = job.recipient
            if r not in counts:
                counts[r] = self.outbox.recent(r, now - window)
            if counts[r] < most:
                counts[r] += 1
                out.append(job)
            else:
                folded[r].append(job)
        for recipient, jobs_ in folded.items():
            keys = Counter(j.summary_key or "alert" for j in jobs_)
            summary = self.outbox.open_summary(recipient)
            if summary is None:  # the recipient overflows now: summary at once, and a tail
                first = jobs_[0]
                base = Job(first.route, recipient, "", first.via, kind="summary", next_at=now)
                summary = replace(base, folded=dict(keys))
                new.extend([summary, replace(base, next_at=now + window)])
            else:
                summary.folded = dict(Counter(summary.folded) + keys)
                changed.append(summary)
            summary.text = summary_text(summary.folded, self.per_recipient)
            for job in jobs_:
                job.state, job.done_at = "dropped", now
                job.error = (f"rate limited: over {most} texts in {_span(window)}, "
                             "folded into a summary")
                ended.append(job)
        return out

    # The senders.
    def _run(self, task: Task) -> None:
        """One request (or look-up), its outcome recorded at once."""
        account = self.accounts[task.account]
        started = time.monotonic()
        outcomes: list[tuple[Job, Receipt | None, Outcome]] = (
            self._look_up(account, task) if task.ask else self._send(account, task)
        )
        seconds = time.monotonic() - started
        now = self.now()
        seed = self.rng.random()  # one jitter for the request: its jobs stay together
        for job, receipt, outcome in outcomes:
            self._settle(job, outcome, receipt, account, now, seed)
        self._record(task.jobs)
        if not task.ask:
            self._breaker_outcome(task, [o for _, _, o in outcomes], now, seed)
        for job, receipt, _ in outcomes:
            self._log(job)
            if receipt is not None or job.state in ("sent", "dead", "unconfirmed"):
                self._report(job, receipt, seconds if receipt is not None else 0.0)

    def _release(self, task: Task) -> None:
        """A claimed request that never left (drain): its jobs pending again, as before."""
        for job in task.jobs:
            job.state = "pending"
            if not task.ask:
                job.attempts -= 1
        self._record(task.jobs)

    # Outcomes the outbox cannot take now (a full disk, a lock held too long).
    def _record(self, jobs: Sequence[Job]) -> None:
        """Record jobs that were in flight; if the outbox keeps refusing, keep them in memory
        and write them again at every pass and at drain until it takes them. Left in flight,
        a clean restart would send them again."""
        error = self._save_retrying(jobs)
        if error is None:
            return
        with self._gate:
            for job in jobs:
                self._unrecorded[job.id] = job
        log.error("cannot record outcomes, kept in memory and written again until the outbox "
                  "takes them: jobs=%d: %s", len(jobs), error)

    def _record_kept(self) -> bool:
        """Write the outcomes kept by `_record`; True once none is left. Only jobs in flight
        in the outbox are kept, and no pass plans those: nothing newer can be overwritten."""
        with self._gate:
            jobs = list(self._unrecorded.values())
        if not jobs:
            return True
        try:
            self.outbox.save(jobs)
        except OutboxError:
            return False
        with self._gate:
            for job in jobs:
                if self._unrecorded.get(job.id) is job:
                    del self._unrecorded[job.id]
        log.warning("outcomes recorded once the outbox took them again: jobs=%d", len(jobs))
        return True

    def _save_retrying(self, jobs: Sequence[Job]) -> OutboxError | None:
        """Save, trying again after short pauses; the last error if the outbox never took it."""
        for delay in (0.1, 0.5, 2.0, 0.0):
            try:
                self.outbox.save(jobs)
                return None
            except OutboxError as exc:
                if not delay:
                    return exc
                self.sleep(delay)
        return None

    # The breakers.
    def _admit(self, task: Task, now: float) -> bool:
        """Whether `task` may go now: a look-up always; a send unless its account's breaker
        is open, where only the probe goes."""
        if task.ask:
            return True
        with self._gate:
            breaker = self._breakers[task.account]
            task.probe = breaker.open
            if not breaker.admit(now):
                return False
            if task.account in self._held:  # planned again: no longer the breaker's to release
                for job in task.jobs:
                    self._held[task.account].pop(job.id, None)
        return True

    def _hold(self, tasks: Sequence[Task], now: float) -> bool:
        """The jobs of tasks whose account's breaker is open: each moves on to its route's next
        account, or waits for the next probe (policy.held). True if any moved on."""
        jobs: list[Job] = []
        waiting: list[tuple[str, Job]] = []
        with self._gate:  # a probe's outcome cannot release them before they are saved
            for task in tasks:
                account = self.accounts[task.account]
                breaker = self._breakers[task.account]
                # while the probe is out, wait at most its timeout: its outcome releases them
                until = now + account.timeout if breaker.probing else breaker.until
                for job in task.jobs:
                    progress = self._progress(job)
                    decision = held(progress, self._situation(job, account, now, 0.5), until)
                    self._apply(job, progress, decision, None, now)
                    jobs.append(job)
                    if job.state == "pending" and job.account_name == task.account:
                        waiting.append((task.account, job))
            if jobs:
                self.outbox.save(jobs)
            for name, job in waiting:
                self._held[name][job.id] = job
        moved = sum(job.state == "pending" for job in jobs) > len(waiting)  # to another account
        for job in jobs:
            if job.state != "pending":  # no time left to wait: given up, with the last reason
                self._log(job)
                self._report(job, None, 0.0)
        return moved

    def _breaker_outcome(self, task: Task, outcomes: Sequence[Outcome], now: float,
                         seed: float) -> None:
        """Record a send's outcome on its account's breaker (a success: anything answered
        but unavailable or rate_limited); once the probe's outcome is in, the jobs waiting for
        it are due again: at once if it worked, else at the next probe."""
        failed = not any(o is None for o in outcomes) and any(
            isinstance(o, ProviderError) and o.transient for o in outcomes)
        with self._gate:
            breaker = self._breakers[task.account]
            was_open = breaker.open
            again = [j.next_at for j in task.jobs
                     if j.state == "pending" and j.account_name == task.account]
            breaker.record(failed, task.probe, now, self.policy, seed,
                           min(again, default=float("inf")))
            if not (task.probe or (was_open and not breaker.open)):
                return
            waiting = list(self._held.pop(task.account, {}).values())
            for job in waiting:
                job.next_at = max(now, breaker.until)
            if waiting and (error := self._save_retrying(waiting)) is not None:
                log.error("cannot release jobs waiting for their account: %s", error)
        if waiting and not breaker.open:
            log.info(event("account_recovered", account=task.account, released=len(waiting)))
            self.wake()

    def _send(self, account: Account, task: Task) -> list[tuple[Job, Receipt | None, Outcome]]:
        recipients = [Recipient(j.recipient, reference=j.reference) for j in task.jobs]
        push = self.receipts.push_url(task.account) if self.receipts else ""
        try:
            receipts = submit(account, recipients, task.text, max_segments=task.max_segments,
                              receipt_url=push)
        except Exception as exc:  # noqa: BLE001 - never leave a job in flight while we run
            log.exception("submit via %s failed", account.label())
            error = ProviderError(Category.UNAVAILABLE, f"internal error: {exc!r}",
                                  unknown_outcome=True)
            receipts = [Receipt(r, error=error, account=account.label(), parts=0)
                        for r in recipients]
        by_ref = {r.recipient.reference: r for r in receipts}
        out: list[tuple[Job, Receipt | None, Outcome]] = []
        for job in task.jobs:
            receipt = by_ref.get(job.reference) or Receipt(
                Recipient(job.recipient, job.reference), parts=0, account=account.label(),
                error=ProviderError(Category.UNAVAILABLE, "no receipt for this recipient",
                                    unknown_outcome=True),
            )
            job.request_ref = receipt.request_ref or job.request_ref
            out.append((job, receipt, receipt.error))
        return out

    def _look_up(self, account: Account, task: Task) -> list[tuple[Job, Receipt | None, Outcome]]:
        """Ask the gateway about jobs whose send had an unknown outcome."""
        try:
            found = lookup(account, [r for j in task.jobs for r in j.references], feeds=self.feeds)
        except Exception as exc:  # noqa: BLE001 - cannot tell: the policy decides
            log.warning("look-up via %s failed: %s", account.label(), exc)
            return [(job, None, Asked.FAILED) for job in task.jobs]
        out: list[tuple[Job, Receipt | None, Outcome]] = []
        for job in task.jobs:
            if any(found.get(r) for r in job.references):
                receipt = Receipt(Recipient(job.recipient, job.reference),
                                  message_id=job.reference, account=account.label(),
                                  request_ref=job.request_ref, parts=0)
                out.append((job, receipt, Asked.FOUND))
            else:
                out.append((job, None, Asked.NO_TRACE))
        return out

    def _settle(self, job: Job, outcome: Outcome, receipt: Receipt | None, account: Account,
                now: float, seed: float) -> None:
        """What one outcome means for a job, as sms_notify.policy decides it for every caller."""
        if receipt is not None:
            job.account = receipt.account or account.label()
            if receipt.error is not None:
                job.error = receipt.error.describe()
        progress = self._progress(job)
        decision = decide(progress, outcome, self._situation(job, account, now, seed))
        self._apply(job, progress, decision, receipt, now)

    @staticmethod
    def _progress(job: Job) -> Progress:
        return Progress(job.account_index, job.account_attempts, job.attempts, job.refused,
                        job.unsure, job.doubt)

    def _situation(self, job: Job, account: Account, now: float, seed: float) -> Situation:
        return Situation(
            accounts=len(job.via), askable=self._askable(account), timeout=account.timeout,
            now=now, deadline=job.created + self.max_age, policy=self.policy,
            rng=random.Random(seed),
        )

    def _apply(self, job: Job, progress: Progress, decision: Decision, receipt: Receipt | None,
               now: float) -> None:
        """A decision of sms_notify.policy, written into the job."""
        job.account_index, job.account_attempts = progress.account, progress.tries
        job.refused, job.unsure, job.doubt = progress.refused, progress.unsure, progress.ask
        if decision.step is Step.SENT:
            job.state, job.done_at, job.error = "sent", now, ""
            job.message_id = (receipt.message_id if receipt else "") or job.reference
            job.check_at = self._first_check(job, now)
        elif decision.step in (Step.DEAD, Step.UNCONFIRMED):  # with the last reason
            job.state, job.done_at = str(decision.step), now
        else:
            job.state, job.next_at = "pending", now + decision.pause

    def _first_check(self, job: Job, now: float) -> float:
        """When to ask what became of a job sent now (0: never; docs/design.md, Decision 15)."""
        return self.receipts.first_check(job.account_name, now) if self.receipts else 0.0

    def _prune(self) -> None:
        now = self.now()
        if now - self._pruned < PRUNE_EVERY:
            return
        self._pruned = now
        keep = max(DAY, getattr(self.outbox, "dedup_window", 0.0),
                   self.per_recipient[1] if self.per_recipient else 0.0)
        gone = self.outbox.prune(now - keep)
        if gone:
            log.info("outbox pruned rows=%d", gone)

    def _log(self, job: Job) -> None:
        """One line per outcome; dead letters and unconfirmed texts at WARNING (docs/design.md,
        Decision 16)."""
        level = logging.WARNING if job.state in ("dead", "unconfirmed") else logging.INFO
        log.log(level, event("job", job=job.id, route=job.route, to=job.recipient,
                             state=job.state, attempts=job.attempts,
                             account=job.account or job.account_name, id=job.message_id or "-",
                             error=job.error or "-"))

    def _report(self, job: Job, receipt: Receipt | None, seconds: float) -> None:
        if self.on_result is None:
            return
        try:
            self.on_result(job, receipt, seconds)
        except Exception:  # noqa: BLE001 - metrics must not stop delivery
            log.exception("on_result callback failed")


def _with_validity(account: Account, validity: float | None) -> Account:
    """The account with `validity` where its gateway takes one and the account sets none."""
    if not validity or VALIDITY_OPTION in account.options:
        return account
    try:
        longest = provider_for(account.scheme).max_validity
    except Exception:  # noqa: BLE001 - an unknown scheme: its jobs die with a clear reason
        return account
    if not longest:
        return account
    return replace(account, options={**account.options,
                                     VALIDITY_OPTION: f"{min(validity, longest):g}"})

