"""`sms-notify sandbox`: every registered gateway's API on one local port, for tests and trials.

The core names no gateway. Simulators come only through the ``sms_notify_register_simulators``
hook, so a third-party provider brings its own. A simulator is an object with

    routes(state: State) -> list[starlette.routing.Route]
    error_codes: Mapping[str, str]    # optional: category ("auth", ...) -> the gateway's code

Its endpoints are ``async def endpoint(request) -> Response`` and speak the gateway's wire
format. The core wraps each one: it applies injected faults (HTTP errors, slow answers,
timeouts) before the endpoint runs, hands an injected gateway error code to the endpoint
(`injected(request)`), turns an endpoint's crash into one log line and a 500, and logs one
line per request from what the endpoint noted in `exchange(request)`.

Shared state: the inbox (one entry per accepted recipient, never deduplicated: DESIGN,
Decisions 1), balances, message states that move from sent to delivered, and the faults.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import inspect
import itertools
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("sms_notify.sandbox")

DEFAULT_LISTEN = "127.0.0.1:8025"
USER = PASSWORD = TOKEN = "sandbox"
START_CREDITS = 1000.0
DELIVER_AFTER = 1.0  # seconds from "sent" to "delivered"
TIMEOUT_HOLD = 60.0  # longest a "timeout" fault holds a request
UNROUTABLE_SUFFIX = "0000"  # numbers ending so are refused as the gateway's invalid number
UNDELIVERABLE_SUFFIX = "0001"  # accepted, then reported failed
FAULT_KINDS = ("http_error", "timeout", "slow", "error_code", "garble")
HTTP_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                504: "Gateway Timeout", 429: "Too Many Requests"}


class Simulator(Protocol):
    """What `sms_notify_register_simulators` registers for one scheme."""

    def routes(self, state: State) -> list[Route]: ...


@dataclass
class Message:
    """One accepted text for one recipient, as the phone would show it."""

    gateway: str
    to: str  # E.164 with +
    text: str
    sender: str
    parts: int
    id: str
    reference: str = ""
    at: float = 0.0  # wall clock, for people
    since: float = 0.0  # monotonic, for the status clock
    queried: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # gateway-specific (batch id, user field)

    def status(self, deliver_after: float) -> str:
        """sent, then delivered (or failed for the undeliverable test numbers)."""
        if not (self.queried or time.monotonic() - self.since >= deliver_after):
            return "sent"
        return "failed" if self.to.endswith(UNDELIVERABLE_SUFFIX) else "delivered"


@dataclass
class Fault:
    """An injected failure for one gateway: the next `count` requests, for `seconds`, or until
    cleared."""

    gateway: str
    kind: str
    status: int = 503
    code: str = ""
    delay: float = 2.0
    count: int | None = None
    seconds: float | None = None
    id: int = 0
    until: float | None = None  # monotonic deadline from `seconds`
    body: str = ""  # garble: what the answer says instead (HTTP 200), once the endpoint has run

    def describe(self) -> str:
        what = {"http_error": f"HTTP {self.status}", "error_code": f"code {self.code}",
                "slow": f"{self.delay:g}s late", "timeout": "no answer",
                "garble": f"answer {self.body!r}"}[self.kind]
        return f"fault {self.kind} ({what})"

    def public(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "until"}
        if self.until is not None:
            out["seconds_left"] = round(max(0.0, self.until - time.monotonic()), 3)
        return out


@dataclass
class Exchange:
    """What one request was, for its log line; the simulator's endpoint fills it in."""

    gateway: str
    method: str
    path: str
    operation: str = ""
    recipients: list[str] = field(default_factory=list)
    outcome: str = ""
    fault: str = ""
    code: str | None = None  # an injected gateway error code the endpoint must answer


class BadFault(ValueError):
    """A fault specification that cannot work; the message says why."""


def parse_fault(spec: Mapping[str, Any], known: Mapping[str, Any]) -> Fault:
    """A Fault from the admin endpoint's JSON (or the parsed `--fault` flag)."""
    gateway = str(spec.get("gateway") or "")
    if gateway not in known:
        raise BadFault(f"unknown gateway {gateway!r} (known: {', '.join(sorted(known)) or 'none'})")
    kind = str(spec.get("kind") or "")
    if kind not in FAULT_KINDS:
        raise BadFault(f"unknown kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
    try:
        status = int(spec.get("status", 503))
        delay = float(spec.get("delay", TIMEOUT_HOLD if kind == "timeout" else 2.0))
        count = None if spec.get("count") is None else int(spec["count"])
        seconds = None if spec.get("seconds") is None else float(spec["seconds"])
    except (TypeError, ValueError) as exc:
        raise BadFault(f"bad number in fault: {exc}") from None
    if kind == "http_error" and not 400 <= status <= 599:
        raise BadFault(f"status {status} is not an HTTP error (400-599)")
    if count is not None and count < 1 or seconds is not None and seconds <= 0:
        raise BadFault("count must be at least 1 and seconds above 0")
    if not 0 <= delay <= TIMEOUT_HOLD:
        raise BadFault(f"delay must be between 0 and {TIMEOUT_HOLD:g} seconds")
    code = str(spec.get("code") or "")
    if kind == "error_code":
        if not code:
            raise BadFault("error_code needs a code (the gateway's own, or a category like auth)")
        codes: Mapping[str, str] = getattr(known[gateway], "error_codes", {}) or {}
        code = codes.get(code, code)
    return Fault(gateway, kind, status, code, delay, count, seconds,
                 body=str(spec.get("body") or "garbled") if kind == "garble" else "")


def parse_fault_flag(text: str) -> dict[str, Any]:
    """`GATEWAY:KIND[:ARG][:count=N][:seconds=S]` -> the admin JSON. ARG is the status of
    http_error, the code of error_code, the delay of slow and timeout, the body of garble."""
    fields = text.split(":")
    if len(fields) < 2:
        raise BadFault(f"{text!r}: expected GATEWAY:KIND[:ARG][:count=N][:seconds=S]")
    spec: dict[str, Any] = {"gateway": fields[0], "kind": fields[1]}
    arg_key = {"http_error": "status", "error_code": "code", "slow": "delay", "timeout": "delay",
               "garble": "body"}
    for item in fields[2:]:
        key, eq, value = item.partition("=")
        if eq:
            if key not in ("count", "seconds", "status", "code", "delay", "body"):
                raise BadFault(f"{text!r}: unknown setting {key!r}")
            spec[key] = value
        elif fields[1] in arg_key:
            spec[arg_key[fields[1]]] = item
        else:
            raise BadFault(f"{text!r}: unexpected {item!r}")
    return spec


class State:
    """Everything the simulators share: inbox, balances, ids, faults, the request log."""

    def __init__(
        self, simulators: Mapping[str, Any], credits: float = START_CREDITS,
        deliver_after: float = DELIVER_AFTER,
    ) -> None:
        self.simulators = dict(simulators)
        self.start_credits = credits
        self.deliver_after = deliver_after
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        self.inbox: list[Message] = []
        self.requests: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.balances: dict[str, float] = {g: self.start_credits for g in self.simulators}
        self.scratch: dict[str, dict[str, Any]] = {g: {} for g in self.simulators}
        self._counters: dict[str, Iterator[int]] = {}

    # Credentials: one fixed account for every gateway.
    @staticmethod
    def login(user: str | None, password: str | None) -> bool:
        return user == USER and password == PASSWORD

    @staticmethod
    def token_ok(token: str | None) -> bool:
        return token == TOKEN

    # Numbers.
    @staticmethod
    def phone(raw: str, region: str | None = None) -> str | None:
        """E.164 for what a gateway received (`447700900123`, `+44...`, `0044...`, or national
        with `region`), or None when it cannot be a phone number."""
        import phonenumbers

        text = "".join(c for c in str(raw) if c not in " -().")
        if text.startswith("00"):
            text = "+" + text[2:]
        if not text or not text.lstrip("+").isdigit():
            return None
        if not text.startswith("+") and not (region and text.startswith("0")):
            text = "+" + text
        try:
            number = phonenumbers.parse(text, None if text.startswith("+") else region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_possible_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @staticmethod
    def routable(e164: str) -> bool:
        return not e164.endswith(UNROUTABLE_SUFFIX)

    # Money and ids.
    def credits(self, gateway: str) -> float:
        return self.balances.get(gateway, 0.0)

    def charge(self, gateway: str, amount: float) -> bool:
        """Take `amount` credits, or nothing and False when the account has too few."""
        if self.balances.get(gateway, 0.0) < amount:
            return False
        self.balances[gateway] -= amount
        return True

    def next_id(self, gateway: str, start: int = 1) -> int:
        """The gateway's next number, counting from `start` (ids look like each gateway's)."""
        counter = self._counters.setdefault(gateway, itertools.count(start))
        return next(counter)

    def data(self, gateway: str) -> dict[str, Any]:
        """Scratch space of one simulator (phonebooks, cursors), emptied by a reset."""
        return self.scratch.setdefault(gateway, {})

    # The inbox.
    def accept(
        self, gateway: str, to: str, text: str, sender: str, id: str, reference: str = "",
        **extra: Any,
    ) -> Message:
        """Record one accepted text for one recipient. Never deduplicates."""
        from .text import count_parts

        message = Message(
            gateway, to, text, sender, count_parts(text).parts, str(id), reference,
            at=time.time(), since=time.monotonic(), extra=extra,
        )
        self.inbox.append(message)
        return message

    def messages(self, gateway: str, **match: Any) -> list[Message]:
        """Accepted messages of a gateway whose fields (id, reference, to, or extra keys) match."""
        out = []
        for m in self.inbox:
            if m.gateway != gateway:
                continue
            if all(getattr(m, k, m.extra.get(k)) == v for k, v in match.items()):
                out.append(m)
        return out

    def query(self, message: Message) -> str:
        """A status query: what the gateway reports now; the next query sees it delivered."""
        state = message.status(self.deliver_after)
        message.queried = True
        return state

    def entry(self, m: Message) -> dict[str, Any]:
        return {"gateway": m.gateway, "to": m.to, "text": m.text, "sender": m.sender,
                "parts": m.parts, "id": m.id, "reference": m.reference,
                "status": m.status(self.deliver_after), "at": m.at}

    # Faults.
    def add_fault(self, fault: Fault) -> Fault:
        fault.id = next(self._ids)
        if fault.seconds is not None:
            fault.until = time.monotonic() + fault.seconds
        self.faults.append(fault)
        return fault

    def active_faults(self) -> list[Fault]:
        now = time.monotonic()
        self.faults = [f for f in self.faults if f.until is None or f.until > now]
        return self.faults

    def take_fault(self, gateway: str) -> Fault | None:
        """The fault that applies to this request to `gateway`, counted down."""
        for fault in self.active_faults():
            if fault.gateway != gateway:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
            return fault
        return None

    # The request log.
    def record(self, ex: Exchange, status: int) -> None:
        """One line on stderr and one entry in /admin/requests per request. Never a secret:
        only the gateway, operation, recipients and outcome are logged."""
        outcome = ex.outcome or f"HTTP {status}"
        entry = {"gateway": ex.gateway, "operation": ex.operation or f"{ex.method} {ex.path}",
                 "recipients": list(ex.recipients), "outcome": outcome, "http_status": status,
                 "fault": ex.fault, "at": time.time()}
        self.requests.append(entry)
        shown = ",".join(ex.recipients[:5]) + (f" (+{len(ex.recipients) - 5} more)"
                                                if len(ex.recipients) > 5 else "")
        fault = f" [{ex.fault}]" if ex.fault else ""
        log.info("%s %s to=%s -> %s%s", ex.gateway, entry["operation"], shown or "-",
                    outcome, fault)


def exchange(request: Request) -> Exchange:
    """The log record of this request, for the endpoint to fill in."""
    ex = getattr(request.state, "exchange", None)
    if ex is None:
        ex = request.state.exchange = Exchange("-", request.method, request.url.path)
    return ex  # type: ignore[no-any-return]


def injected(request: Request) -> str | None:
    """The gateway error code an `error_code` fault asks this request to answer, if any."""
    return exchange(request).code


class Params(dict[str, str]):
    """Request parameters whose names ignore case, as ASP.NET and PHP gateways read them."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


async def form(request: Request) -> Params:
    """Query string and url-encoded body together (the body wins), names case-insensitive.
    A gateway reads both for GET and POST alike; undecodable bytes are replaced, never fatal."""
    from urllib.parse import parse_qsl

    out = Params()
    for key, value in request.query_params.multi_items():
        out[key.lower()] = value
    body = await request.body()
    if body and "json" not in request.headers.get("content-type", ""):
        text = body.decode("utf-8", errors="replace")
        for key, value in parse_qsl(text, keep_blank_values=True):
            out[key.lower()] = value
    return out


Endpoint = Callable[[Request], Awaitable[Response]]


def _http_error(status: int) -> Response:
    reason = HTTP_REASONS.get(status, "Error")
    body = f"<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1></body></html>"
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


def wrap(gateway: str, endpoint: Callable[[Request], Any], state: State) -> Endpoint:
    """A simulator endpoint with faults applied, crashes contained and one log line."""

    async def handle(request: Request) -> Response:
        ex = request.state.exchange = Exchange(gateway, request.method, request.url.path)
        fault = state.take_fault(gateway)
        response: Response | None = None
        if fault is not None:
            ex.fault = fault.describe()
            if fault.kind == "http_error":
                response = _http_error(fault.status)
            elif fault.kind == "timeout":
                # Logged as the hold starts, not when it ends: the sandbox notices a client that
                # gave up only at its next poll, and an entry landing then would be counted by
                # whatever runs next. A client still there when the hold ends gets this 504.
                ex.outcome = "held without an answer"
                state.record(ex, 504)
                await _hold(request, fault.delay)
                return _http_error(504)
            elif fault.kind == "slow":
                # A busy gateway has the whole request before it is slow to act on it: a client
                # that gives up (or dies) meanwhile does not stop the text going out.
                await request.body()
                await asyncio.sleep(fault.delay)
            elif fault.kind == "error_code":
                ex.code = fault.code
        if response is None:
            try:
                result = endpoint(request)
                response = await result if inspect.isawaitable(result) else result
            except Exception as exc:  # noqa: BLE001 - a simulator bug must not reach a client
                ex.outcome = f"sandbox error {type(exc).__name__}: {exc}"
                response = PlainTextResponse("sandbox error", status_code=500)
        if fault is not None and fault.kind == "garble":  # done as usual, answered unreadably
            ex.outcome = f"{ex.outcome}, answered {fault.body!r} instead"
            response = PlainTextResponse(fault.body, status_code=200)
        state.record(ex, response.status_code)
        return response

    return handle


class CaseInsensitivePaths:
    """IIS, behind every one of these gateways, ignores the case of paths
    (`/sendSimpleTextSMS` reaches `/SendSimpleTextSMS`)."""

    def __init__(self, app: ASGIApp, paths: list[str]) -> None:
        self.app = app
        self.paths = {p.lower(): p for p in paths}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            canonical = self.paths.get(scope["path"].lower())
            if canonical and canonical != scope["path"]:
                scope = {**scope, "path": canonical, "raw_path": canonical.encode()}
        await self.app(scope, receive, send)


def collect_simulators() -> dict[str, Any]:
    """Simulators of every loaded plugin, through the hook only; a broken one is skipped."""
    from .manager import get_pm

    found: dict[str, Any] = {}

    def register(scheme: str, simulator: Any) -> None:
        if not callable(getattr(simulator, "routes", None)):
            raise TypeError(f"simulator for {scheme}:// has no routes(state) method")
        if scheme in found:
            log.warning("a second simulator for %s:// is ignored", scheme)
            return
        found[scheme] = simulator

    pm = get_pm()
    for name, plugin in list(pm.list_name_plugin()):
        if not hasattr(plugin, "sms_notify_register_simulators"):
            continue
        try:
            plugin.sms_notify_register_simulators(register=register)
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the sandbox
            log.warning("plugin %s: simulator not loaded: %r", name, exc)
    return found


def build_app(
    simulators: Mapping[str, Any], *, credits: float = START_CREDITS,
    deliver_after: float = DELIVER_AFTER, faults: list[dict[str, Any]] = (),  # type: ignore[assignment]
    on_ready: Callable[[], None] | None = None,
) -> tuple[ASGIApp, State]:
    """The sandbox application over the given simulators, and its state."""
    state = State(simulators, credits, deliver_after)
    for spec in faults:
        state.add_fault(parse_fault(spec, state.simulators))
    routes: list[Route] = []
    seen: dict[str, str] = {}
    for scheme, simulator in simulators.items():
        for route in simulator.routes(state):
            if route.path in seen:
                log.warning("%s: %s is served by %s already", scheme, route.path, seen[route.path])
                continue
            seen[route.path] = scheme
            routes.append(Route(route.path, wrap(scheme, route.endpoint, state),
                                methods=sorted(route.methods or ["GET", "POST"]), name=route.name))
    routes += admin_routes(state)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        if on_ready:
            on_ready()
        yield

    async def not_found(request: Request, exc: Exception) -> Response:
        ex = Exchange("-", request.method, request.url.path)
        status = getattr(exc, "status_code", 404)
        ex.outcome = f"HTTP {status}"
        state.record(ex, status)
        return PlainTextResponse(f"{status} {request.url.path}", status_code=status)

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_found})
    return CaseInsensitivePaths(app, [r.path for r in routes]), state


def admin_routes(state: State) -> list[Route]:
    """The inbox, faults, balances and health endpoints."""

    def messages(request: Request) -> list[dict[str, Any]]:
        gateway = request.query_params.get("gateway")
        to = request.query_params.get("to")
        if to:
            to = State.phone(to) or to
        return [state.entry(m) for m in state.inbox
                if (not gateway or m.gateway == gateway) and (not to or m.to == to)]

    async def inbox(request: Request) -> Response:
        if request.method == "DELETE":
            state.inbox.clear()
            return JSONResponse({"messages": []})
        return JSONResponse({"messages": messages(request)})

    async def page(request: Request) -> Response:
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(e[k]))}</td>" for k in
                             ("gateway", "to", "sender", "text", "parts", "id", "status")) + "</tr>"
            for e in reversed(messages(request))
        )
        gateways = ", ".join(html.escape(g) for g in sorted(state.simulators))
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>sms-notify sandbox</title>"
            "<style>body{font-family:sans-serif}td,th{border-bottom:1px solid #ccc;padding:4px;"
            "vertical-align:top}td:nth-child(4){white-space:pre-wrap}</style></head><body>"
            f"<h1>sms-notify sandbox</h1><p>Gateways: {gateways}. "
            f"{len(state.inbox)} message(s); <a href='/inbox'>JSON</a>.</p><table>"
            "<tr><th>gateway</th><th>to</th><th>from</th><th>text</th><th>parts</th><th>id</th>"
            f"<th>status</th></tr>{rows}</table></body></html>"
        )
        return HTMLResponse(body)

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults.clear()
            return JSONResponse({"faults": []})
        if request.method == "GET":
            return JSONResponse({"faults": [f.public() for f in state.active_faults()]})
        try:
            spec = json.loads(await request.body() or b"null")
            if not isinstance(spec, dict):
                raise BadFault("expected a JSON object")
            fault = state.add_fault(parse_fault(spec, state.simulators))
        except (BadFault, ValueError) as exc:
            return _admin_log(state, request, 400, f"bad fault: {exc}",
                              JSONResponse({"error": str(exc)}, status_code=400))
        return _admin_log(state, request, 200, f"added {fault.gateway} {fault.describe()}",
                          JSONResponse(fault.public()))

    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            state.requests.clear()
            return JSONResponse({"requests": []})
        gateway = request.query_params.get("gateway")
        return JSONResponse({"requests": [r for r in state.requests
                                          if not gateway or r["gateway"] == gateway]})

    async def balances(request: Request) -> Response:
        if request.method == "POST":
            try:
                spec = json.loads(await request.body() or b"null")
                gateway, credits = spec["gateway"], float(spec["credits"])
                if gateway not in state.simulators:
                    raise ValueError(f"unknown gateway {gateway!r}")
            except (ValueError, KeyError, TypeError) as exc:
                return JSONResponse({"error": f"expected {{gateway, credits}}: {exc}"},
                                    status_code=400)
            state.balances[gateway] = credits
        return JSONResponse({"balances": state.balances})

    async def reset(request: Request) -> Response:
        state.reset()
        return _admin_log(state, request, 200, "reset", JSONResponse({"reset": True}))

    async def healthy(request: Request) -> Response:
        return PlainTextResponse("OK")

    async def gateways(request: Request) -> Response:
        return JSONResponse({"gateways": sorted(state.simulators)})

    return [
        Route("/", page, methods=["GET"]),
        Route("/inbox", inbox, methods=["GET", "DELETE"]),
        Route("/admin/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/admin/requests", requests_log, methods=["GET", "DELETE"]),
        Route("/admin/balances", balances, methods=["GET", "POST"]),
        Route("/admin/reset", reset, methods=["POST"]),
        Route("/admin/gateways", gateways, methods=["GET"]),
        Route("/-/healthy", healthy, methods=["GET"]),
    ]


def _admin_log(state: State, request: Request, status: int, outcome: str, response: Response
               ) -> Response:
    log.info("admin %s %s -> %s", request.method, request.url.path, outcome)
    return response


def sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    from .listen import parse_listen

    parser.add_argument("--listen", default=DEFAULT_LISTEN, type=parse_listen, metavar="HOST:PORT",
                        help=f"address to serve on (default {DEFAULT_LISTEN}; port 0 picks one)")
    parser.add_argument(
        "--fault", action="append", default=[], metavar="GATEWAY:KIND[:ARG][:count=N][:seconds=S]",
        help="inject a fault from the start, e.g. fastsms:http_error:503:count=3, "
             "intellisms:error_code:auth, sms24x:slow:2.5:seconds=30, mymobileapi:timeout",
    )
    parser.add_argument("--credits", type=float, default=START_CREDITS,
                        help=f"starting balance of every gateway (default {START_CREDITS:g})")
    parser.add_argument("--deliver-after", type=float, default=DELIVER_AFTER, metavar="SECONDS",
                        help=f"when a sent message turns delivered (default {DELIVER_AFTER:g})")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def sandbox(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; print the ready line with the real port."""
    import uvicorn

    from .errors import UsageError
    from .listen import address, bind

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
