"""FastSMS simulator for `sms-notify sandbox`: the /api form interface in its plain-text answers.

A send answers one message id or negative code per number, comma-separated, in order; a
whole-request error is one negative code, with its text on the next line when the request
carries ShowErrorMessage (any value). Built-in list `Oncall` and group `Oncall` hold two numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sms_notify.sandbox import Exchange, Params, State, exchange, form, injected
from sms_notify.text import count_parts

SCHEME = "fastsms"
MAX_BODY = 459  # "The Message Body (max 459 characters)"
MAX_ALNUM_SENDER = 11
FIRST_ID = 73786923
LISTS = {"list": {"oncall": ["+447700900201", "+447700900202"]},
         "group": {"oncall": ["+447700900201", "+447700900202"]}}

TEXTS: dict[str, str] = {
    "-100": "Not Enough Credits", "-301": "Unknown Error", "-401": "Invalid Destination Address",
    "-402": "Invalid Source Address - Alphanumeric too long",
    "-403": "Invalid Source Address - Invalid Number", "-404": "Blank Body",
    "-406": "No Route Available", "-411": "You have exceeded the limit of messages you can send "
    "in a single day to a single number", "-412": "Number is blacklisted",
    "-501": "Unknown Username/Password", "-502": "Unknown Action", "-503": "Unknown Message ID",
    "-507": "Invalid/Missing Details", "-511": "The system is down for maintenance",
    "-512": "User Suspended", "-516": "Unknown List", "-519": "Blank Message Body",
    "-520": "Unknown Group",
}
STATUS_WORDS = {"sent": "Sent", "delivered": "Delivered", "failed": "Undeliverable"}


class FastSmsSimulator:
    """The FastSMS HTTP API at /api (GET or POST)."""

    error_codes: ClassVar[dict[str, str]] = {"auth": "-501", "credit": "-100", "recipient": "-401", "request": "-404",
                   "rate_limited": "-411", "unavailable": "-511"}

    def routes(self, state: State) -> list[Route]:
        async def api(request: Request) -> Response:
            params = await form(request)
            ex = exchange(request)
            action = (params.get("Action") or "").strip().lower()
            ex.operation = params.get("Action") or "(no Action)"

            def fail(code: str, detail: str = "") -> Response:
                ex.outcome = f"error {code}" + (f" ({detail})" if detail else "")
                text = detail or TEXTS.get(code, "Unknown Error")
                body = f"{code}\n{text}" if "ShowErrorMessage" in params else code
                return PlainTextResponse(body)

            if action == "send":
                ex.recipients = [n.strip() for n in
                                 (params.get("DestinationAddress") or "").split(",") if n.strip()]
            if (code := injected(request)) is not None:
                return fail(code)
            if not state.token_ok(params.get("Token")):
                return fail("-501")
            if action == "send":
                return send(state, params, fail, ex)
            if action == "checkcredits":
                ex.outcome = f"{state.credits(SCHEME):.2f} credits"
                return PlainTextResponse(f"{state.credits(SCHEME):.2f}")
            if action == "checkmessagestatus":
                found = state.messages(SCHEME, id=(params.get("MessageID") or "").strip())
                if not found:
                    return fail("-503")
                word = STATUS_WORDS[state.query(found[0])]
                ex.outcome = word
                return PlainTextResponse(word)
            return fail("-502")

        return [Route("/api", api, methods=["GET", "POST"])]


def _sender(params: Params) -> tuple[str, str | None]:
    """The sender shown on the phone, or the error code for a bad SourceAddress."""
    source = params.get("SourceAddress") or ""
    if not source:
        return "FastSMS", None
    ton = params.get("SourceTON") or ""
    if ton == "1" or (ton != "5" and source.isdigit()):
        return (source, None) if source.isdigit() and 5 <= len(source) <= 15 else ("", "-403")
    return (source, None) if len(source) <= MAX_ALNUM_SENDER else ("", "-402")


def send(
    state: State, params: Params, fail: Callable[..., Response], ex: Exchange
) -> Response:
    body = params.get("Body") or ""
    sender, bad_sender = _sender(params)
    if bad_sender:
        return fail(bad_sender)
    if not body.strip():
        return fail("-404")
    if len(body) > MAX_BODY:
        return fail("-507", f"Body is longer than {MAX_BODY} characters")
    destination = (params.get("DestinationAddress") or "").strip()
    kind = destination.lower()
    if kind in LISTS:
        name = params.get(f"{kind}Name") or ""
        numbers = LISTS[kind].get(name.strip().lower())
        if numbers is None:
            return fail("-516" if kind == "list" else "-520")
        ex.recipients = [f"{kind}:{name}", *numbers]
        parts = count_parts(body).parts
        if not state.charge(SCHEME, parts * len(numbers)):
            return fail("-100")
        bg = str(state.next_id(SCHEME + "-bg", 5000))
        for number in numbers:
            state.accept(SCHEME, number, body, sender, str(state.next_id(SCHEME, FIRST_ID)),
                         bgsendid=bg)
        ex.outcome = f"sent to {kind} {name}, BGSendID {bg}"
        return PlainTextResponse(bg if params.get("GetBGSendID") == "1" else "1")
    raw = [n.strip() for n in destination.split(",") if n.strip()]
    if not raw:
        return fail("-401")
    parsed = [state.phone(n) for n in raw]
    ex.recipients = [n if n is not None else r for n, r in zip(parsed, raw, strict=True)]
    good = [n for n in parsed if n is not None and state.routable(n)]
    parts = count_parts(body).parts
    if good and not state.charge(SCHEME, parts * len(good)):
        return fail("-100")
    results = []
    for maybe in parsed:
        if maybe is None:
            results.append("-401")
        elif not state.routable(maybe):
            results.append("-406")
        else:
            message_id = str(state.next_id(SCHEME, FIRST_ID))
            state.accept(SCHEME, maybe, body, sender, message_id)
            results.append(message_id)
    if len(results) == 1 and results[0].startswith("-"):
        return fail(results[0])
    ex.outcome = f"{len(good)} sent, {parts} part(s) each: {','.join(results)}"
    return PlainTextResponse(",".join(results))


def simulator() -> FastSmsSimulator:
    return FastSmsSimulator()
