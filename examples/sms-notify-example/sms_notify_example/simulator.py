"""Example SMS in `sms-notify sandbox`: its API (README.md) simulated, one method per operation.

Written from the API's description, not from the client in provider.py: a simulator that
copied the client could never show it wrong.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sms_notify.sandbox import TOKEN, Call, Simulator, phone, routable
from sms_notify.sandbox.parts import parts

Answer = tuple[int, dict[str, Any]]  # HTTP status and JSON body
MAX_NUMBERS, MAX_PARTS = 50, 3
SENDER = re.compile(r"^([A-Za-z0-9]{1,11}|\+?\d{3,15})$")
STATUS = {"unauthorized": 401, "insufficient_credit": 402, "not_found": 404,
          "unavailable": 503, "rate_limited": 429}


class ExampleSms(Simulator[Answer]):
    """POST /v1/messages, GET /v1/balance, GET /v1/messages/ID."""

    scheme = "example"
    error_codes: ClassVar[dict[str, str]] = {
        "auth": "unauthorized", "credit": "insufficient_credit", "recipient": "invalid_number",
        "request": "invalid_request", "unavailable": "unavailable", "rate_limited": "rate_limited",
        "sender": "invalid_sender",
    }
    operations: ClassVar[dict[str, str]] = {
        "send": "send", "balance": "balance", "status": "status",
    }

    def routes(self) -> list[Route]:
        def reader(operation: str) -> Callable[[Request], Awaitable[Call | Response]]:
            async def read(request: Request) -> Call | Response:
                """The JSON body (if any), the path's id and the bearer token, as one Call."""
                body: Any = {}
                if request.method == "POST":
                    try:
                        body = await request.json()
                    except ValueError:
                        body = None
                if not isinstance(body, dict):
                    return JSONResponse({"error": {"code": "invalid_request",
                                                   "message": "the body is not a JSON object"}},
                                        status_code=400)
                token = request.headers.get("authorization", "").removeprefix("Bearer ")
                return Call(operation, {**body, **request.path_params, "token": token})
            return read

        return [
            self.route("/v1/messages", reader("send"), self.write),
            self.route("/v1/balance", reader("balance"), self.write, methods=("GET",)),
            self.route("/v1/messages/{id}", reader("status"), self.write, methods=("GET",)),
        ]

    def write(self, call: Call, answer: Answer) -> Response:
        status, body = answer
        call.outcome = call.outcome or f"HTTP {status}"
        return JSONResponse(body, status_code=status)

    def fail(self, call: Call, code: str, detail: str = "") -> Answer:
        call.outcome = f"error {code}"
        return STATUS.get(code, 400), {"error": {"code": code, "message": detail or code}}

    def refuse(self, call: Call) -> Answer | None:
        return None if call.text("token") == TOKEN else self.fail(call, "unauthorized")

    def describe(self, call: Call) -> None:
        to = call.args.get("to")
        call.recipients = [str(n) for n in to] if isinstance(to, list) else []

    def send(self, call: Call) -> Answer:
        numbers, text, sender = call.args.get("to"), call.args.get("text"), call.text("from")
        if not isinstance(numbers, list) or not numbers or len(numbers) > MAX_NUMBERS:
            return self.fail(call, "invalid_request", f"to: 1 to {MAX_NUMBERS} numbers")
        if not isinstance(text, str) or not text.strip() or parts(text) > MAX_PARTS:
            return self.fail(call, "invalid_request", f"text: 1 to {MAX_PARTS} parts")
        if not SENDER.match(sender):
            return self.fail(call, "invalid_sender", "from: 1-11 letters or digits, or a number")
        found = [phone(n) if isinstance(n, str) and n.startswith("+") else None for n in numbers]
        good = [n for n in found if n and routable(n)]
        if not self.charge(parts(text) * len(good)):
            return self.fail(call, "insufficient_credit")
        messages = []
        for raw, number in zip(numbers, found, strict=True):
            if number and routable(number):
                message = self.accept(number, text, sender, f"ex-{self.next_id()}",
                                      reference=call.text("reference"))
                messages.append({"to": number, "id": message.id})
            else:
                messages.append({"to": str(raw), "error": {
                    "code": "invalid_number", "message": "not a number we can reach"}})
        call.outcome = f"{len(good)} sent, {len(numbers) - len(good)} refused"
        return 200, {"messages": messages}

    def balance(self, call: Call) -> Answer:
        return 200, {"credits": self.credits}

    def status(self, call: Call) -> Answer:
        found = self.messages(id=call.text("id"))
        if not found:
            return self.fail(call, "not_found", f"no message {call.text('id')}")
        return 200, {"id": found[0].id, "status": self.state.query(found[0])}
