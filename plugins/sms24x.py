"""24x (24x.com, UK): SOAP web service (ASP.NET ASMX), user name and password.

Every call answers one string: a message id, a number, a report, or an error as a two-digit
code and its text, `NN text` in the document and `NN - text` from the live service (both are
read). A send takes up to 100 numbers comma-joined and answers one id for the call; our
reference travels in UserField, and the delivery report by date gives it back, which is how a
send left in doubt by a crash is looked up. Phonebooks (`?phonebook=NAME`) go by SendToPhonebook.
What became of a text is asked with GetDeliveryReport by the send's id: its lines do not name
the numbers, so one report covers every number of the send.

The WSDL is the packaged sms24x.wsdl; how a call travels and fails is sms_notify.soap's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sms_notify import hookimpl, safexml, soap
from sms_notify.errors import Category, ProviderError, refused
from sms_notify.http import snippet, unexpected
from sms_notify.model import (
    Account,
    Balance,
    DeliveryReport,
    DeliveryStatus,
    Provider,
    Receipt,
    Recipient,
    Submission,
)

if TYPE_CHECKING:
    from sms_notify.sandbox import Simulator

SCHEME = "sms24x"
PROVIDER = Provider(
    scheme=SCHEME,
    name="24x",
    base_url="https://www.24x2.com",
    credentials=("user", "password"),
    # The SOAP limit is undocumented; 24x's HTTP interface takes "up to 100" numbers a request.
    max_recipients=100,
    # Long texts are joined by the gateway ("no parameter needs to be set"); its maximum is
    # undocumented, so three parts (459 GSM characters), as FastSMS, another UK gateway, allows.
    max_segments=3,
    # Nothing documents Unicode; public clients count 160/153 GSM characters a part. GSM-7 only.
    unicode=False,
    sender_max_alnum=11,  # "11 characters alphanumeric or 12 numeric"
    sender_max_digits=12,
    sender_char="[A-Za-z0-9]",  # alphanumeric only: no spaces or punctuation
    sender_required=True,  # MessageFrom: "02 No sender specified"
    options={"phonebook": "send to a 24x phonebook, by its name"},
    list_options=("phonebook",),
    capabilities=frozenset({"balance", "status", "lookup", "login", "receipts"}),
    summary="UK; SOAP web service with username and password; phonebooks with ?phonebook=",
)
# The document says service.aspx; clients use .asmx (docs/design.md, Decision 9).
PATH = "/wssecure/service.asmx"
NAMESPACE = "http://tempuri.org/"
BINDING = f"{{{NAMESPACE}}}ServiceSoap"
WSDL = Path(__file__).with_name("sms24x.wsdl")

USER_FIELD_MAX = 50  # "a maximum of 50 characters"
LOCKED = "999999"  # CheckLoginDetails: three failed log-ins lock the account for 5 minutes
LOOKUP_DAYS = 7  # how far back the delivery report by date is searched for our references

C = Category
# Every documented code (docs/gateways.md, 24x). There is no 06: 24x takes every number and
# reports the unreachable ones Failed; an undocumented code is a refusal (errors.refused).
ERRORS: dict[str, tuple[Category, str]] = {
    "01": (C.AUTH, "Username or Password Incorrect"),
    "02": (C.SENDER, "No sender specified"),
    "03": (C.REQUEST, "No message specified"),
    "04": (C.CREDIT, "You have insufficient credit to send (X) messages"),
    "05": (C.REQUEST, "Date to send greater than a year in advance."),
    "07": (C.REQUEST, "Phonebook Name already exists"),
    "08": (C.REQUEST, "The phonebook has no entries"),
    "09": (C.REQUEST, "The phonebook does not exist"),
    "10": (C.REQUEST, "DateFrom is not correctly formatted"),
    "11": (C.REQUEST, "DateTo is not correctly formatted"),
    "12": (C.REQUEST, "Missing Parameter"),
    # A 5-minute lock-out: retrying within seconds would only count more failed log-ins.
    "14": (C.AUTH, "Failed Login Attempts Exceeded"),
}

# Delivery report words -> (state, final). 24x publishes no list; these are the usual words.
STATUSES: dict[str, tuple[str, bool]] = {
    "delivered": ("delivered", True),
    "delivrd": ("delivered", True),
    "failed": ("failed", True),
    "undelivered": ("failed", True),
    "undeliverable": ("failed", True),
    "undeliv": ("failed", True),
    "expired": ("failed", True),
    "rejected": ("failed", True),
    "sent": ("sent", False),
    "submitted": ("sent", False),
    "buffered": ("sent", False),
    "pending": ("queued", False),
    "queued": ("queued", False),
    "scheduled": ("queued", False),
}

# Final report words -> what became of the text at the handset.
HANDSET: dict[str, str] = {
    "delivered": "delivered", "delivrd": "delivered",
    "failed": "undelivered", "undelivered": "undelivered", "undeliverable": "undelivered",
    "undeliv": "undelivered", "rejected": "undelivered",
    "expired": "expired",
}

# `01 - text`, `01 text`, `1 - text`; a message id (digits only) never matches.
_CODED = re.compile(r"^(\d{1,2})(?:\s*-\s*|\s+)(\D.*)$", re.DOTALL)
_IDS = re.compile(r"^\d+(,\d+)*$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def error(code: str, text: str = "") -> ProviderError:
    code = code.zfill(2)
    if code not in ERRORS:
        return refused(text or "Unknown error code", code, PROVIDER.name)
    category, known = ERRORS[code]
    return ProviderError(category, text or known, code=code, provider=PROVIDER.name)


def checked(answer: str) -> str:
    """The answer, unless it is an error code: then raise it."""
    coded = _CODED.match(answer)
    if coded:
        raise error(coded.group(1), coded.group(2).strip())
    return answer


# --- SOAP ----------------------------------------------------------------------------------

_document = soap.wsdl(WSDL)


def call(account: Account, operation: str, **args: Any) -> str:
    """One 24x operation, the account's credentials first; its `...Result` string, stripped."""
    answer = soap.call(
        account, PROVIDER, document=_document(), binding=BINDING, path=PATH,
        operation=operation, credentials={"UserName": account.user, "Password": account.password},
        **args,
    )
    return "" if answer is None else str(answer).strip()

# --- the operations ------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def xs_datetime(when: datetime) -> str:
    """xs:dateTime in UTC with `Z`: unambiguous whatever the server's own time zone."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mobile(recipient: Recipient) -> str:
    """UK numbers in national form (07...), the form public clients send and 24x is known to
    take; any other number in international digits."""
    if recipient.address.startswith("+44"):
        return "0" + recipient.address[3:]
    return recipient.digits


def sender(submission: Submission) -> str:
    """MessageFrom: a name, or a number in digits (the core refuses an account without one;
    24x answers 02 to an empty one)."""
    return submission.sender_field


def parse_send(answer: str, recipients: Sequence[Recipient]) -> list[Receipt]:
    """One id for the whole call (what the live service answers), or one per number."""
    ids = checked(answer)
    if not _IDS.match(ids):
        raise unexpected(PROVIDER.name, answer)
    values = ids.split(",")
    if len(values) == 1:
        return [Receipt(r, message_id=values[0]) for r in recipients]
    if len(values) != len(recipients):
        # The gateway acted on the request, for whom it does not say.
        raise ProviderError(
            C.UNAVAILABLE,
            f"answered {len(values)} ids for {len(recipients)} numbers: {snippet(answer)}",
            provider=PROVIDER.name, unknown_outcome=True,
        )
    return [Receipt(r, message_id=v) for r, v in zip(recipients, values, strict=True)]


def report(answer: str) -> list[list[str]]:
    """Report lines `MessageID,Status,StatusTime,CustomField|` as their fields (the custom
    field may hold commas); a bare word is a status on its own."""
    lines = [line.strip() for line in answer.split("|") if line.strip()]
    return [line.split(",", 3) for line in lines]


def _state(rows: list[list[str]]) -> tuple[str, bool, str]:
    """One state for a message id, which covers every number of its send."""
    words = [row[1].strip() if len(row) > 1 else row[0].strip() for row in rows]
    states = [STATUSES.get(w.lower(), ("unknown", False)) for w in words]
    detail = ", ".join(dict.fromkeys(words))
    if len(set(states)) == 1:
        return states[0][0], states[0][1], detail
    waiting = [s for s in states if not s[1]]
    if waiting:  # some numbers have no final report yet
        return waiting[0][0], False, detail
    failed = sum(1 for s in states if s[0] != "delivered")
    return "failed", True, f"{failed} of {len(states)} not delivered: {detail}"


@hookimpl
def sms_notify_register_providers(register: Callable[[Provider], None]) -> None:
    register(PROVIDER)


def _send_numbers(account: Account, submission: Submission) -> list[Receipt]:
    answer = call(
        account, "SendFullSMS",
        Mobiles=",".join(mobile(r) for r in submission.recipients),
        MessageFrom=sender(submission),
        MessageToSend=safexml.text(submission.text),
        DateTimeToSend=xs_datetime(_now()),
        UserField=submission.reference[:USER_FIELD_MAX],
        EmailAddressToSendReplies="",
    )
    return parse_send(answer, submission.recipients)


def _send_phonebook(account: Account, submission: Submission, book: Recipient) -> Receipt:
    answer = call(
        account, "SendToPhonebook",
        PhonebookName=book.address,
        MessageFrom=sender(submission),
        MessageToSend=safexml.text(submission.text),
        DateTimeToSend=xs_datetime(_now()),
    )
    return parse_phonebook(answer, book)


def parse_phonebook(answer: str, book: Recipient) -> Receipt:
    """SendToPhonebook promises no id: an answer that is not one of its error codes means the
    phonebook was texted (`Message Sent`); an id, where one comes, is kept. Only an empty
    answer says nothing: its outcome is unknown."""
    result = checked(answer)
    if not result:
        raise unexpected(PROVIDER.name, answer)
    return Receipt(book, message_id=result if _IDS.match(result) else None)


@hookimpl
def sms_notify_send(account: Account, submission: Submission) -> list[Receipt]:
    kinds = {r.kind for r in submission.recipients}
    if kinds <= {"number"}:
        return _send_numbers(account, submission)
    if other := kinds - {"number", "phonebook"}:
        raise ProviderError(
            C.REQUEST, f"24x has no lists of kind {', '.join(sorted(other))}",
            provider=PROVIDER.name,
        )
    if len(submission.recipients) != 1:
        raise ProviderError(
            C.REQUEST, "a phonebook goes in a request of its own", provider=PROVIDER.name
        )
    return [_send_phonebook(account, submission, submission.recipients[0])]


@hookimpl
def sms_notify_balance(account: Account) -> Balance:
    answer = checked(call(account, "CreditsAvailable"))
    if not _NUMBER.match(answer):
        raise unexpected(PROVIDER.name, answer)
    return Balance(float(answer))


@hookimpl
def sms_notify_check_login(account: Account) -> bool:
    """CheckLoginDetails answers the account's id, 0 for a wrong login, 999999 when locked."""
    answer = checked(call(account, "CheckLoginDetails"))
    if answer == LOCKED:
        raise ProviderError(
            C.AUTH, "locked out for 5 minutes after 3 failed log-ins", code=LOCKED,
            provider=PROVIDER.name,
        )
    if not answer.isdigit():
        raise unexpected(PROVIDER.name, answer)
    if int(answer) == 0:
        raise ProviderError(C.AUTH, ERRORS["01"][1], code="0", provider=PROVIDER.name)
    return True


@hookimpl
def sms_notify_status(account: Account, message_id: str) -> DeliveryStatus:
    if not message_id.isdigit():
        raise ProviderError(
            C.REQUEST, f"24x message ids are numbers, not {message_id!r}", provider=PROVIDER.name
        )
    rows = report(checked(call(account, "GetDeliveryReport", MessageID=int(message_id))))
    mine = [row for row in rows if len(row) == 1 or row[0].strip() == message_id]
    if not mine:
        raise ProviderError(
            C.REQUEST, f"no delivery report for {message_id}", provider=PROVIDER.name
        )
    state, final, detail = _state(mine)
    return DeliveryStatus(message_id, state, final, detail=detail)


def handset(message_id: str, rows: list[list[str]]) -> DeliveryReport | None:
    """One report for a send's every number, once each has a final word: their state when they
    agree, else unknown (the lines do not say which number failed)."""
    words = [row[1].strip() if len(row) > 1 else row[0].strip() for row in rows]
    states = {HANDSET.get(w.lower()) for w in words}
    if not words or None in states:
        return None
    detail = ", ".join(dict.fromkeys(words))
    if len(states) > 1:
        return DeliveryReport("unknown", message_id, detail=f"the numbers of one send differ: "
                              f"{detail}")
    return DeliveryReport(states.pop() or "unknown", message_id, detail=detail)


@hookimpl
def sms_notify_receipts(account: Account, texts: Sequence[Receipt]) -> list[DeliveryReport]:
    """GetDeliveryReport once per send id."""
    reports = []
    for message_id in dict.fromkeys(t.message_id for t in texts if t.message_id):
        if not message_id.isdigit():
            continue
        rows = report(checked(call(account, "GetDeliveryReport", MessageID=int(message_id))))
        found = handset(message_id, [r for r in rows if len(r) == 1 or r[0].strip() == message_id])
        if found is not None:
            reports.append(found)
    return reports


@hookimpl
def sms_notify_lookup(account: Account, references: Sequence[str]) -> dict[str, bool]:
    """Our references are UserFields; the report by date gives them back as CustomField."""
    now = _now()
    answer = call(
        account, "GetDeliveryReportByDate",
        DateFrom=xs_datetime(now - timedelta(days=LOOKUP_DAYS)),
        DateTo=xs_datetime(now + timedelta(days=1)),
    )
    seen = {row[3].strip() for row in report(checked(answer)) if len(row) == 4}
    return {ref: ref in seen for ref in references}


@hookimpl
def sms_notify_register_simulators(
    register: Callable[[str, type[Simulator[Any]]], None],
) -> None:
    from sms_notify.sandbox.simulators.sms24x import Sms24x

    register(SCHEME, Sms24x)
