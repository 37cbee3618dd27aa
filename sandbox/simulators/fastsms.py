"""FastSMS as its HTTP API document describes it (docs/gateways.md, FastSMS).

Form fields at /api by GET or POST, names as written in the document (Token, Action,
DestinationAddress, SourceAddress, Body, ...), Action's value not case sensitive; every
parameter mandatory unless marked optional, so a send without SourceAddress is -518. Answers
are plain text: one message id or negative code per number, comma-separated, in order; a
whole-request error is one code, with its text on the next line when the request carries
ShowErrorMessage (any value). Lists and groups (`DestinationAddress=List&ListName=...`)
answer 1, or the BGSendID with GetBGSendID=1. Built-in list and group: `Oncall`, two numbers.

Replies to the virtual mobile number (VMN) are forwarded as "Inbound Message HTTP Forwarding"
describes: to the URL set for it (here by /admin/forwarding, as by "manage VMN"), by GET or POST,
with source, dest, msg, id, receivedts (UK time) and the auth passthrough.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..parts import BASIC, EXTENDED, parts
from ..simulator import Call, Simulator, form_call, plain
from ..state import TOKEN, Outgoing, phone, routable

MAX_BODY = 459  # "The Message Body (max 459 characters)"
MAX_ALNUM_SENDER = 11
MAX_VALIDITY = 86400  # "maximum 86400 = 24 hours"
FIRST_ID = 73786923
ONCALL = ["+447700900201", "+447700900202"]
TEXTS: dict[str, str] = {
    "-100": "Not Enough Credits", "-301": "Unknown Error", "-401": "Invalid Destination Address",
    "-402": "Invalid Source Address - Alphanumeric too long",
    "-403": "Invalid Source Address - Invalid Number", "-404": "Blank Body",
    "-405": "Invalid Validity Period", "-406": "No Route Available",
    "-407": "Invalid Schedule Date", "-408": "Distribution List is Empty",
    "-409": "Group is Empty", "-411": "You have exceeded the limit of messages you can send in "
    "a single day to a single number", "-412": "Number is blacklisted",
    "-501": "Unknown Username/Password", "-502": "Unknown Action", "-503": "Unknown Message ID",
    "-507": "Invalid/Missing Details", "-511": "The system is down for maintenance",
    "-512": "User Suspended", "-516": "Unknown List", "-518": "Blank or Invalid Source Address",
    "-519": "Blank Message Body", "-520": "Unknown Group",
}
# The words the document's examples show; it lists no word for an expired text.
STATUS_WORDS = {"sent": "Sent", "delivered": "Delivered", "failed": "Undeliverable",
                "expired": "Undeliverable"}
VMN = "447700900999"  # the sandbox's virtual mobile number, which replies reach
FIRST_INBOUND_ID = 4100001
_DIGITS = re.compile(r"^\d+$")


class FastSms(Simulator[str]):
    """The FastSMS HTTP API at /api: Send, CheckCredits, CheckMessageStatus."""

    scheme = "fastsms"
    error_codes: ClassVar[dict[str, str]] = {
        "auth": "-501", "credit": "-100", "recipient": "-401", "request": "-507",
        "rate_limited": "-411", "unavailable": "-511", "sender": "-518",
    }
    operations: ClassVar[dict[str, str]] = {
        "send": "send", "checkcredits": "check_credits",
        "checkmessagestatus": "check_message_status",
    }

    def reset(self) -> None:
        self.lists = {"List": {"Oncall": list(ONCALL)}, "Group": {"Oncall": list(ONCALL)}}
        self.forward: dict[str, str] = {}  # the VMN's forwarding: url, method, auth

    def forwarding(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The VMN's forwarding: `url`, `method` (GET or POST, default POST), `auth`."""
        method = str(settings.get("method") or "POST").upper()
        if method not in ("GET", "POST"):
            raise ValueError("method must be GET or POST")
        url = str(settings["url"])
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// address")
        self.forward = {"url": url, "method": method, "auth": str(settings.get("auth") or "")}
        return {"vmn": VMN, "method": method}

    def reply(self, number: str, text: str) -> tuple[dict[str, Any], list[Outgoing]]:
        """A text from `number` to the VMN, forwarded at once."""
        from zoneinfo import ZoneInfo

        sender = phone(number)
        if sender is None:
            raise ValueError(f"{number!r} is not a phone number")
        if not self.forward:
            raise ValueError("the VMN forwards nowhere yet: POST /admin/forwarding first")
        received = datetime.now(ZoneInfo("Europe/London")).strftime("%Y-%m-%d %H:%M:%S")
        fields = {"source": sender.lstrip("+"), "dest": VMN, "msg": text,
                  "id": self.next_id(FIRST_INBOUND_ID, series="-inbound"),
                  "receivedts": received, "auth": self.forward["auth"]}
        made = {k: v for k, v in fields.items() if k != "auth"}
        return made, [Outgoing(self.scheme, "forwarded reply", self.forward["method"],
                               self.forward["url"], fields)]

    def routes(self) -> list[Route]:
        async def read(request: Request) -> Call | Response:
            return await form_call(request, field="Action")

        return [self.route("/api", read, plain, methods=("GET", "POST"))]

    def find(self, operation: str) -> str | None:
        return self.operations.get(operation.strip().lower())  # "not case sensitive"

    def fail(self, call: Call, code: str, detail: str = "") -> str:
        call.outcome = f"error {code}" + (f" ({detail})" if detail else "")
        text = detail or TEXTS.get(code, "Unknown Error")
        return f"{code}\n{text}" if "ShowErrorMessage" in call.args else code

    def describe(self, call: Call) -> None:
        if call.operation.strip().lower() == "send":
            call.recipients = [n for n in call.text("DestinationAddress").split(",") if n]

    def refuse(self, call: Call) -> str | None:
        return None if call.text("Token") == TOKEN else self.fail(call, "-501")

    def unknown(self, call: Call) -> str:
        return self.fail(call, "-502")

    def check_credits(self, call: Call) -> str:
        call.outcome = f"{self.credits:.2f} credits"
        return f"{self.credits:.2f}"

    def check_message_status(self, call: Call) -> str:
        found = self.messages(id=call.text("MessageID"))
        if not found:
            return self.fail(call, "-503")
        call.outcome = STATUS_WORDS[self.state.query(found[0])]
        return call.outcome

    def send(self, call: Call) -> str:
        problem = self._sender_problem(call) or self._body_problem(call) \
            or self._options_problem(call)
        if problem:
            return self.fail(call, problem[0], problem[1])
        destination = call.text("DestinationAddress")
        if destination in self.lists:
            return self._send_list(call, destination)
        numbers = destination.split(",")
        if not destination:
            return self.fail(call, "-401")
        found = [phone("+" + n) if _DIGITS.match(n) else None for n in numbers]
        call.recipients = [n or raw for n, raw in zip(found, numbers, strict=True)]
        good = [n for n in found if n is not None and routable(n)]
        each = parts(call.text("Body"))
        if good and not self.charge(each * len(good)):
            return self.fail(call, "-100")
        results = [self._accept(call, n) if n is not None and routable(n)
                   else "-401" if n is None else "-406" for n in found]
        if len(results) == 1 and results[0].startswith("-"):
            return self.fail(call, results[0])
        call.outcome = f"{len(good)} sent, {each} part(s) each: {','.join(results)}"
        return ",".join(results)

    def _accept(self, call: Call, number: str) -> str:
        message_id = self.next_id(FIRST_ID)
        self.accept(number, call.text("Body"), call.text("SourceAddress"), message_id)
        return message_id

    def _send_list(self, call: Call, kind: str) -> str:
        name = call.text(f"{kind}Name")
        numbers = self.lists[kind].get(name)
        if numbers is None:
            return self.fail(call, "-516" if kind == "List" else "-520")
        if not numbers:
            return self.fail(call, "-408" if kind == "List" else "-409")
        call.recipients = [f"{kind}:{name}", *numbers]
        if not self.charge(parts(call.text("Body")) * len(numbers)):
            return self.fail(call, "-100")
        bg = self.next_id(5000, series="-bg")
        for number in numbers:
            self.accept(number, call.text("Body"), call.text("SourceAddress"),
                        self.next_id(FIRST_ID), bgsendid=bg)
        call.outcome = f"sent to {kind} {name}, BGSendID {bg}"
        return bg if call.text("GetBGSendID") == "1" else "1"

    @staticmethod
    def _sender_problem(call: Call) -> tuple[str, str] | None:
        """SourceAddress is mandatory: a number with SourceTON 1 (or all digits), else at most
        11 GSM characters."""
        source, ton = call.text("SourceAddress"), call.text("SourceTON")
        if not source.strip():
            return "-518", ""
        if ton not in ("", "1", "5"):
            return "-507", "SourceTON must be 1 or 5"
        if ton == "1" or (ton == "" and source.isdigit()):
            return None if source.isdigit() and 5 <= len(source) <= 15 else ("-403", "")
        if len(source) > MAX_ALNUM_SENDER:
            return "-402", ""
        return None if all(c in BASIC or c in EXTENDED for c in source) else ("-518", "")

    @staticmethod
    def _body_problem(call: Call) -> tuple[str, str] | None:
        body = call.text("Body")
        if "Body" not in call.args:
            return "-507", "Body is missing"
        if not body.strip():
            return "-404", ""
        if len(body) > MAX_BODY:
            return "-507", f"Body is longer than {MAX_BODY} characters"
        return None

    @staticmethod
    def _options_problem(call: Call) -> tuple[str, str] | None:
        validity, schedule = call.args.get("ValidityPeriod"), call.args.get("ScheduleDate")
        if validity is not None and not (
                str(validity).isdigit() and 1 <= int(validity) <= MAX_VALIDITY):
            return "-405", ""
        if schedule is not None:
            try:
                datetime.strptime(str(schedule), "%Y%m%d%H%M%S")
            except ValueError:
                return "-407", ""
        return None
