"""IntelliSoftware simulator for `sms-notify sandbox`: sendmsg.aspx and getbalance.aspx.

Answers are text lines: `ID:<20 digits>` or `ERR:CODE` for one recipient or a whole-submission
failure, `number,ID:...` / `number,ERR:CODE` per recipient otherwise (one ID for the whole
submission). As the gateway documents, numbers are echoed in international format and
duplicates within one request are removed. Unicode texts come as type=2 with UCS-2 hex.
"""

from __future__ import annotations

from typing import ClassVar

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sms_notify.sandbox import Params, State, exchange, form, injected
from sms_notify.text import count_parts

SCHEME = "intellisms"
MAX_NUMBERS = 100
ID_BASE = 10011000000000000000


class IntelliSmsSimulator:
    """The legacy username/password HTTP interface."""

    error_codes: ClassVar[dict[str, str]] = {"auth": "LOGIN_INVALID", "credit": "INSUFFICIENT_CREDIT",
                   "recipient": "INVALID_NUMBER", "request": "INVALID_REQUEST",
                   "rate_limited": "DAILY_ALLOWANCE_EXCEEDED", "unavailable": "INTERNAL_ERROR"}

    def routes(self, state: State) -> list[Route]:
        def err(request: Request, code: str) -> Response:
            code = code.removeprefix("ERR:")
            exchange(request).outcome = f"ERR:{code}"
            return PlainTextResponse(f"ERR:{code}")

        def login_error(params: Params) -> str | None:
            if not params.get("username"):
                return "NO_USERNAME"
            if not params.get("password"):
                return "NO_PASSWORD"
            return None if state.login(params.get("username"), params.get("password")) \
                else "LOGIN_INVALID"

        async def sendmsg(request: Request) -> Response:
            params = await form(request)
            ex = exchange(request)
            ex.operation = "sendmsg"
            raw = [n.strip() for n in (params.get("to") or "").split(",") if n.strip()]
            ex.recipients = raw
            if (code := injected(request)) is not None:
                return err(request, code)
            if (code := login_error(params)) is not None:
                return err(request, code)
            if not raw:
                return err(request, "NO_TO")
            if len(raw) > MAX_NUMBERS:
                return err(request, "TOO_MANY_NUMBERS")
            kind = params.get("type") or "1"
            if kind == "2":
                if not params.get("hex"):
                    return err(request, "PARAMETER_MISSING")
                try:
                    text = bytes.fromhex(params.get("hex")).decode("utf-16-be")
                except ValueError:
                    return err(request, "PARAMETER_INVALID")
            elif kind in ("1", "6"):
                text = params.get("text") or ""
            else:
                return err(request, "INVALID_REQUEST")
            if not text.strip():
                return err(request, "NO_TEXT")
            sender = params.get("from") or ""
            digits = sender.removeprefix("+")
            if len(digits if digits.isdigit() else sender) > (15 if digits.isdigit() else 11):
                return err(request, "INVALID_REQUEST")
            try:
                maxconcat = int(params.get("maxconcat") or "1")
            except ValueError:
                return err(request, "INVALID_REQUEST")
            parts = count_parts(text).parts
            if parts > maxconcat:
                return err(request, "INVALID_REQUEST")
            numbers: dict[str, str | None] = {}
            for value in raw:
                e164 = state.phone(value, "GB")
                numbers.setdefault(e164 or value, e164)
            ex.recipients = list(numbers)
            good = [n for n in numbers.values() if n and state.routable(n)]
            if good and not state.charge(SCHEME, parts * len(good)):
                return err(request, "INSUFFICIENT_CREDIT")
            message_id = str(ID_BASE + state.next_id(SCHEME)) if good else ""
            for number in good:
                state.accept(SCHEME, number, text, sender or "IntelliSMS", message_id)
            results = {shown: (f"ID:{message_id}" if e164 in good else "ERR:INVALID_NUMBER")
                       for shown, e164 in numbers.items()}
            ex.outcome = f"{len(good)} sent, {parts} part(s) each" + (
                f", ID:{message_id}" if good else ", ERR:INVALID_NUMBER")
            if len(results) == 1:
                return PlainTextResponse(next(iter(results.values())))
            return PlainTextResponse("\n".join(f"{n.lstrip('+')},{r}" for n, r in results.items()))

        async def getbalance(request: Request) -> Response:
            params = await form(request)
            exchange(request).operation = "getbalance"
            if (code := injected(request)) is not None:
                return err(request, code)
            if (code := login_error(params)) is not None:
                return err(request, code)
            balance = int(state.credits(SCHEME))
            exchange(request).outcome = f"BALANCE:{balance}"
            return PlainTextResponse(f"BALANCE:{balance}")

        return [
            Route("/smsgateway/sendmsg.aspx", sendmsg, methods=["GET", "POST"]),
            Route("/smsgateway/getbalance.aspx", getbalance, methods=["GET", "POST"]),
        ]


def simulator() -> IntelliSmsSimulator:
    return IntelliSmsSimulator()
