"""What the simulated gateways share: the inbox, balances, ids and the injected faults.

The inbox holds one entry per recipient a gateway accepted, as the phone would show it, never
deduplicated (docs/design.md, Decision 1: a client that sends twice finds its text twice).
What the gateways send out themselves (delivery notifications, forwarded replies) is an
`Outgoing` request, made by the server and kept in `pushes`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .parts import parts

if TYPE_CHECKING:
    from .simulator import Simulator

USER = PASSWORD = TOKEN = "sandbox"
START_CREDITS = 1000.0
DELIVER_AFTER = 1.0  # seconds from "sent" to "delivered"
TIMEOUT_HOLD = 60.0  # longest a "timeout" fault holds a request
UNROUTABLE_SUFFIX = "0000"  # numbers ending so cannot be reached
UNDELIVERABLE_SUFFIX = "0001"  # accepted, then reported failed
EXPIRING_SUFFIX = "0002"  # accepted, then reported expired where the gateway says so (else failed)
INDEXED = ("id", "reference", "to")  # Message fields the inbox is indexed by
FAULT_KINDS = ("http_error", "timeout", "slow", "error_code", "garble")
GARBLED = "<html><body>OK</body></html>"  # what a garble fault answers unless told otherwise


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
    reachable: bool = True  # False: taken by a gateway that checks numbers only later
    extra: dict[str, Any] = field(default_factory=dict)  # gateway-specific (batch id, user field)

    def status(self, deliver_after: float) -> str:
        """sent, then delivered; failed for the undeliverable test numbers and for numbers a
        gateway took without being able to reach them; expired for the expiring ones."""
        if not (self.queried or time.monotonic() - self.since >= deliver_after):
            return "sent"
        if not self.reachable or self.to.endswith(UNDELIVERABLE_SUFFIX):
            return "failed"
        if self.to.endswith(EXPIRING_SUFFIX):
            return "expired"
        return "delivered"


@dataclass
class Outgoing:
    """A request a simulated gateway makes itself: a delivery notification, a forwarded reply.
    `params` go in the query string of a GET and as a form body of a POST."""

    gateway: str
    what: str  # for the log: "delivery notification", "forwarded reply"
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)

    def shown(self) -> dict[str, Any]:
        """What the log and /admin/pushes show: the address without its query string, which
        may carry the receiver's secret."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        return {"gateway": self.gateway, "what": self.what, "method": self.method,
                "url": f"{parts.scheme}://{parts.netloc}{parts.path}"}


@dataclass
class Fault:
    """An injected failure for one gateway: the next `count` requests, for `seconds`, or until
    cleared."""

    gateway: str
    kind: str
    status: int = 503
    code: str = ""
    delay: float = 2.0
    body: str = GARBLED
    count: int | None = None
    seconds: float | None = None
    id: int = 0
    until: float | None = None  # monotonic deadline from `seconds`

    def describe(self) -> str:
        what = {"http_error": f"HTTP {self.status}", "error_code": f"code {self.code}",
                "slow": f"{self.delay:g}s late", "timeout": "no answer",
                "garble": f"answer replaced by {self.body[:40]!r}"}[self.kind]
        return f"fault {self.kind} ({what})"

    def public(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "until"}
        if self.until is not None:
            out["seconds_left"] = round(max(0.0, self.until - time.monotonic()), 3)
        return out


class BadFault(ValueError):
    """A fault specification that cannot work; the message says why."""


def parse_fault(spec: Mapping[str, Any], known: Mapping[str, type[Simulator[Any]]]) -> Fault:
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
        code = known[gateway].error_codes.get(code, code)
    body = spec.get("body", GARBLED)
    if not isinstance(body, str):
        raise BadFault("body must be a string")
    return Fault(gateway, kind, status, code, delay, body, count, seconds)


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
        if eq and key in ("count", "seconds", "status", "code", "delay", "body"):
            spec[key] = value
        elif eq and fields[1] != "garble":
            raise BadFault(f"{text!r}: unknown setting {key!r}")
        elif fields[1] in arg_key and arg_key[fields[1]] not in spec:
            spec[arg_key[fields[1]]] = item
        else:
            raise BadFault(f"{text!r}: unexpected {item!r}")
    return spec


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


def routable(e164: str) -> bool:
    """Whether the network can reach the number at all (the test numbers ending 0000 not)."""
    return not e164.endswith(UNROUTABLE_SUFFIX)


class State:
    """Everything the simulators share: inbox, balances, ids, faults, the request log; and
    the simulators themselves, one of each registered kind, made for this state."""

    def __init__(
        self, simulators: Mapping[str, type[Simulator[Any]]], credits: float = START_CREDITS,
        deliver_after: float = DELIVER_AFTER,
    ) -> None:
        self.kinds = dict(simulators)
        self.start_credits = credits
        self.deliver_after = deliver_after
        self._ids = itertools.count(1)
        self.simulators: dict[str, Simulator[Any]] = {}
        self.reset()
        self.simulators = {scheme: kind(self) for scheme, kind in self.kinds.items()}

    def reset(self) -> None:
        """Everything back to the start, the simulators' own data (phonebooks, ...) too."""
        self.clear_inbox()
        self.requests: list[dict[str, Any]] = []
        self.pushes: list[dict[str, Any]] = []  # the Outgoing requests made, with their answers
        self.faults: list[Fault] = []
        self.balances: dict[str, float] = {g: self.start_credits for g in self.kinds}
        self._counters: dict[str, Iterator[int]] = {}
        for simulator in self.simulators.values():
            simulator.reset()

    # Credentials: one fixed account for every gateway.
    @staticmethod
    def login(user: object, password: object) -> bool:
        return user == USER and password == PASSWORD

    @staticmethod
    def token_ok(token: object) -> bool:
        return token == TOKEN

    # Money and ids.
    def credits(self, gateway: str) -> float:
        return self.balances.get(gateway, 0.0)

    def charge(self, gateway: str, amount: float) -> bool:
        """Take `amount` credits, or nothing and False when the account has too few."""
        if self.balances.get(gateway, 0.0) < amount:
            return False
        self.balances[gateway] -= amount
        return True

    def next_id(self, series: str, start: int = 1) -> int:
        """The next number of a series, counting from `start` (ids look like each gateway's)."""
        counter = self._counters.setdefault(series, itertools.count(start))
        return next(counter)

    # The inbox.
    def accept(
        self, gateway: str, to: str, text: str, sender: str, id: str, reference: str = "",
        reachable: bool = True, **extra: Any,
    ) -> Message:
        """Record one accepted text for one recipient. Never deduplicates."""
        message = Message(
            gateway, to, text, sender, parts(text), str(id), reference,
            at=time.time(), since=time.monotonic(), reachable=reachable, extra=extra,
        )
        self.inbox.append(message)
        for key in INDEXED:
            self._index.setdefault((gateway, key, str(getattr(message, key))), []).append(message)
        return message

    def messages(self, gateway: str, **match: Any) -> list[Message]:
        """Accepted messages of a gateway whose fields (id, reference, to, or extra keys) match;
        by id, reference or number from an index, as a status query asks for one among many."""
        key = next(((k, str(v)) for k, v in match.items() if k in INDEXED), None)
        pool = self._index.get((gateway, *key), []) if key else self.inbox
        return [m for m in pool if m.gateway == gateway
                and all(getattr(m, k, m.extra.get(k)) == v for k, v in match.items())]

    def clear_inbox(self) -> None:
        self.inbox: list[Message] = []
        self._index: dict[tuple[str, str, str], list[Message]] = {}

    def query(self, message: Message) -> str:
        """A status query: what the gateway reports now; the next query sees it final."""
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
