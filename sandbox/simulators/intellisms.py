"""IntelliSoftware as its HTTP interface describes it, the send-unicode and getbalance pages
included (docs/gateways.md, IntelliSoftware).

sendmsg.aspx and getbalance.aspx, form fields by GET or POST, lower-case names as documented.
Answers are text lines: `ID:<20 digits>` or `ERR:CODE` for one recipient or a whole-submission
failure, `number,ID:...` / `number,ERR:CODE` per recipient otherwise, one ID for the whole
submission. Numbers are echoed in international format and a number repeated in one request
is sent once, as the document says. Unicode comes as type=2 with UCS-2 hex. A text that needs
more parts than `maxconcat` (default 1) is refused: the document is silent, and refusing is
the harsher of refusing and cutting it.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from starlette.routing import Route

from ..parts import parts
from ..simulator import Call, Simulator, form_call, plain
from ..state import phone, routable

MAX_NUMBERS = 100
ID_BASE = 10011000000000000000


class IntelliSms(Simulator[str]):
    """The legacy username/password HTTP interface: sendmsg and getbalance."""

    scheme = "intellisms"
    error_codes: ClassVar[dict[str, str]] = {
        "auth": "LOGIN_INVALID", "credit": "INSUFFICIENT_CREDIT", "recipient": "INVALID_NUMBER",
        "request": "INVALID_REQUEST", "rate_limited": "DAILY_ALLOWANCE_EXCEEDED",
        "unavailable": "INTERNAL_ERROR",
    }
    operations: ClassVar[dict[str, str]] = {"sendmsg": "sendmsg", "getbalance": "getbalance"}

    def routes(self) -> list[Route]:
        return [self.route(f"/smsgateway/{op}.aspx", partial(form_call, operation=op), plain,
                           methods=("GET", "POST")) for op in self.operations]

    def fail(self, call: Call, code: str, detail: str = "") -> str:
        call.outcome = f"ERR:{code.removeprefix('ERR:')}"
        return call.outcome

    def describe(self, call: Call) -> None:
        call.recipients = [n.strip() for n in call.text("to").split(",") if n.strip()]

    def refuse(self, call: Call) -> str | None:
        if not call.text("username"):
            return self.fail(call, "NO_USERNAME")
        if not call.text("password"):
            return self.fail(call, "NO_PASSWORD")
        if not self.state.login(call.text("username"), call.text("password")):
            return self.fail(call, "LOGIN_INVALID")
        return None

    def getbalance(self, call: Call) -> str:
        call.outcome = f"BALANCE:{int(self.credits)}"
        return call.outcome

    def sendmsg(self, call: Call) -> str:
        raw = call.recipients
        if not raw:
            return self.fail(call, "NO_TO")
        if len(raw) > MAX_NUMBERS:
            return self.fail(call, "TOO_MANY_NUMBERS")
        text = self._text(call)
        if text is None or text.startswith("ERR:"):
            return self.fail(call, text or "INVALID_REQUEST")
        if not text.strip():
            return self.fail(call, "NO_TEXT")
        sender = call.text("from")
        digits = sender.removeprefix("+")
        if len(digits if digits.isdigit() else sender) > (15 if digits.isdigit() else 11):
            return self.fail(call, "INVALID_REQUEST")
        maxconcat = call.text("maxconcat") or "1"
        each = parts(text)
        if not maxconcat.isdigit() or each > int(maxconcat):
            return self.fail(call, "INVALID_REQUEST")
        numbers: dict[str, str | None] = {}  # as echoed -> E.164, a repeated number once
        for value in raw:
            e164 = phone(value, "GB")
            numbers.setdefault(e164 or value, e164)
        call.recipients = list(numbers)
        good = [n for n in numbers.values() if n and routable(n)]
        if good and not self.charge(each * len(good)):
            return self.fail(call, "INSUFFICIENT_CREDIT")
        message_id = str(ID_BASE + int(self.next_id())) if good else ""
        for number in good:
            self.accept(number, text, sender, message_id)
        results = {shown: (f"ID:{message_id}" if e164 in good else "ERR:INVALID_NUMBER")
                   for shown, e164 in numbers.items()}
        call.outcome = f"{len(good)} sent, {each} part(s) each" + (
            f", ID:{message_id}" if good else ", ERR:INVALID_NUMBER")
        if len(results) == 1:
            return next(iter(results.values()))
        return "\n".join(f"{n.lstrip('+')},{r}" for n, r in results.items())

    @staticmethod
    def _text(call: Call) -> str | None:
        """The text of a type 1 or 6 message, or of a type 2 one from its UCS-2 hex; an ERR:
        code for a type 2 without usable hex; None for another type."""
        kind = call.text("type") or "1"
        if kind in ("1", "6"):
            return call.text("text")
        if kind != "2":
            return None
        if not call.text("hex"):
            return "ERR:PARAMETER_MISSING"
        try:
            return bytes.fromhex(call.text("hex")).decode("utf-16-be")
        except ValueError:
            return "ERR:PARAMETER_INVALID"
