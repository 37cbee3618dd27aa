"""24x simulator for `sms-notify sandbox`: the ASMX SOAP service, namespace http://tempuri.org/.

Served at /wssecure/service.asmx (what clients use) and /wssecure/service.aspx (what the
document says). Every result is a string in `<OpResult>`; errors are `NN - text` strings with
HTTP 200, not faults. A send answers one message id for the call (all its recipients share it).
Built-in phonebook `Oncall` holds two numbers. Undocumented, sandbox-only: when no number of a
send can be routed, the answer is `06 - Invalid mobile number` (24x documents no such code).
24x documents no transient error code: a passing failure of an ASMX service is a soap:Server
fault with HTTP 500, so that is what an injected `unavailable` (code `soap:Server`) answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sms_notify.sandbox import Exchange, State, exchange, injected
from sms_notify.sandbox_soap import Call, fault, read_call, result
from sms_notify.text import count_parts

SCHEME = "sms24x"
NAMESPACE = "http://tempuri.org/"
FIRST_ID = 52000001
ACCOUNT_ID = "24001"
LOCKED = "999999"
SERVER_FAULT = "soap:Server"
TEXTS = {
    "01": "Username or Password Incorrect", "02": "No sender specified",
    "03": "No message specified", "04": "You have insufficient credit to send (X) messages",
    "05": "Date to send greater than a year in advance.", "06": "Invalid mobile number",
    "07": "Phonebook Name already exists", "08": "The phonebook has no entries",
    "09": "The phonebook does not exist", "10": "DateFrom is not correctly formatted",
    "11": "DateTo is not correctly formatted", "12": "Missing Parameter",
    "14": "Failed Login Attempts Exceeded",
}
STATUS_WORDS = {"sent": "Sent", "delivered": "Delivered", "failed": "Failed"}
OPERATIONS = {
    "SendFullSMS", "SendSimpleSMS", "CreditsAvailable", "CheckLoginDetails", "GetDeliveryReport",
    "GetDeliveryReportByDate", "SendToPhonebook", "CreateNewPhoneBook", "AddToPhonebook",
    "RemoveFromPhoneBook", "GetPhonebookNames", "GetPhonebookNumbers", "CreateAccount",
}


def coded(code: str, text: str = "") -> str:
    code = code.zfill(2) if code.isdigit() else code
    return f"{code} - {text or TEXTS.get(code, 'Error')}"


def _sender_ok(sender: str) -> bool:
    return (sender.isdigit() and len(sender) <= 12) or (sender.isalnum() and len(sender) <= 11)


def _when(value: str) -> datetime | None:
    """xs:dateTime as clients send it (`2024-01-01T10:00:00`, with `Z` or an offset)."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d/%m/%Y %H:%M:%S")


class Sms24xSimulator:
    """The 24x web service's operations, phonebooks included."""

    error_codes: ClassVar[dict[str, str]] = {
        "auth": "01", "credit": "04", "request": "03", "recipient": "06",
        "unavailable": SERVER_FAULT,
    }

    def routes(self, state: State) -> list[Route]:
        def phonebooks() -> dict[str, list[str]]:
            data = state.data(SCHEME)
            if "phonebooks" not in data:
                data["phonebooks"] = {"Oncall": ["+447700900201", "+447700900202"]}
            return data["phonebooks"]  # type: ignore[no-any-return]

        def deliver(ex: Exchange, call: Call, numbers: list[str], sender: str, text: str,
                    user_field: str = "") -> str:
            if not sender.strip():
                return coded("02")
            if not _sender_ok(sender.strip()):
                return coded("02", "Sender must be 11 characters alphanumeric or 12 numeric")
            if not text.strip():
                return coded("03")
            if len(user_field) > 50:
                return coded("12", "UserField is longer than 50 characters")
            if call.operation in ("SendFullSMS", "SendToPhonebook") and call.arg("DateTimeToSend"):
                when = _when(call.arg("DateTimeToSend"))
                if when is None:
                    return "__fault__"
                if when > datetime.now(UTC) + timedelta(days=365):
                    return coded("05")
            parsed = [state.phone(n, "GB") for n in numbers]
            ex.recipients = [p or n for p, n in zip(parsed, numbers, strict=True)]
            good = [p for p in parsed if p and state.routable(p)]
            if not good:
                return coded("06")
            parts = count_parts(text).parts
            if not state.charge(SCHEME, parts * len(good)):
                return coded("04", f"You have insufficient credit to send ({len(good)}) messages")
            message_id = str(state.next_id(SCHEME, FIRST_ID))
            for number in good:
                state.accept(SCHEME, number, text, sender, message_id, reference=user_field,
                             user_field=user_field)
            bad = len(parsed) - len(good)
            ex.outcome = f"{len(good)} sent, {parts} part(s) each, id {message_id}" + (
                f", {bad} unroutable" if bad else "")
            return message_id

        def report_line(message_id: str, status: str, at: float, field: str) -> str:
            return f"{message_id},{status},{_stamp(at)},{field}|"

        def operate(ex: Exchange, call: Call) -> str:
            op = call.operation
            user, password = call.arg("UserName"), call.arg("Password")
            if op == "SendToPhonebook":
                ex.recipients = [f"phonebook:{call.arg('PhonebookName')}"]
            elif "Mobiles" in call.args:
                ex.recipients = [n.strip() for n in call.arg("Mobiles").split(",") if n.strip()]
            if op == "CheckLoginDetails":
                return check_login(user, password)
            if not user or not password:
                return coded("01", "Username or password is missing.")
            if not state.login(user, password):
                return coded("01")
            if op in ("SendFullSMS", "SendSimpleSMS"):
                numbers = [n.strip() for n in call.arg("Mobiles").split(",") if n.strip()]
                if not numbers:
                    return coded("06")
                return deliver(ex, call, numbers, call.arg("MessageFrom"),
                               call.arg("MessageToSend"), call.arg("UserField"))
            if op == "CreditsAvailable":
                return str(int(state.credits(SCHEME)))
            if op == "GetDeliveryReport":
                found = state.messages(SCHEME, id=call.arg("MessageID").strip())
                return "".join(report_line(m.id, STATUS_WORDS[state.query(m)], m.at, m.reference)
                               for m in found)
            if op == "GetDeliveryReportByDate":
                start, end = _when(call.arg("DateFrom")), _when(call.arg("DateTo"))
                if start is None:
                    return coded("10")
                if end is None:
                    return coded("11")
                return "".join(
                    report_line(m.id, STATUS_WORDS[state.query(m)], m.at, m.reference)
                    for m in state.messages(SCHEME)
                    if start.timestamp() <= m.at <= end.timestamp())
            return phonebook_op(ex, call)

        def check_login(user: str, password: str) -> str:
            data = state.data(SCHEME)
            if not user or not password:
                return coded("01", "Username or password is missing.")
            if data.get("failures", 0) >= 3:
                return LOCKED
            if state.login(user, password):
                data["failures"] = 0
                return ACCOUNT_ID
            data["failures"] = data.get("failures", 0) + 1
            return "0"

        def phonebook_op(ex: Exchange, call: Call) -> str:
            op, books_ = call.operation, phonebooks()
            name = call.arg("PhonebookName")
            if op == "GetPhonebookNames":
                return "".join(f"{n},{len(v)}|" for n, v in books_.items())
            if op == "CreateNewPhoneBook":
                if not name:
                    return coded("12")
                if name in books_:
                    return coded("07")
                books_[name] = []
                return "Phonebook created"
            if op == "CreateAccount":
                return coded("12") if not all(call.arg(k) for k in ("AccountName", "Mobile",
                                                                     "Email")) else \
                    f"sandbox{state.next_id('sms24x-acct')},sandbox,{ACCOUNT_ID}"
            if name not in books_:
                return coded("09")
            if op == "SendToPhonebook":
                if not books_[name]:
                    return coded("08")
                return deliver(ex, call, list(books_[name]), call.arg("MessageFrom"),
                               call.arg("MessageToSend"))
            if op == "GetPhonebookNumbers":
                return "".join(f"{n},,,|" for n in books_[name])
            number = state.phone(call.arg("MobileNumber"), "GB") or call.arg("MobileNumber")
            if op == "AddToPhonebook":
                books_[name].append(number)
                return "Added"
            if number in books_[name]:
                books_[name].remove(number)
            return "Removed"

        async def service(request: Request) -> Response:
            ex = exchange(request)
            call = await read_call(request, NAMESPACE, OPERATIONS)
            if isinstance(call, Response):
                return call
            if (code := injected(request)) == SERVER_FAULT:
                ex.outcome = "SOAP fault soap:Server (injected)"
                return fault(call.version, "Server was unable to process request. ---> The "
                             "service is temporarily unavailable.", sender=False)
            if code is not None:
                value = coded(code)
            else:
                value = operate(ex, call)
            if value == "__fault__":
                ex.outcome = "SOAP fault (bad DateTimeToSend)"
                return fault(call.version, "Server was unable to read request. ---> There is an "
                             "error in XML document. ---> The string is not a valid "
                             "AllXsd value.", status=400)
            if not ex.outcome:
                ex.outcome = value if len(value) < 80 else value[:77] + "..."
            return result(call, NAMESPACE, value)

        return [
            Route("/wssecure/service.asmx", service, methods=["POST"]),
            Route("/wssecure/service.aspx", service, methods=["POST"]),
        ]


def simulator() -> Sms24xSimulator:
    return Sms24xSimulator()
