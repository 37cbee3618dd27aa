"""24x as its web service document (v2.14) describes it (docs/gateways.md, 24x): an ASMX SOAP
service, namespace http://tempuri.org/.

Served at /wssecure/service.asmx (what clients use) and /wssecure/service.aspx (what the
document says). Credentials are `UserName` and `Password` (the live service's spelling, as
public clients send it). Every result is a string in `<OpResult>`; errors are `NN - text`
strings with HTTP 200, with the document's codes only. Where the document is silent the
sandbox takes the harsher reading: a send answers one message id for the call and takes every
number, checking them only on the way (a number that cannot be reached is reported Failed by
the delivery reports, there is no per-number error code); SendToPhonebook answers
`Message Sent`, no id; a sender is 11 letters or digits or 12 digits. A passing failure is a
soap:Server fault with HTTP 500 (`unavailable`), as ASP.NET answers one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

from ..parts import parts
from ..simulator import Call
from ..soap import SERVER_FAULT, SoapFault, SoapSimulator
from ..state import Message, phone, routable

FIRST_ID = 52000001
ACCOUNT_ID = "24001"
LOCKED = "999999"
MAX_USER_FIELD = 50
TEXTS = {
    "01": "Username or Password Incorrect", "02": "No sender specified",
    "03": "No message specified", "04": "You have insufficient credit to send (X) messages",
    "05": "Date to send greater than a year in advance.", "07": "Phonebook Name already exists",
    "08": "The phonebook has no entries", "09": "The phonebook does not exist",
    "10": "DateFrom is not correctly formatted", "11": "DateTo is not correctly formatted",
    "12": "Missing Parameter", "14": "Failed Login Attempts Exceeded",
}
# The document publishes no words; an expired text is one more that failed.
STATUS_WORDS = {"sent": "Sent", "delivered": "Delivered", "failed": "Failed", "expired": "Failed"}
BAD_DATE = ("Server was unable to read request. ---> There is an error in XML document. ---> "
            "The string is not a valid AllXsd value.")


def _when(value: str) -> datetime | None:
    """xs:dateTime as clients send it (`2024-01-01T10:00:00`, with `Z` or an offset)."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d/%m/%Y %H:%M:%S")


def _mobiles(call: Call) -> list[str]:
    """"The mobile numbers to send to concatenated with commas"."""
    return [n.strip() for n in call.text("Mobiles").split(",") if n.strip()]


def _sender_ok(sender: str) -> bool:
    """"11 characters alphanumeric or 12 numeric"."""
    return sender.isascii() and (sender.isdigit() and len(sender) <= 12
                                 or sender.isalnum() and len(sender) <= 11)


class Sms24x(SoapSimulator):
    """The 24x web service's operations, phonebooks included."""

    scheme = "sms24x"
    namespace = "http://tempuri.org/"
    paths = ("/wssecure/service.asmx", "/wssecure/service.aspx")
    error_codes: ClassVar[dict[str, str]] = {
        "auth": "01", "credit": "04", "request": "03", "unavailable": SERVER_FAULT,
        "sender": "02",
    }
    operations: ClassVar[dict[str, str]] = {
        "SendFullSMS": "send_full_sms", "SendSimpleSMS": "send_simple_sms",
        "CreditsAvailable": "credits_available", "CheckLoginDetails": "check_login_details",
        "GetDeliveryReport": "get_delivery_report",
        "GetDeliveryReportByDate": "get_delivery_report_by_date",
        "SendToPhonebook": "send_to_phonebook", "CreateNewPhoneBook": "create_new_phonebook",
        "AddToPhonebook": "add_to_phonebook", "RemoveFromPhoneBook": "remove_from_phonebook",
        "GetPhonebookNames": "get_phonebook_names",
        "GetPhonebookNumbers": "get_phonebook_numbers", "CreateAccount": "create_account",
    }

    def reset(self) -> None:
        self.phonebooks: dict[str, list[str]] = {"Oncall": ["+447700900201", "+447700900202"]}
        self.failed_logins = 0

    def fail(self, call: Call, code: str, detail: str = "") -> str:
        code = code.zfill(2) if code.isdigit() else code
        return f"{code} - {detail or TEXTS.get(code, 'Error')}"

    def describe(self, call: Call) -> None:
        if call.operation == "SendToPhonebook":
            call.recipients = [f"phonebook:{call.text('PhonebookName')}"]
        elif "Mobiles" in call.args:
            call.recipients = _mobiles(call)

    def refuse(self, call: Call) -> str | None:
        if call.operation == "CheckLoginDetails":
            return None  # it answers for itself: an account id, 0 or 999999
        if not call.text("UserName") or not call.text("Password"):
            return self.fail(call, "01", "Username or password is missing.")
        if not self.state.login(call.text("UserName"), call.text("Password")):
            return self.fail(call, "01")
        return None

    # Sending.
    def send_full_sms(self, call: Call) -> str:
        if len(call.text("UserField")) > MAX_USER_FIELD:
            return self.fail(call, "12", f"UserField is longer than {MAX_USER_FIELD} characters")
        return self._send(call, _mobiles(call), call.text("UserField"))

    def send_simple_sms(self, call: Call) -> str:
        return self._send(call, _mobiles(call))

    def send_to_phonebook(self, call: Call) -> str:
        book = self.phonebooks.get(call.text("PhonebookName"))
        if book is None:
            return self.fail(call, "09")
        if not book:
            return self.fail(call, "08")
        answer = self._send(call, book)
        return answer if not answer.isdigit() else "Message Sent"

    def _send(self, call: Call, numbers: list[str], user_field: str = "") -> str:
        sender, text = call.text("MessageFrom").strip(), call.text("MessageToSend")
        if not sender:
            return self.fail(call, "02")
        if not _sender_ok(sender):
            return self.fail(call, "02", "Sender must be 11 characters alphanumeric or 12 numeric")
        if not text.strip():
            return self.fail(call, "03")
        if "DateTimeToSend" in call.args:
            when = _when(call.text("DateTimeToSend"))
            if when is None:
                raise SoapFault(BAD_DATE, status=400)
            if when > datetime.now(UTC) + timedelta(days=365):
                return self.fail(call, "05")
        if not numbers:
            return self.fail(call, "12")
        each = parts(text)
        if not self.charge(each * len(numbers)):
            return self.fail(call, "04", f"You have insufficient credit to send ({len(numbers)}) "
                                         "messages")
        message_id = self.next_id(FIRST_ID)
        found = [phone(n, "GB") for n in numbers]
        for raw, number in zip(numbers, found, strict=True):
            self.accept(number or raw, text, sender, message_id, reference=user_field,
                        reachable=bool(number and routable(number)))
        unreachable = sum(1 for n in found if not (n and routable(n)))
        call.outcome = f"{len(numbers)} taken, {each} part(s) each, id {message_id}" + (
            f", {unreachable} will fail" if unreachable else "")
        return message_id

    # Account and reports.
    def credits_available(self, call: Call) -> str:
        return str(int(self.credits))

    def check_login_details(self, call: Call) -> str:
        user, password = call.text("UserName"), call.text("Password")
        if not user or not password:
            return self.fail(call, "01", "Username or password is missing.")
        if self.failed_logins >= 3:
            return LOCKED
        if self.state.login(user, password):
            self.failed_logins = 0
            return ACCOUNT_ID
        self.failed_logins += 1
        return "0"

    def get_delivery_report(self, call: Call) -> str:
        if not call.text("MessageID").strip().isdigit():
            raise SoapFault(BAD_DATE.replace("AllXsd", "Int32"), status=400)
        return "".join(self._line(m) for m in self.messages(id=call.text("MessageID").strip()))

    def get_delivery_report_by_date(self, call: Call) -> str:
        start, end = _when(call.text("DateFrom")), _when(call.text("DateTo"))
        if start is None:
            return self.fail(call, "10")
        if end is None:
            return self.fail(call, "11")
        return "".join(self._line(m) for m in self.messages()
                       if start.timestamp() <= m.at <= end.timestamp())

    def _line(self, message: Message) -> str:
        """`MessageID,Status,StatusTime,CustomField|` of one recipient of a send."""
        status = STATUS_WORDS[self.state.query(message)]
        return f"{message.id},{status},{_stamp(message.at)},{message.reference}|"

    # Phonebooks.
    def create_new_phonebook(self, call: Call) -> str:
        name = call.text("PhonebookName")
        if not name:
            return self.fail(call, "12")
        if name in self.phonebooks:
            return self.fail(call, "07")
        self.phonebooks[name] = []
        return "Phonebook created"

    def add_to_phonebook(self, call: Call) -> str:
        book = self.phonebooks.get(call.text("PhonebookName"))
        if book is None:
            return self.fail(call, "09")
        book.append(phone(call.text("MobileNumber"), "GB") or call.text("MobileNumber"))
        return "Added"

    def remove_from_phonebook(self, call: Call) -> str:
        book = self.phonebooks.get(call.text("PhonebookName"))
        if book is None:
            return self.fail(call, "09")
        number = phone(call.text("MobileNumber"), "GB") or call.text("MobileNumber")
        if number in book:
            book.remove(number)
        return "Removed"

    def get_phonebook_names(self, call: Call) -> str:
        return "".join(f"{name},{len(book)}|" for name, book in self.phonebooks.items())

    def get_phonebook_numbers(self, call: Call) -> str:
        book = self.phonebooks.get(call.text("PhonebookName"))
        if book is None:
            return self.fail(call, "09")
        return "".join(f"{n},,,|" for n in book)

    def create_account(self, call: Call) -> str:
        if not all(call.text(k) for k in ("AccountName", "Mobile", "Email")):
            return self.fail(call, "12")
        return f"sandbox{self.next_id(series='-account')},sandbox,{ACCOUNT_ID}"
