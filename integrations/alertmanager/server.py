"""`sms-notify serve`: the Alertmanager webhook receiver (Starlette on uvicorn).

Alertmanager retries 5xx and timeouts, and re-sends 4xx every group_interval (docs/design.md, "The
Alertmanager receiver"), so the answer is the contract:

- 200 once the jobs (one per route and recipient) are committed to the durable outbox, or the
  payload needs nothing sent (a resolved group on a route with send_resolved false, a duplicate);
- 4xx with a JSON {"error": ...} naming what is wrong, for what can never succeed: 400 bad JSON,
  401 bad credentials, 404 unknown route, 413 body over server.max_body, 415 a body not
  declared application/json, 422 wrong shape;
- 503 when the outbox cannot persist, so Alertmanager tries again.

Sending happens in the core's dispatcher, in the background; this module only translates.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sms_notify.config import Config, check_exposure, check_number, is_loopback
from sms_notify.errors import ConfigError
from sms_notify.listen import address, bind, guarded_protocol, parse_listen
from sms_notify.logs import AccessLog, event
from sms_notify.outbox import Job, Outbox, OutboxError, Page, masked_location

from .inbound import Inbound, closing_loop
from .metrics import UNKNOWN_ROUTE, Metrics
from .payload import Notification, PayloadError, parse, unescape_receiver
from .templates import Renderer, alertname

if TYPE_CHECKING:
    from sms_notify.deliverer import DeliveryProcess
    from sms_notify.dispatch import Dispatcher
    from sms_notify.outbox import SqlOutbox

    Delivery = Dispatcher | DeliveryProcess  # in this process (tests, the demo) or its own

SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005
log = logging.getLogger("sms_notify.alertmanager")

READY = "sms-notify serve listening on "
DRAIN_TIMEOUT = 30.0  # seconds the dispatcher gets to finish sends in flight at shutdown
REALM = 'realm="sms-notify"'


class Reject(Exception):
    """An answer other than 200, with the message the client gets as {"error": ...}."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


@dataclass
class CompiledRoute:
    """A config route made ready for requests: renderer built, recipients in E.164."""

    name: str
    recipients: tuple[str, ...]
    via: tuple[str, ...]
    max_segments: int
    send_resolved: bool
    renderer: Renderer
    escalate_after: float = 0.0  # routes.NAME.escalate.after; 0: it does not escalate


def check_receiver(config: Config, host: str) -> dict[str, CompiledRoute]:
    """What serve refuses at start, for serve and check-config alike: an open receiver beyond
    loopback, and routes that can never send. The compiled routes."""
    check_exposure(config.server, host, "server.listen")
    return compile_routes(config)


def compile_routes(config: Config) -> dict[str, CompiledRoute]:
    """Every route of the config, checked once at start: a number in an account's URL that
    cannot be a phone number is a config error now, not a lost alert later."""
    if not config.routes:
        raise ConfigError("the receiver needs at least one route", "routes")
    compiled: dict[str, CompiledRoute] = {}
    for name, route in config.routes.items():
        numbers = dict.fromkeys(route.to)  # E.164 already: the config checked them
        for account_name in route.via:  # each account's numbers, in its region as send does
            account = config.accounts[account_name]
            region = config.region or account.options.get("region")
            for number in account.targets:
                numbers[check_number(number, region, f"accounts.{account_name}")] = None
        if not numbers:
            raise ConfigError("no recipient: list numbers in 'to' (the receiver texts numbers; "
                              "gateway lists such as ?list= are for send, nagios and Apprise)",
                              f"routes.{name}.to")
        compiled[name] = CompiledRoute(
            name, tuple(numbers), tuple(route.via), route.max_segments, route.send_resolved,
            Renderer(route.template, route.max_segments),
            route.escalate.after if route.escalate else 0.0,
        )
    return compiled


def dedup_key(route: str, notification: Notification) -> str:
    """The same group, status and set of alerts on the same route: one key (docs/design.md,
    "The Alertmanager receiver" 3)."""
    material = json.dumps([route, notification.group_key, notification.status,
                           notification.fingerprints], ensure_ascii=True)
    return hashlib.sha256(material.encode()).hexdigest()


class Authenticator:
    """Bearer token or basic auth from server:, compared in constant time."""

    def __init__(self, bearer: str | None, basic: tuple[str, str] | None) -> None:
        self.bearer = bearer.encode() if bearer else None
        self.basic = (basic[0].encode(), basic[1].encode()) if basic else None
        scheme = "Bearer" if bearer else "Basic"
        self.challenge = {"WWW-Authenticate": f"{scheme} {REALM}"}

    @property
    def enabled(self) -> bool:
        return self.bearer is not None or self.basic is not None

    def check(self, header: bytes | None) -> None:
        """Raise Reject(401) unless the Authorization header carries the configured secret.
        The header's bytes are compared with the secret's UTF-8 bytes, as a client sends
        a token that is not ASCII."""
        if not self.enabled:
            return
        scheme, _, value = (header or b"").strip().partition(b" ")
        value = value.strip()
        ok = False
        if self.bearer is not None and scheme.lower() == b"bearer":
            ok = hmac.compare_digest(value, self.bearer)
        elif self.basic is not None and scheme.lower() == b"basic":
            try:
                user, sep, password = base64.b64decode(value, validate=True).partition(b":")
            except (binascii.Error, ValueError):
                user, sep, password = b"", b"", b""
            same_user = hmac.compare_digest(user, self.basic[0])
            same_password = hmac.compare_digest(password, self.basic[1])
            ok = bool(sep) and same_user and same_password
        if not ok:
            reason = "missing credentials" if not header else "wrong credentials"
            raise Reject(401, f"unauthorized: {reason}", self.challenge)


def check_json(content_type: bytes | None) -> None:
    """Raise Reject(415) unless the body is declared JSON, as Alertmanager declares it: a web
    page can POST text/plain (or no type) to any address without a CORS preflight."""
    media = (content_type or b"").partition(b";")[0].strip().lower()
    if media != b"application/json" and not (media.startswith(b"application/")
                                             and media.endswith(b"+json")):
        shown = media.decode("latin-1")[:100] or "none"
        raise Reject(415, f"Content-Type: {shown}; the body must be application/json")


class Disconnected(Exception):
    """The client went away before its body was read: there is nobody to answer."""


async def read_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    """The body, refused with 413 past `limit` bytes: by Content-Length before reading, and
    by counting what streams in (a chunked body has no length)."""
    if declared is not None:
        if not declared.strip().isdigit():
            raise Reject(400, "Content-Length: not a number")
        if int(declared) > limit:
            raise Reject(413, f"body: larger than the limit of {limit} bytes (server.max_body)")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Reject(413, f"body: larger than the limit of {limit} bytes (server.max_body)")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class Writer:
    """Commits the jobs of concurrent requests together: one thread, one outbox transaction
    per batch. A commit costs far more than an insert, so under load ten requests share one
    commit instead of paying ten; a single request is committed at once, with no waiting.
    Each request still gets its answer only after its own jobs are committed."""

    MAX_BATCH = 512  # jobs per transaction, so one batch never holds the outbox long

    def __init__(self, outbox: Outbox, dedup_window: float) -> None:
        self.outbox = outbox
        self.dedup_window = dedup_window
        self._pending: deque[tuple[list[Any], Page | None, asyncio.Future[Any]]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sms-notify-outbox-writer",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(10)

    async def enqueue(self, jobs: list[Job], page: Page | None = None) -> int:
        """Commit `jobs` (and `page` before them); how many jobs were new (the rest were
        duplicates). Raises OutboxError."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        with self._cond:
            if self._stopping:
                raise RuntimeError("the receiver is stopping")
            self._pending.append((jobs, page, future))
            self._cond.notify()
        return int(await future)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending:
                    return
                batch: list[tuple[list[Any], Page | None, asyncio.Future[Any]]] = []
                size = 0
                while self._pending and (not batch or size + len(self._pending[0][0])
                                         <= self.MAX_BATCH):
                    item = self._pending.popleft()
                    batch.append(item)
                    size += len(item[0])
            self._commit(batch)

    def _commit(self, batch: list[tuple[list[Any], Page | None, asyncio.Future[Any]]]) -> None:
        try:
            self._open_pages(batch)
            accepted = {id(j) for j in self.outbox.enqueue(
                [j for jobs, _, _ in batch for j in jobs], self.dedup_window)}
            results: list[Any] = [sum(id(j) in accepted for j in jobs) for jobs, _, _ in batch]
        except Exception as exc:  # noqa: BLE001 - every waiting request gets it (503 or 500)
            results = [exc] * len(batch)
        items = [(future, result) for (_, _, future), result in zip(batch, results, strict=True)]
        try:  # one app, one event loop: every waiting request is on it
            items[0][0].get_loop().call_soon_threadsafe(_settle, items)
        except RuntimeError:  # the loop is gone (shutdown): nobody is waiting
            pass


    def _open_pages(self, batch: list[tuple[list[Any], Page | None, asyncio.Future[Any]]]
                    ) -> None:
        """The batch's pages, in one transaction; each request's jobs get its page's id."""
        paged = [(jobs, page) for jobs, page, _ in batch if page is not None]
        if not paged:
            return
        ids = self.outbox.open_pages([page for _, page in paged])
        for (jobs, _), page_id in zip(paged, ids, strict=True):
            for job in jobs:
                job.page = page_id


def _settle(items: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, result in items:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


class Receiver:
    """What the endpoints share: compiled routes, auth, the outbox writer, the dispatcher."""

    def __init__(self, config: Config, outbox: Outbox, dispatcher: Delivery, metrics: Metrics,
                 routes: dict[str, CompiledRoute] | None = None) -> None:
        self.routes = routes if routes is not None else compile_routes(config)
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.auth = Authenticator(config.server.bearer_token, config.server.basic_auth)
        self.max_body = config.server.max_body
        self.ready = False
        self.writer = Writer(outbox, config.dedup_window)
        # closing the loop (docs/design.md, Decision 15): pages are kept where a reply may
        # acknowledge one or a route escalates
        self.loop = closing_loop(config, outbox, dispatcher, metrics, self.routes)
        self.pages = self.loop is not None and (config.alertmanager is not None
                                                or self.loop.escalates)

    def route_for(self, path_route: str | None, receiver: str) -> CompiledRoute:
        name = path_route if path_route is not None else receiver
        route = self.routes.get(name) or self.routes.get(unescape_receiver(name))
        if route is None:
            where = "path" if path_route is not None else "receiver"
            shown = json.dumps(name[:100])
            known = ", ".join(json.dumps(n) for n in sorted(self.routes)[:20])
            raise Reject(404, f"{where}: no route named {shown} in the config (routes: {known})")
        return route

    async def jobs(self, route: CompiledRoute, notification: Notification, heavy: bool = False
                   ) -> list[Job] | None:
        """One job per recipient with the rendered text; None when nothing is to be sent (a
        resolved group on a route with send_resolved false). The text renders off the event
        loop when a route template or a `heavy` payload could hold it."""
        if not route.send_resolved:
            firing = [a for a in notification.alerts if a["status"] == "firing"]
            if not firing:
                return None
            if len(firing) != len(notification.alerts):
                notification.data = {**notification.data, "alerts": firing}
        text = await route.renderer.render_off_loop(notification.data, heavy)
        key = dedup_key(route.name, notification)
        summary = alertname(notification.data) or route.name
        return [
            Job(route=route.name, recipient=number, text=text, via=route.via,
                      max_segments=route.max_segments, dedup_key=key, summary_key=summary)
            for number in route.recipients
        ]


    def page(self, route: CompiledRoute, notification: Notification, jobs: list[Job] | None
             ) -> Page | None:
        """What the notification says of its group, where pages are kept: firing (with its
        text, and when the route escalates it) or resolved."""
        if not self.pages:
            return None
        data = notification.data
        matchers = {str(k): str(v) for k, v in (data.get("groupLabels") or
                                                data.get("commonLabels") or {}).items()}
        firing = notification.status == "firing"
        return Page(route.name, notification.group_key, matchers,
                    text=jobs[0].text if jobs and firing else "",
                    state="firing" if firing else "resolved",
                    escalate_after=route.escalate_after)


JSON_HEADERS = [(b"content-type", b"application/json")]
_compact_json = json.JSONEncoder(separators=(",", ":")).encode  # dumps() builds one per call


class AlertEndpoint:
    """POST /alert and /alert/{route}: a plain ASGI endpoint under Starlette's router. It is the
    one path that takes load, so it reads the body and writes its answer itself instead of
    building Starlette's Request and Response objects (bench/receiver.py)."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, answer, headers = await self.handle(scope, receive)
        except Disconnected:
            return
        body = _compact_json(answer).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            *JSON_HEADERS, (b"content-length", b"%d" % len(body)),
            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())]})
        await send({"type": "http.response.body", "body": body})

    async def handle(self, scope: Scope, receive: Receive
                     ) -> tuple[int, dict[str, Any], Mapping[str, str]]:
        """The status, the JSON answer and extra headers for one webhook call."""
        receiver, metrics = self.receiver, self.receiver.metrics
        path_route: str | None = scope.get("path_params", {}).get("route")
        route_label = UNKNOWN_ROUTE
        authorization = declared = content_type = None
        for name, value in scope["headers"]:  # the first of a repeated header counts
            if name == b"authorization" and authorization is None:
                authorization = value
            elif name == b"content-length" and declared is None:
                declared = value
            elif name == b"content-type" and content_type is None:
                content_type = value
        try:
            receiver.auth.check(authorization)
            check_json(content_type)
            body = await read_body(receive, declared, receiver.max_body)
            heavy = len(body) > 65536  # a big body decodes and renders off the event loop
            if heavy:
                notification = await run_in_threadpool(parse, body, path_route is None)
            else:
                notification = parse(body, receiver_required=path_route is None)
            route = receiver.route_for(path_route, notification.receiver)
            route_label = route.name
            jobs = await receiver.jobs(route, notification,
                                       heavy or len(notification.alerts) > 100)
            page = receiver.page(route, notification, jobs)
            new = 0 if jobs is None and page is None else \
                await receiver.writer.enqueue(jobs or [], page)
        except (Reject, PayloadError) as exc:
            metrics.webhook(route_label, exc.status)
            log.warning(event("rejected", code=exc.status, error=str(exc)))
            return exc.status, {"error": str(exc)}, getattr(exc, "headers", {})
        except OutboxError as exc:
            metrics.webhook(route_label, 503)
            log.error(event("outbox_error", route=route_label, error=str(exc)))
            return 503, {"error": f"outbox cannot persist the alert: {exc}; retry later"}, {}
        metrics.webhook(route.name, 200)
        result: dict[str, Any]
        if jobs is None:
            result = {"status": "ignored", "reason": "resolved and send_resolved is false"}
        else:
            result = {"status": "accepted", "jobs": new, "duplicates": len(jobs) - new}
            metrics.accepted(route.name, new, len(jobs) - new)
            if new:
                receiver.dispatcher.wake()
        if log.isEnabledFor(logging.INFO):
            log.info(event(result["status"], route=route.name,
                           status=notification.status, alerts=len(notification.alerts),
                           jobs=result.get("jobs", 0), duplicates=result.get("duplicates", 0),
                           group_key=notification.group_key[:200]))
        result["route"] = route.name
        return 200, result, {}


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


def create_app(
    config: Config,
    outbox: Outbox,
    dispatcher: Delivery,
    *,
    metrics: Metrics | None = None,
    on_ready: Callable[[], None] | None = None,
    drain_timeout: float = DRAIN_TIMEOUT,
    routes: dict[str, CompiledRoute] | None = None,
) -> Starlette:
    """The receiver application. Its lifespan starts the dispatcher and, at shutdown, lets it
    finish the sends in flight; the caller owns (and closes) the outbox."""
    metrics = metrics or Metrics(outbox, config.accounts)
    receiver = Receiver(config, outbox, dispatcher, metrics, routes)
    alert = AlertEndpoint(receiver)
    inbound = Inbound(config, receiver.loop, metrics)

    async def metrics_endpoint(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        body = await run_in_threadpool(metrics.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def healthy(request: Request) -> Response:
        return PlainTextResponse("OK")

    async def ready(request: Request) -> Response:
        """Ready when an alert posted now would be accepted: the dispatcher runs, the outbox's
        path leads to the file in use and a write commits."""
        if not receiver.ready or not dispatcher.running:
            return PlainTextResponse("not ready: dispatcher not running", status_code=503)
        try:
            await run_in_threadpool(outbox.check)
        except Exception as exc:  # noqa: BLE001 - not ready is the answer, whatever the cause
            log.error(event("not_ready", error=str(exc)))
            return PlainTextResponse("not ready: the outbox cannot accept alerts (see the log)",
                                     status_code=503)
        return PlainTextResponse("OK")

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        message = "method not allowed" if status == 405 else "not found"
        return _error(status, f"{message}: {request.method} {request.url.path[:100]}")

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception(event("internal_error", path=request.url.path[:100]))
        return _error(500, "internal error (see the receiver's log)")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        dispatcher.start()
        receiver.writer.start()
        if receiver.loop is not None:
            receiver.loop.start()
        receiver.ready = True
        if on_ready:
            on_ready()
        try:
            yield
        finally:
            receiver.ready = False
            log.info(event("draining", timeout=drain_timeout))
            await run_in_threadpool(receiver.writer.stop)
            if receiver.loop is not None:
                await run_in_threadpool(receiver.loop.stop)
            await run_in_threadpool(dispatcher.drain, drain_timeout)

    endpoints = [
        Route("/alert", alert, methods=["POST"]),
        Route("/alert/{route:path}", alert, methods=["POST"]),
        Route("/receipts/{account}", inbound.receipts, methods=["GET", "POST"]),
        Route("/inbound/{account}", inbound.replies, methods=["GET", "POST"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/-/healthy", healthy, methods=["GET", "HEAD"]),
        Route("/-/ready", ready, methods=["GET", "HEAD"]),
    ]
    app = Starlette(routes=endpoints, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_found, 500: server_error})
    app.state.receiver = receiver
    return app


def serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="config file (default $SMS_NOTIFY_CONFIG)")
    parser.add_argument("--listen", type=parse_listen, metavar="HOST:PORT",
                        help="address to serve on, overriding server.listen (port 0 picks one)")
    parser.add_argument("--access-log", action="store_true",
                        help="log one line per request (no query string or credentials)")
    parser.add_argument("--log-format", choices=("logfmt", "json"), default="logfmt",
                        help="log lines as logfmt key=value pairs or JSON objects (default logfmt)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output: -v each webhook and text, -vv debug")


def build(config: Config, *, process: bool = False, verbose: int = 0,
          log_format: str = "logfmt") -> tuple[SqlOutbox, Delivery, Metrics]:
    """The outbox, dispatcher and metrics for a config (the demo builds the same way). A
    SQLite outbox is held by this process alone; a PostgreSQL one is shared (Decision 14).
    With `process`, the dispatcher runs in a process of its own (serve: sms_notify.deliverer),
    its results counted here."""
    from sms_notify.deliverer import DeliveryProcess, Spec
    from sms_notify.dispatch import Dispatcher
    from sms_notify.health import AccountHealth
    from sms_notify.outbox import SqliteOutbox, open_outbox
    from sms_notify.receipts import Receipts

    if config.server.outbox_default:
        os.makedirs(os.path.dirname(config.server.outbox), mode=0o700, exist_ok=True)
        log.warning(event("outbox_default", outbox=config.server.outbox,
                          hint="server.outbox is not set; set it to choose where the outbox is"))
    try:
        outbox = open_outbox(config.server.outbox, config.server.synchronous, exclusive=True)
    except OutboxError as exc:
        raise ConfigError(f"cannot open the outbox: {exc}", "server.outbox") from None
    health = AccountHealth(config.accounts)
    metrics = Metrics(outbox, config.accounts, health, routes=config.routes)

    def on_result(job: Job, receipt: Any, seconds: float) -> None:
        metrics.on_result(job, receipt, seconds)
        health.on_result(job, receipt, seconds)

    if process:
        if not isinstance(outbox, SqliteOutbox):  # shared: the child is one more receiver
            spec = Spec(config, config.server.outbox, verbose, log_format)
            delivery = DeliveryProcess(spec, (), on_result, on_report=metrics.report)
        else:
            spec = Spec(config, os.path.abspath(config.server.outbox), verbose, log_format)
            delivery = DeliveryProcess(spec, outbox.locks, on_result, on_report=metrics.report)
            outbox.on_restore = delivery.reopen
        # the reports gateways push to serve; the child asks the gateways (sms_notify.deliverer)
        delivery.receipts = Receipts.of(config, outbox, config.accounts,
                                        on_report=metrics.report, on_resend=delivery.wake)
        return outbox, delivery, metrics
    dispatcher = Dispatcher(
        outbox, config.accounts, workers=config.server.workers, max_age=config.server.max_age,
        per_recipient=config.per_recipient, region=config.region, on_result=on_result,
    )
    dispatcher.receipts = Receipts.of(  # after the dispatcher: its accounts carry their validity
        config, outbox, dispatcher.accounts, on_report=metrics.report, on_resend=dispatcher.wake)
    return outbox, dispatcher, metrics


def serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT: stop accepting, let sends in flight finish, exit 0."""
    import uvicorn

    from sms_notify.config import load

    config = load(args.config)
    # Sender threads hold the GIL for the CPU part of each gateway request; a short switch
    # interval lets the event loop answer webhooks in between (p99 to the 200).
    sys.setswitchinterval(SWITCH_INTERVAL)
    for warning in config.warnings:
        log.warning(event("config_warning", warning=warning))
    host, port = args.listen or parse_listen(config.server.listen)
    routes = check_receiver(config, host)  # config errors before anything is opened
    if config.server.insecure_no_auth and not is_loopback(host):
        log.warning(event("no_auth", listen=host,
                          reason="insecure_no_auth: anyone who reaches it can send texts"))
    outbox, dispatcher, metrics = build(config, process=True, verbose=args.verbose,
                                        log_format=args.log_format)
    shown = ""

    def ready() -> None:
        print(f"{READY}{shown}", flush=True)
        log.info(event("ready", listen=shown, routes=",".join(sorted(config.routes)),
                       outbox=masked_location(config.server.outbox), pid=os.getpid()))

    try:
        app = create_app(config, outbox, dispatcher, metrics=metrics, on_ready=ready,
                         routes=routes)
        sock = bind(host, port)
    except BaseException:
        outbox.close()
        raise
    shown = address(sock)
    server = uvicorn.Server(uvicorn.Config(  # uvicorn logs through ours (sms_notify.logs)
        AccessLog(app) if args.access_log else app, log_config=None, access_log=False,
        lifespan="on", timeout_graceful_shutdown=10, http=guarded_protocol(),
        timeout_keep_alive=100,  # above Go's 90 s idle timeout: no race with a reused connection
    ))
    delivery = cast("DeliveryProcess", dispatcher)
    delivery.on_fatal = lambda reason: setattr(server, "should_exit", True)  # keeps dying
    # uvicorn re-raises the signal it stopped for once it is done; a handler of our own makes
    # that a no-op, so a SIGTERM ends in a drained outbox and exit status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        server.run(sockets=[sock])
    finally:
        outbox.close()
        sock.close()
    if not server.started:
        print("sms-notify serve: could not start (see the log above)", file=sys.stderr)
        return 1
    if delivery.failed:
        print(f"sms-notify serve: stopped: {delivery.failed}", file=sys.stderr)
        return 1
    log.info(event("stopped"))
    return 0
