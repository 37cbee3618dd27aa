"""The dispatcher in a process of its own, for `serve`: delivering must not share a core (and
CPython's GIL) with accepting webhooks.

`serve` keeps the outbox file, its lock and the webhooks; a child process started with
multiprocessing's spawn opens the same SQLite file (WAL: readers and one writer at a time,
across processes) and runs the Dispatcher on it. Between the two:

- wakes: one byte down a pipe when a webhook committed new jobs (a full pipe is a wake already
  pending);
- a control connection: serve says `drain` (SIGTERM) and `reopen` (serve put a deleted or
  replaced outbox file back), and its end of file says serve died; the child says `started` and
  sends the dispatcher's results in batches, which serve counts (metrics, account health) as
  if the dispatcher ran inside it, and so the delivery reports it records.

The child also asks the gateways what became of the texts it sent (sms_notify.receipts: many
requests, one per text for some gateways, which must not share serve's core either). serve
keeps the rest of closing the loop (sms_notify.loop): the reports and replies gateways push to
its endpoints, reply feeds, escalations; they wake the child like a webhook. Both are state in
the outbox, so a restarted child asks on where the dead one stopped.

A serve that is killed takes its child with it (Linux's parent-death signal): a SIGKILL is a
crash of both, recovered by the next start like any crash. The child also holds a copy of the
outbox lock's descriptors, so no second serve can take the file while it lives; where there is
no parent-death signal, it stops claiming at the end of its control connection and finishes
the requests in flight. The child ignores SIGINT and SIGTERM (a terminal's Ctrl-C and systemd
reach the whole group): serve decides when it drains. A child that dies is
restarted, and its jobs in flight are recovered as after a crash (docs/design.md, Decision 1);
one that keeps dying makes serve stop with an error, never run on without delivering.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .logs import event

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from .config import Config
    from .dispatch import OnResult
    from .model import DeliveryReport, Receipt
    from .outbox import Job
    from .receipts import OnReport, Receipts

log = logging.getLogger("sms_notify.outbox")

RESTARTS = 5  # child deaths within RESTART_WINDOW before serve gives up
RESTART_WINDOW = 60.0
START_TIMEOUT = 60.0  # seconds for a child to import, recover and start
BATCH = 1024  # results per message to serve
FLUSH = 0.05  # seconds a result may wait for others to go with it


@dataclass(frozen=True)
class Spec:
    """What the child needs: the config (accounts, server settings), the outbox (a file's
    absolute path, or the PostgreSQL URL), logging."""

    config: Config
    outbox: str
    verbose: int = 0
    log_format: str = "logfmt"


class DeliveryProcess:
    """A Dispatcher's life cycle (start, wake, running, drain), run in a child process."""

    def __init__(self, spec: Spec, lock_fds: Sequence[int], on_result: OnResult | None,
                 on_fatal: Callable[[str], None] | None = None, *,
                 on_report: OnReport | None = None) -> None:
        self.spec = spec
        self.lock_fds = tuple(lock_fds)
        self.on_result = on_result
        self.on_report = on_report  # a delivery report the child recorded
        self.receipts: Receipts | None = None  # serve's, for the reports pushed to it
        self.on_fatal = on_fatal  # the child keeps dying: serve must stop
        self.failed = ""  # why serve gave up on delivering, once it has
        self._process: BaseProcess | None = None
        self._control: Connection | None = None
        self._wake = -1  # write end of the wake pipe
        self._started = threading.Event()
        self._stopping = False
        self._deaths: list[float] = []
        self._send = threading.Lock()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Start the child and wait until it has recovered what was in flight and runs."""
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="sms-notify-delivery-watch",
                                         daemon=True)
        self._watcher.start()
        if not self._started.wait(START_TIMEOUT):
            raise RuntimeError("the delivery process did not start (see the log above)")

    @property
    def running(self) -> bool:
        return (self._started.is_set() and not self._stopping and self._process is not None
                and self._process.is_alive())

    def wake(self) -> None:
        """New jobs are in (one byte; a full pipe means a wake is pending already)."""
        try:
            os.write(self._wake, b"w")
        except (BlockingIOError, OSError):
            pass

    def reopen(self) -> None:
        """serve put the outbox file back at its path: the child opens it there again."""
        self._tell(("reopen",))

    def drain(self, timeout: float) -> None:
        """Let the child finish the requests in flight and end (SIGTERM), within `timeout`;
        whatever is still in flight then is recovered by the next start."""
        self._stopping = True
        process = self._process
        if process is None:
            return
        self._tell(("drain", timeout))
        # The watcher joins the child: a second join here lost the race to reap it, returned
        # at once, and the child that had just ended was "killed" as if still running.
        if self._watcher is not None:
            self._watcher.join(timeout + 5.0)
        else:
            process.join(timeout + 5.0)
        if process.is_alive():
            log.error(event("delivery_killed", pid=process.pid,
                            reason=f"still running {timeout + 5:g}s after drain"))
            process.kill()
            process.join(5.0)

    def wait_idle(self, timeout: float) -> bool:
        raise NotImplementedError("wait for the outbox instead")

    # The parent's side.
    def _spawn(self) -> None:
        import multiprocessing
        from multiprocessing import reduction

        context = multiprocessing.get_context("spawn")
        control, child_control = context.Pipe(duplex=True)
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        dup = reduction.DupFd  # type: ignore[attr-defined]
        process = context.Process(target=child, args=(self.spec, os.getpid(), child_control,
                                                      dup(wake_read),
                                                      [dup(fd) for fd in self.lock_fds]),
                                  name="sms-notify-delivery", daemon=False)
        self._started.clear()
        process.start()
        child_control.close()
        os.close(wake_read)
        old = self._wake
        self._process, self._control, self._wake = process, control, wake_write
        if old >= 0:
            os.close(old)
        threading.Thread(target=self._listen, args=(control,), name="sms-notify-delivery-results",
                         daemon=True).start()

    def _tell(self, message: tuple[Any, ...]) -> None:
        with self._send:
            try:
                if self._control is not None:
                    self._control.send(message)
            except (OSError, ValueError):  # the child is gone: the watcher deals with it
                pass

    def _listen(self, control: Connection) -> None:
        """The child's messages: started, and results for metrics and account health."""
        while True:
            try:
                message = control.recv()
            except (EOFError, OSError):
                return
            if message[0] == "started":
                self._started.set()
            elif message[0] == "results":
                self._each(message[1], self.on_result, unpack)
            elif message[0] == "reports":
                self._each(message[1], self.on_report, unpack_report)

    @staticmethod
    def _each(batch: list[Packed], callback: Callable[..., None] | None,
              unpacked: Callable[..., tuple[Any, ...]]) -> None:
        """Call back for each packed item of a batch from the child."""
        if callback is None:
            return
        for item in batch:
            try:
                callback(*unpacked(*item))
            except Exception:  # noqa: BLE001 - metrics must not stop the results
                log.exception("%s callback failed", getattr(callback, "__name__", callback))

    def _watch(self) -> None:
        """Restart a child that died, unless serve is stopping; give up after RESTARTS deaths
        within RESTART_WINDOW."""
        while True:
            process = self._process
            assert process is not None
            process.join()
            if self._stopping:
                return
            now = time.monotonic()
            self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW] + [now]
            code = process.exitcode or 0
            reason = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            if len(self._deaths) > RESTARTS:
                self.failed = (f"the delivery process died {len(self._deaths)} times within "
                               f"{RESTART_WINDOW:g}s (last: {reason})")
                log.critical(event("delivery_failed", reason=self.failed))
                if self.on_fatal is not None:
                    self.on_fatal(self.failed)
                return
            log.error(event("delivery_died", pid=process.pid, reason=reason,
                            action="restarting; its jobs in flight are recovered"))
            time.sleep(min(5.0, 0.5 * len(self._deaths)))
            if self._stopping:
                return
            try:
                self._spawn()
            except Exception as exc:  # noqa: BLE001 - cannot start one: count it as a death
                log.error(event("delivery_start_failed", error=repr(exc)))


Packed = tuple[Any, ...]


def pack(job: Job, receipt: Receipt | None, seconds: float) -> Packed:
    """A result as it crosses to serve: what on_result reads of the job and the receipt, not
    the job's text and bookkeeping (pickling whole jobs cost the child a tenth of its CPU)."""
    fields = (job.id, job.route, job.state, job.account, job.message_id, job.error)
    if receipt is None:
        return fields, None, seconds
    return fields, (receipt.account, receipt.message_id, receipt.parts, receipt.error,
                    receipt.request_ref, receipt.unconfirmed), seconds


def unpack(fields: Packed, receipt: Packed | None, seconds: float
           ) -> tuple[Job, Receipt | None, float]:
    """A result as serve's on_result takes it."""
    from .model import Receipt, Recipient
    from .outbox import Job

    id_, route, state, account, message_id, error = fields
    job = Job(route, "", "", (), id=id_, state=state, account=account, message_id=message_id,
              error=error)
    if receipt is None:
        return job, None, seconds
    account, message_id, parts, error, request_ref, unconfirmed = receipt
    return job, Receipt(Recipient(""), message_id, parts, error, account, request_ref,
                        unconfirmed), seconds


def pack_report(job: Job, report: DeliveryReport, seconds: float | None) -> Packed:
    """A recorded delivery report as it crosses to serve: what its metrics read."""
    return job.id, job.route, job.account_name, report.state, report.message_id, \
        report.reference, seconds


def unpack_report(id_: int, route: str, account: str, state: str, message_id: str,
                  reference: str, seconds: float | None
                  ) -> tuple[Job, DeliveryReport, float | None]:
    """A recorded delivery report as serve's on_report takes it."""
    from .model import DeliveryReport
    from .outbox import Job

    return (Job(route, "", "", (account,), id=id_),
            DeliveryReport(state, message_id, reference), seconds)


# The child's side.
def child(spec: Spec, parent: int, control: Connection, wake: Any, locks: list[Any]) -> None:
    """The delivery process: the Dispatcher on the shared outbox until serve says drain or
    goes away."""
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from .dispatch import Dispatcher
    from .logs import setup
    from .loop import Loop
    from .outbox import (
        POSTGRES_SCHEMES, OutboxError, SqlOutbox, SqliteOutbox, new_owner, open_outbox,
    )
    from .receipts import Receipts

    setup(spec.verbose, spec.log_format)
    wake_fd = wake.detach()
    lock_fds = [lock.detach() for lock in locks]  # held: see the module's docstring
    config = spec.config
    results: queue.SimpleQueue[Any] = queue.SimpleQueue()
    try:  # opening it and recovering what was in flight both write
        if spec.outbox.startswith(POSTGRES_SCHEMES):  # shared: one more receiver on it
            outbox: SqlOutbox = open_outbox(spec.outbox)
        else:  # serve keeps the file: checkpoints, restores, holds its lock
            outbox = SqliteOutbox(spec.outbox, config.server.synchronous, upkeep=False)
        outbox.owner = new_owner(parent)  # the jobs it holds are serve's, as an operator sees it
        dispatcher = Dispatcher(
            outbox, config.accounts, workers=config.server.workers,
            max_age=config.server.max_age, per_recipient=config.per_recipient,
            region=config.region,
            on_result=lambda job, receipt, seconds: results.put(
                ("results", pack(job, receipt, seconds))),
        )
        dispatcher.receipts = Receipts.of(  # its accounts carry their validity
            config, outbox, dispatcher.accounts, on_resend=dispatcher.wake,
            on_report=lambda job, report, seconds: results.put(
                ("reports", pack_report(job, report, seconds))))
        asking = Loop(outbox, dispatcher.accounts, {}, dispatcher.receipts)  # receipts only
        dispatcher.start()
    except OutboxError as exc:  # one line, not a traceback: what is wrong and where
        log.error(event("delivery_cannot_start", error=str(exc), free=_free(spec.outbox)))
        sys.exit(2)
    sending = threading.Lock()
    forwarder = threading.Thread(target=_forward, args=(results, control, sending),
                                 name="sms-notify-results", daemon=True)
    forwarder.start()
    asking.start()
    with sending:
        control.send(("started",))
    threading.Thread(target=_woken, args=(wake_fd, dispatcher), name="sms-notify-wakes",
                     daemon=True).start()
    timeout = 10.0
    while True:
        try:
            message = control.recv()
        except (EOFError, OSError):  # serve was killed: stop claiming, finish what is out
            log.error(event("serve_gone", action="finishing the requests in flight"))
            break
        if message[0] == "reopen" and isinstance(outbox, SqliteOutbox):
            outbox.reopen()
            dispatcher.wake()
        elif message[0] == "drain":
            timeout = float(message[1])
            break
    asking.stop()
    dispatcher.drain(timeout)
    results.put(None)
    forwarder.join(10.0)
    outbox.close()
    for fd in lock_fds:
        os.close(fd)


def _free(outbox: str) -> str:
    """Free space where a SQLite outbox lives ("-" for a database server): a full disk is the
    usual reason an outbox cannot be opened or written."""
    import shutil

    if "://" in outbox:
        return "-"
    try:
        return f"{shutil.disk_usage(os.path.dirname(outbox) or '.').free // 1024}KiB"
    except OSError:
        return "-"


def _die_with(parent: int) -> None:
    """Be killed when serve dies (Linux: prctl PR_SET_PDEATHSIG), so killing serve is one
    crash, not a serve gone and a delivery process still sending."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the control connection's end stops it
        return
    if os.getppid() != parent:  # serve died before the signal was set
        os._exit(1)


def _woken(fd: int, dispatcher: Any) -> None:
    """Wake the dispatcher for each burst of bytes from serve (until serve's end closes)."""
    while os.read(fd, 4096):
        dispatcher.wake()


def _forward(results: queue.SimpleQueue[Any], control: Connection,
             sending: threading.Lock) -> None:
    """Send the dispatcher's results and the recorded reports, each `(kind, packed)`, to
    serve: at once when the last went FLUSH ago or more, else in one batch of each kind FLUSH
    after it (under load, a wake-up per result cost the senders a fifth of their CPU); None
    ends it."""
    last = 0.0
    while True:
        item = results.get()
        if item is not None and (wait := last + FLUSH - time.monotonic()) > 0:
            time.sleep(wait)
        last = time.monotonic()
        batches: dict[str, list[Packed]] = {}
        taken = 0
        while item is not None:
            batches.setdefault(item[0], []).append(item[1])
            taken += 1
            if taken >= BATCH:
                break
            try:
                item = results.get_nowait()
            except queue.Empty:
                break
        for kind, batch in batches.items():
            try:
                with sending:
                    control.send((kind, batch))
            except (OSError, ValueError):  # serve is gone: nobody counts them
                pass
        if item is None:
            return
