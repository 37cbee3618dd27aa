"""The sandbox server: every registered simulator's paths on one port, faults, inbox and admin.

Each simulator endpoint is wrapped: an injected fault applies before it runs (an HTTP error, a
timeout, a slow answer, a gateway error code for the simulator to answer) or after (garble:
the endpoint runs, then its answer's body is replaced); a crash is one log line and a 500; and
one line per request is logged from what the simulator noted. Never a credential.

What the gateways do by themselves (delivery notifications to the URLs a send gave, replies
forwarded to the URL set for them) the server carries out: a few times a second it asks each
simulator what is due, and an admin call makes a phone reply.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .simulator import Exchange, Simulator, Unsupported, exchange
from .state import (
    DELIVER_AFTER, PASSWORD, START_CREDITS, TOKEN, UNROUTABLE_SUFFIX, USER, BadFault, Outgoing,
    State, parse_fault, parse_fault_flag, phone,
)

log = logging.getLogger("sms_notify.sandbox")

DEFAULT_LISTEN = "127.0.0.1:8025"
HTTP_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                504: "Gateway Timeout", 429: "Too Many Requests"}
PUSH_EVERY = 0.2  # seconds between asking the simulators what they send out
PUSH_TIMEOUT = 10.0
Endpoint = Callable[[Request], Any]
Kinds = Mapping[str, type[Simulator[Any]]]


def record(state: State, ex: Exchange, status: int) -> None:
    """One line on stderr and one entry in /admin/requests per request. Never a secret: only
    the gateway, operation, recipients and outcome are logged."""
    outcome = ex.outcome or f"HTTP {status}"
    fault = ex.fault.describe() if ex.fault else ""
    entry = {"gateway": ex.gateway, "operation": ex.operation or f"{ex.method} {ex.path}",
             "recipients": list(ex.recipients), "outcome": outcome, "http_status": status,
             "fault": fault, "at": time.time()}
    state.requests.append(entry)
    shown = ",".join(ex.recipients[:5]) + (f" (+{len(ex.recipients) - 5} more)"
                                            if len(ex.recipients) > 5 else "")
    log.info("%s %s to=%s -> %s%s", ex.gateway, entry["operation"], shown or "-", outcome,
             f" [{fault}]" if fault else "")


def _http_error(status: int) -> Response:
    reason = HTTP_REASONS.get(status, "Error")
    body = (f"<html><head><title>{status} {reason}</title></head>"
            f"<body><h1>{reason}</h1></body></html>")
    return HTMLResponse(body, status_code=status)


async def _hold(request: Request, seconds: float) -> None:
    """Keep a request unanswered until the client gives up, `seconds` pass or the sandbox
    stops."""
    deadline = time.monotonic() + seconds
    try:
        await request.body()
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:  # the sandbox is stopping: end quietly, not with a traceback
        return


def wrap(gateway: str, endpoint: Endpoint, state: State) -> Endpoint:
    """A simulator endpoint with faults applied, crashes contained and one log line."""

    async def handle(request: Request) -> Response:
        ex = request.state.exchange = Exchange(gateway, request.method, request.url.path)
        fault = ex.fault = state.take_fault(gateway)
        kind = fault.kind if fault else ""
        if fault is not None and kind == "http_error":
            response = _http_error(fault.status)
            record(state, ex, response.status_code)
            return response
        if fault is not None and kind == "timeout":
            # Logged as the hold starts, not when it ends: the sandbox notices a client that
            # gave up only at its next poll, and an entry landing then would be counted by
            # whatever runs next. A client still there when the hold ends gets this 504.
            ex.outcome = "held without an answer"
            record(state, ex, 504)
            await _hold(request, fault.delay)
            return _http_error(504)
        if fault is not None and kind == "slow":
            # A busy gateway has the whole request before it is slow to act on it: a client
            # that gives up (or dies) meanwhile does not stop the text going out.
            await request.body()
            await asyncio.sleep(fault.delay)
        try:
            response = await endpoint(request)
        except Exception as exc:  # noqa: BLE001 - a simulator bug must not reach a client
            ex.outcome = f"sandbox error {type(exc).__name__}: {exc}"
            response = PlainTextResponse("sandbox error", status_code=500)
        if fault is not None and kind == "garble":
            ex.outcome = f"{ex.outcome or 'answered'}, then garbled"
            response = Response(fault.body, status_code=200,
                                media_type=response.media_type or "text/plain")
        record(state, ex, response.status_code)
        return response

    return handle


def carry_out(state: State, out: Outgoing) -> dict[str, Any]:
    """Make one request a gateway sends out; recorded in `pushes` and logged without its query
    string (it may carry the receiver's secret)."""
    import requests

    entry = {**out.shown(), "at": time.time()}
    try:
        if out.method == "GET":
            answer = requests.get(out.url, params=out.params or None, timeout=PUSH_TIMEOUT)
        else:
            answer = requests.post(out.url, data=out.params, timeout=PUSH_TIMEOUT)
        entry["status"] = answer.status_code
    except requests.RequestException as exc:
        entry["status"], entry["error"] = 0, type(exc).__name__
    state.pushes.append(entry)
    log.info("%s %s: %s %s -> %s", out.gateway, out.what, out.method, entry["url"],
             entry.get("error") or f"HTTP {entry['status']}")
    return entry


async def push_due(state: State) -> None:
    """Carry out what the simulators send by themselves, until cancelled."""
    from starlette.concurrency import run_in_threadpool

    while True:
        await asyncio.sleep(PUSH_EVERY)
        for scheme, simulator in list(state.simulators.items()):
            try:
                due = simulator.due()
            except Exception as exc:  # noqa: BLE001 - a simulator bug must not stop the others
                log.warning("%s: what is due could not be read: %r", scheme, exc)
                continue
            for out in due:
                await run_in_threadpool(carry_out, state, out)


class CaseInsensitivePaths:
    """IIS, behind the ASP.NET gateways, ignores the case of paths (`/sendSimpleTextSMS`
    reaches `/SendSimpleTextSMS`)."""

    def __init__(self, app: ASGIApp, paths: list[str]) -> None:
        self.app = app
        self.paths = {p.lower(): p for p in paths}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            canonical = self.paths.get(scope["path"].lower())
            if canonical and canonical != scope["path"]:
                scope = {**scope, "path": canonical, "raw_path": canonical.encode()}
        await self.app(scope, receive, send)


def collect_simulators() -> dict[str, type[Simulator[Any]]]:
    """The simulators of every loaded plugin, through the hook only; a broken one is skipped."""
    from sms_notify.manager import get_pm

    found: dict[str, type[Simulator[Any]]] = {}

    def register(scheme: str, simulator: type[Simulator[Any]]) -> None:
        if not (isinstance(simulator, type) and issubclass(simulator, Simulator)):
            raise TypeError(f"the simulator for {scheme}:// is {simulator!r}, not a subclass of "
                            "sms_notify.sandbox.Simulator")
        if scheme in found:
            log.warning("a second simulator for %s:// is ignored", scheme)
            return
        found[scheme] = simulator

    pm = get_pm()
    hook = pm.hook.sms_notify_register_simulators
    for impl in hook.get_hookimpls():  # one plugin at a time, so a broken one is skipped alone
        others = [p for p in pm.get_plugins() if p is not impl.plugin]
        try:
            pm.subset_hook_caller(hook.name, remove_plugins=others)(register=register)
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the sandbox
            log.warning("plugin %s: simulator not loaded: %r", impl.plugin_name, exc)
    return found


def build_app(
    simulators: Kinds, *, credits: float = START_CREDITS, deliver_after: float = DELIVER_AFTER,
    faults: Sequence[Mapping[str, Any]] = (), on_ready: Callable[[], None] | None = None,
) -> tuple[ASGIApp, State]:
    """The sandbox application over the given simulators, and its state."""
    state = State(simulators, credits, deliver_after)
    for spec in faults:
        state.add_fault(parse_fault(spec, state.kinds))
    routes: list[Route] = []
    seen: dict[str, str] = {}
    for scheme, simulator in state.simulators.items():
        for route in simulator.routes():
            if route.path in seen:
                log.warning("%s: %s is served by %s already", scheme, route.path, seen[route.path])
                continue
            seen[route.path] = scheme
            routes.append(Route(route.path, wrap(scheme, route.endpoint, state),
                                methods=sorted(route.methods or ["GET", "POST"]), name=route.name))
    routes += Admin(state).routes()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pushing = asyncio.create_task(push_due(state))
        if on_ready:
            on_ready()
        try:
            yield
        finally:
            pushing.cancel()

    async def not_found(request: Request, exc: Exception) -> Response:
        ex = exchange(request)
        status = getattr(exc, "status_code", 404)
        ex.outcome = f"HTTP {status}"
        record(state, ex, status)
        return PlainTextResponse(f"{status} {request.url.path}", status_code=status)

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_found})
    return CaseInsensitivePaths(app, [r.path for r in routes]), state


class Admin:
    """The inbox, faults, balances and health endpoints: one method per endpoint."""

    def __init__(self, state: State) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page, methods=["GET"]),
            Route("/inbox", self.inbox, methods=["GET", "DELETE"]),
            Route("/admin/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/admin/requests", self.requests, methods=["GET", "DELETE"]),
            Route("/admin/balances", self.balances, methods=["GET", "POST"]),
            Route("/admin/reset", self.reset, methods=["POST"]),
            Route("/admin/gateways", self.gateways, methods=["GET"]),
            Route("/admin/replies", self.replies, methods=["POST"]),
            Route("/admin/forwarding", self.forwarding, methods=["POST"]),
            Route("/admin/pushes", self.pushes, methods=["GET", "DELETE"]),
            Route("/-/healthy", self.healthy, methods=["GET"]),
        ]

    def messages(self, request: Request) -> list[dict[str, Any]]:
        """The inbox's entries, filtered by ?gateway= and ?to= (any way a number is written)."""
        gateway = request.query_params.get("gateway")
        to = request.query_params.get("to")
        if to:
            to = phone(to) or to
        return [self.state.entry(m) for m in self.state.inbox
                if (not gateway or m.gateway == gateway) and (not to or m.to == to)]

    async def inbox(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.clear_inbox()
            return JSONResponse({"messages": []})
        return JSONResponse({"messages": self.messages(request)})

    async def page(self, request: Request) -> Response:
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(e[k]))}</td>" for k in
                             ("gateway", "to", "sender", "text", "parts", "id", "status")) + "</tr>"
            for e in reversed(self.messages(request))
        )
        gateways = ", ".join(html.escape(g) for g in sorted(self.state.simulators))
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>sms-notify sandbox</title>"
            "<style>body{font-family:sans-serif}td,th{border-bottom:1px solid #ccc;padding:4px;"
            "vertical-align:top}td:nth-child(4){white-space:pre-wrap}</style></head><body>"
            f"<h1>sms-notify sandbox</h1><p>Gateways: {gateways}. "
            f"{len(self.state.inbox)} message(s); <a href='/inbox'>JSON</a>.</p><table>"
            "<tr><th>gateway</th><th>to</th><th>from</th><th>text</th><th>parts</th><th>id</th>"
            f"<th>status</th></tr>{rows}</table></body></html>"
        )
        return HTMLResponse(body)

    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.faults.clear()
            return JSONResponse({"faults": []})
        if request.method == "GET":
            return JSONResponse({"faults": [f.public() for f in self.state.active_faults()]})
        try:
            spec = json.loads(await request.body() or b"null")
            if not isinstance(spec, dict):
                raise BadFault("expected a JSON object")
            fault = self.state.add_fault(parse_fault(spec, self.state.kinds))
        except (BadFault, ValueError) as exc:
            log.info("admin POST /admin/faults -> bad fault: %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        log.info("admin POST /admin/faults -> added %s %s", fault.gateway, fault.describe())
        return JSONResponse(fault.public())

    async def requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.requests.clear()
            return JSONResponse({"requests": []})
        gateway = request.query_params.get("gateway")
        return JSONResponse({"requests": [r for r in self.state.requests
                                          if not gateway or r["gateway"] == gateway]})

    async def balances(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                spec = json.loads(await request.body() or b"null")
                gateway, credits = spec["gateway"], float(spec["credits"])
                if gateway not in self.state.simulators:
                    raise ValueError(f"unknown gateway {gateway!r}")
            except (ValueError, KeyError, TypeError) as exc:
                return JSONResponse({"error": f"expected {{gateway, credits}}: {exc}"},
                                    status_code=400)
            self.state.balances[gateway] = credits
        return JSONResponse({"balances": self.state.balances})

    async def _spec(self, request: Request, *keys: str) -> tuple[Simulator[Any], dict[str, Any]]:
        """The JSON object of an admin call about one gateway, with `keys` present."""
        spec = json.loads(await request.body() or b"null")
        if not isinstance(spec, dict):
            raise ValueError("expected a JSON object")
        simulator = self.state.simulators.get(str(spec.get("gateway")))
        if simulator is None:
            raise ValueError(f"unknown gateway {spec.get('gateway')!r}")
        missing = [k for k in keys if not isinstance(spec.get(k), str)]
        if missing:
            raise ValueError(f"expected {', '.join(missing)} (strings)")
        return simulator, spec

    async def replies(self, request: Request) -> Response:
        """A phone replies: `{"gateway", "from", "text"}`; what the gateway made of it, and the
        answers to the requests it made at once (a forward)."""
        from starlette.concurrency import run_in_threadpool

        try:
            simulator, spec = await self._spec(request, "from", "text")
            made, outgoing = simulator.reply(spec["from"], spec["text"])
        except (ValueError, Unsupported) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        log.info("admin POST /admin/replies -> %s reply from %s", simulator.scheme, spec["from"])
        forwarded = [await run_in_threadpool(carry_out, self.state, out) for out in outgoing]
        return JSONResponse({"reply": made, "forwarded": forwarded})

    async def forwarding(self, request: Request) -> Response:
        """Where a gateway forwards replies: `{"gateway", "url", "method", "auth"}`."""
        try:
            simulator, spec = await self._spec(request, "url")
            settings = simulator.forwarding(spec)
        except (ValueError, Unsupported) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"forwarding": settings})

    async def pushes(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.pushes.clear()
        return JSONResponse({"pushes": self.state.pushes})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        log.info("admin POST /admin/reset -> reset")
        return JSONResponse({"reset": True})

    async def healthy(self, request: Request) -> Response:
        return PlainTextResponse("OK")

    async def gateways(self, request: Request) -> Response:
        return JSONResponse({"gateways": sorted(self.state.simulators)})


def sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    from sms_notify.listen import parse_listen

    parser.add_argument("--listen", default=DEFAULT_LISTEN, type=parse_listen, metavar="HOST:PORT",
                        help=f"address to serve on (default {DEFAULT_LISTEN}; port 0 picks one)")
    parser.add_argument(
        "--fault", action="append", default=[], metavar="GATEWAY:KIND[:ARG][:count=N][:seconds=S]",
        help="inject a fault from the start, e.g. fastsms:http_error:503:count=3, "
             "intellisms:error_code:auth, sms24x:slow:2.5:seconds=30, mymobileapi:timeout, "
             "fastsms:garble:101,102:count=1",
    )
    parser.add_argument("--credits", type=float, default=START_CREDITS,
                        help=f"starting balance of every gateway (default {START_CREDITS:g})")
    parser.add_argument("--deliver-after", type=float, default=DELIVER_AFTER, metavar="SECONDS",
                        help=f"when a sent message turns delivered (default {DELIVER_AFTER:g})")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def sandbox(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; print the ready line with the real port."""
    import uvicorn

    from sms_notify.errors import UsageError
    from sms_notify.listen import address, bind

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("sandbox: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False

    simulators = collect_simulators()
    if not simulators:
        raise UsageError("no plugin brings a simulator (check SMS_NOTIFY_LOAD_PLUGINS)")
    try:
        faults = [parse_fault_flag(text) for text in args.fault]
    except BadFault as exc:
        raise UsageError(f"--fault {exc}") from None

    host, port = args.listen
    sock = bind(host, port, backlog=128)
    shown = address(sock)

    def ready() -> None:
        print(f"sandbox listening on {shown}", flush=True)
        log.info("gateways: %s; credentials %s/%s, FastSMS token %s; numbers ending %s are "
                 "unroutable", ", ".join(sorted(simulators)), USER, PASSWORD, TOKEN,
                 UNROUTABLE_SUFFIX)

    try:
        app, _ = build_app(simulators, credits=args.credits, deliver_after=args.deliver_after,
                           faults=faults, on_ready=ready)
    except BadFault as exc:
        sock.close()
        raise UsageError(f"--fault {exc}") from None
    config = uvicorn.Config(app, log_level="warning" if not args.verbose else "info",
                            access_log=False, timeout_graceful_shutdown=1, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
    return 0
