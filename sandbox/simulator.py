"""A simulated gateway: one method per operation, and how its requests and answers travel.

A simulator is a `Simulator` subclass that a plugin registers through
``sms_notify_register_simulators``. The sandbox makes one per run, with the State the gateways
share. Its operations take a `Call`, the request as it arrived (form fields, JSON members or
SOAP elements, by their names as sent), and return the gateway's answer in its own terms (a
string, a JSON object), so a test can call them without HTTP. `routes` maps the gateway's
documented paths to `route(path, read, write)`: how a request becomes a Call, how an answer
becomes a response. The server around it applies faults and writes one log line per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .state import Message, Outgoing, State

if TYPE_CHECKING:
    from .state import Fault

R = TypeVar("R")


@dataclass
class Call:
    """One request to a simulated gateway, as it arrived; the operation that answers it fills
    in what the request log shows (`recipients`, `outcome`)."""

    operation: str  # the gateway's name for it: Send, sendmsg, SendTextSMS, SendFullSMS, ...
    args: Mapping[str, Any] = field(default_factory=dict)  # names exactly as sent
    version: str = ""  # the SOAP envelope's namespace, for SOAP gateways
    injected: str | None = None  # the gateway error code an error_code fault asks for
    recipients: list[str] = field(default_factory=list)
    outcome: str = ""

    def text(self, name: str) -> str:
        """An argument as text; "" when it is missing or not a string."""
        value = self.args.get(name)
        return value if isinstance(value, str) else ""


@dataclass
class Exchange:
    """What one request was, for its log line."""

    gateway: str
    method: str
    path: str
    operation: str = ""
    recipients: list[str] = field(default_factory=list)
    outcome: str = ""
    fault: Fault | None = None


def exchange(request: Request) -> Exchange:
    """The log record of this request (the server makes one per request)."""
    ex = getattr(request.state, "exchange", None)
    if not isinstance(ex, Exchange):
        ex = request.state.exchange = Exchange("-", request.method, request.url.path)
    return ex


class Answered(Exception):  # noqa: N818 - it is how an operation answers, not a failure
    """Raised by an operation whose answer is not a reply of its usual shape (an ASP.NET SOAP
    fault, an HTTP error): the response to send instead, and its log outcome."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome

    def response(self, call: Call) -> Response:
        raise NotImplementedError


class Unsupported(ValueError):
    """An admin request a gateway cannot act on (a reply to a gateway that takes none)."""


class Simulator(Generic[R]):
    """Base of a simulated gateway whose answers are of type R (str, a JSON object, ...).

    Subclasses set `scheme`, `error_codes` (category -> the gateway's code, for error_code
    faults named by category) and `operations` (the gateway's operation names -> method names),
    and write `routes`, `fail` and usually `refuse`. Their own data (phonebooks, lists) lives in
    attributes set by `reset`, which /admin/reset calls again.
    """

    scheme: ClassVar[str] = ""
    error_codes: ClassVar[Mapping[str, str]] = {}
    operations: ClassVar[Mapping[str, str]] = {}

    def __init__(self, state: State) -> None:
        self.state = state
        self.reset()

    def reset(self) -> None:
        """Back to the start: this gateway's own data."""

    def routes(self) -> list[Route]:
        """The gateway's documented paths, each a `route(path, read, write)`."""
        raise NotImplementedError

    def fail(self, call: Call, code: str, detail: str = "") -> R:
        """The gateway's error answer with its code (and text), the outcome noted."""
        raise NotImplementedError

    def refuse(self, call: Call) -> R | None:
        """The answer to a call whose credentials the gateway refuses; None to let it in."""
        return None

    def describe(self, call: Call) -> None:
        """Note what the log shows of a call whatever its answer: its recipients."""

    # What the gateway does by itself, for the server to carry out.
    def due(self) -> list[Outgoing]:
        """Requests the gateway makes now (delivery notifications whose time has come); the
        server asks a few times a second."""
        return []

    def reply(self, number: str, text: str) -> tuple[dict[str, Any], list[Outgoing]]:
        """A phone replies: what the gateway made of it (shown to the admin caller) and the
        requests it makes at once (a forward)."""
        raise Unsupported(f"{self.scheme} takes no replies")

    def forwarding(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Where the gateway forwards replies, as its web interface would set it."""
        raise Unsupported(f"{self.scheme} forwards no replies")

    def answer(self, call: Call) -> R:
        """The gateway's answer to one call: the injected error, else refused credentials,
        else the operation's answer (an unknown operation is the request's error)."""
        self.describe(call)
        if call.injected is not None:
            return self.fail(call, call.injected)
        refused = self.refuse(call)
        if refused is not None:
            return refused
        name = self.find(call.operation)
        if name is None:
            return self.unknown(call)
        operation: Callable[[Call], R] = getattr(self, name)
        return operation(call)

    def unknown(self, call: Call) -> R:
        """The answer to an operation the gateway does not have."""
        return self.fail(call, self.error_codes.get("request", "request"),
                         f"unknown operation {call.operation!r}")

    def find(self, operation: str) -> str | None:
        """The method for an operation name as the gateway matches them (exactly, here)."""
        return self.operations.get(operation)

    # The HTTP side.
    def route(
        self, path: str, read: Callable[[Request], Awaitable[Call | Response]],
        write: Callable[[Call, R], Response], methods: tuple[str, ...] = ("POST",),
    ) -> Route:
        """A documented path: each request read into a Call, answered, written back."""

        async def endpoint(request: Request) -> Response:
            ex = exchange(request)
            call = await read(request)
            if isinstance(call, Response):
                return call
            if ex.fault is not None and ex.fault.kind == "error_code":
                call.injected = ex.fault.code
            ex.operation = call.operation or ex.operation
            try:
                response = write(call, self.answer(call))
            except Answered as exc:
                call.outcome = call.outcome or exc.outcome
                response = exc.response(call)
            ex.recipients, ex.outcome = call.recipients, call.outcome
            return response

        return Route(path, endpoint, methods=list(methods))

    # The shared ledger, for this gateway.
    @property
    def credits(self) -> float:
        return self.state.credits(self.scheme)

    def charge(self, amount: float) -> bool:
        return self.state.charge(self.scheme, amount)

    def next_id(self, start: int = 1, series: str = "") -> str:
        return str(self.state.next_id(f"{self.scheme}{series}", start))

    def accept(self, to: str, text: str, sender: str, id: str, reference: str = "",
               reachable: bool = True, **extra: Any) -> Message:
        return self.state.accept(self.scheme, to, text, sender, id, reference, reachable,
                                 **extra)

    def messages(self, **match: Any) -> list[Message]:
        return self.state.messages(self.scheme, **match)


# Readers and writers for the common wire formats.

async def form_call(request: Request, operation: str = "", field: str = "") -> Call:
    """A form request, GET or POST: query string and url-encoded body together (the body
    wins), names exactly as sent; the operation given, or the value of `field`. Undecodable
    bytes are replaced, never fatal."""
    fields = dict(request.query_params.multi_items())
    body = await request.body()
    if body and "json" not in request.headers.get("content-type", ""):
        fields.update(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    return Call(operation or fields.get(field, ""), fields)


async def json_call(request: Request, operation: str) -> Call | Response:
    """A JSON-object request; anything else gets the 400 an ASP.NET JSON service answers."""
    import json

    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        exchange(request).outcome = "HTTP 400 (body is not a JSON object)"
        return JSONResponse({"Message": "The request is invalid."}, status_code=400)
    return Call(operation, body)


def plain(call: Call, answer: str) -> Response:
    return PlainTextResponse(answer)


def json_answer(call: Call, answer: Mapping[str, Any]) -> Response:
    return JSONResponse(dict(answer))
