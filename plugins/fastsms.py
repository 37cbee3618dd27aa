"""FastSMS (fastsms.co.uk): HTTP form API at /api, token auth, plain-text answers.

A send answers one message id or negative error code per number, comma-separated, in order;
with ShowErrorMessage the text of a whole-request error follows on the next line. SourceAddress
is mandatory (the document marks only ScheduleDate and SourceTON optional), so an account needs
`from=`; `validity=` is sent as ValidityPeriod (seconds, at most 86400).

What became of a text is asked with CheckMessageStatus, one message id a request. Replies to a
virtual mobile number are forwarded to a URL set in FastSMS's web interface (`serve`'s
/inbound/ACCOUNT), with `source`, `dest`, `msg`, `id`, `receivedts` and the `auth` passthrough.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sms_notify import hookimpl
from sms_notify.errors import Category, ProviderError, refused
from sms_notify.http import request, snippet, unexpected
from sms_notify.model import (
    Account,
    Balance,
    DeliveryReport,
    DeliveryStatus,
    Provider,
    Push,
    Receipt,
    Recipient,
    Reply,
    Submission,
)

if TYPE_CHECKING:
    from sms_notify.sandbox import Simulator

SCHEME = "fastsms"
PROVIDER = Provider(
    scheme=SCHEME,
    name="FastSMS",
    base_url="https://my.fastsms.co.uk",
    credentials=("token",),
    max_recipients=500,  # not documented; many numbers go by POST, as the API asks
    max_segments=3,  # Body is at most 459 characters = 3 x 153
    unicode=False,  # the API documents GSM characters only
    sender_max_alnum=11,
    sender_max_digits=15,
    sender_required=True,  # SourceAddress: "All parameters are mandatory unless otherwise stated"
    max_validity=86400,  # ValidityPeriod: "maximum 86400 = 24 hours"
    options={"list": "send to a FastSMS distribution list", "group": "send to a contact group"},
    list_options=("list", "group"),
    capabilities=frozenset({"balance", "status", "receipts", "reply_push"}),
    summary="UK; HTTP form API with a token",
)
PATH = "/api"

C = Category
# Every documented code (docs/gateways.md, FastSMS).
ERRORS: dict[int, tuple[Category, str]] = {
    -100: (C.CREDIT, "Not Enough Credits"),
    -101: (C.REQUEST, "Invalid CreditID"),
    -200: (C.RECIPIENT, "Invalid Contact"),
    -300: (C.UNAVAILABLE, "General Database Error"),
    -301: (C.UNAVAILABLE, "Unknown Error"),
    -302: (C.UNAVAILABLE, "Return XML Error"),
    -303: (C.REQUEST, "Received XML Error"),
    -400: (C.RECIPIENT, "Some numbers in list failed"),  # the others were sent: see PARTIAL
    -401: (C.RECIPIENT, "Invalid Destination Address"),
    -402: (C.SENDER, "Invalid Source Address - Alphanumeric too long"),
    -403: (C.SENDER, "Invalid Source Address - Invalid Number"),
    -404: (C.REQUEST, "Blank Body"),
    -405: (C.REQUEST, "Invalid Validity Period"),
    -406: (C.RECIPIENT, "No Route Available"),
    -407: (C.REQUEST, "Invalid Schedule Date"),
    -408: (C.REQUEST, "Distribution List is Empty"),
    -409: (C.REQUEST, "Group is Empty"),
    -410: (C.REQUEST, "Invalid Distribution List"),
    -411: (C.RATE_LIMITED, "You have exceeded the limit of messages you can send in a single day to a single number"),
    -412: (C.RECIPIENT, "Number is blacklisted"),
    -414: (C.REQUEST, "Invalid Group"),
    -501: (C.AUTH, "Unknown Username/Password"),
    -502: (C.REQUEST, "Unknown Action"),
    -503: (C.REQUEST, "Unknown Message ID"),
    -504: (C.REQUEST, "Invalid From Timestamp"),
    -505: (C.REQUEST, "Invalid To Timestamp"),
    -506: (C.SENDER, "Source Address Not Allowed (Email2SMS)"),
    -507: (C.REQUEST, "Invalid/Missing Details"),
    -508: (C.REQUEST, "Error Creating User"),
    -509: (C.REQUEST, "Unknown/Invalid User"),
    -510: (C.REQUEST, "You cannot set a user's credits to be less than 0"),
    -511: (C.UNAVAILABLE, "The system is down for maintenance"),
    -512: (C.AUTH, "User Suspended"),
    -513: (C.UNAVAILABLE, "License in use"),
    -514: (C.AUTH, "License expired"),
    -515: (C.UNAVAILABLE, "No License available"),
    -516: (C.REQUEST, "Unknown List"),
    -517: (C.UNAVAILABLE, "Unable to create List"),
    -518: (C.SENDER, "Blank or Invalid Source Address"),
    -519: (C.REQUEST, "Blank Message Body"),
    -520: (C.REQUEST, "Unknown Group"),
    -521: (C.REQUEST, "Unknown Background Send ID"),
    -522: (C.UNAVAILABLE, "Background Send Not Finished"),
    -523: (C.REQUEST, "No messages were found"),
    -601: (C.REQUEST, "Unknown Report Type"),
    -701: (C.REQUEST, "No UserID Specified"),
    -702: (C.REQUEST, "Invalid Amount Specified"),
    -703: (C.REQUEST, "Invalid Currency Requested"),
}

# CheckMessageStatus words -> (state, final). Delivered/Undeliverable seen live, Sent in
# GetBGMessages; the rest of FastSMS's list is not public, so unknown words are passed through.
STATUSES: dict[str, tuple[str, bool]] = {
    "delivered": ("delivered", True),
    "undeliverable": ("failed", True),
    "failed": ("failed", True),
    "expired": ("failed", True),
    "rejected": ("failed", True),
    "sent": ("sent", False),
    "pending": ("queued", False),
    "queued": ("queued", False),
    "scheduled": ("queued", False),
}

# CheckMessageStatus words that are final, as what became of the text at the handset; any other
# word (Sent, Pending, or one not public) means it is still on its way.
HANDSET: dict[str, str] = {
    "delivered": "delivered",
    "undeliverable": "undelivered",
    "failed": "undelivered",
    "rejected": "undelivered",
    "expired": "expired",
}
UNKNOWN_ID = -503  # "Unknown Message ID": the gateway will never say more about it
RECEIVED_FORMAT = "%Y-%m-%d %H:%M:%S"  # receivedts, "YYYY-MM-DD HH:MM:SS"
RECEIVED_ZONE = "Europe/London"  # not stated; FastSMS is a UK gateway

PARTIAL = -400  # "Some numbers in list failed": the rest of the request went out
_ANSWER = re.compile(r"^-?\d+(,-?\d+)*$")
_CREDITS = re.compile(r"-?\d+(?:[.,]\d+)?")
_STATUS_WORD = re.compile(r"[A-Za-z][A-Za-z _-]{0,40}")


def error(code: int, detail: str = "") -> ProviderError:
    if code not in ERRORS:
        return refused(detail or "Unknown error code", code, PROVIDER.name)
    category, text = ERRORS[code]
    return ProviderError(category, detail or text, code=code, provider=PROVIDER.name)


def whole_request_error(code: int, detail: str = "") -> ProviderError:
    """An error answered for a whole request. -400 says some numbers failed and so that the
    others were sent: which, the answer does not say, so its outcome is unknown."""
    err = error(code, detail)
    err.unknown_outcome = code == PARTIAL
    return err


def _call(account: Account, params: dict[str, Any]) -> str:
    form = {"Token": account.user, "ShowErrorMessage": "1", **params}
    response = request(
        "POST", account.url(PROVIDER, PATH), data=form, provider=PROVIDER.name,
        timeout=account.timeout,
    )
    return response.text.strip()


def _values(answer: str) -> tuple[list[int], str]:
    """The comma-separated numbers of the first line, and any error text after it."""
    first, _, rest = answer.partition("\n")
    first = first.strip()
    if not _ANSWER.match(first):
        raise unexpected(PROVIDER.name, answer)
    return [int(v) for v in first.split(",")], rest.strip()


@hookimpl
def sms_notify_register_providers(register: Callable[[Provider], None]) -> None:
    register(PROVIDER)


def _message(account: Account, submission: Submission) -> dict[str, Any]:
    """What every send carries: the body, SourceAddress with its type (1: international number
    without its plus, 5: alphanumeric), and ValidityPeriod where the account sets one."""
    params: dict[str, Any] = {"Action": "Send", "Body": submission.text}
    sender = submission.sender_field
    if sender:  # the core refuses an account without one; a send without gets -518
        params.update({"SourceAddress": sender, "SourceTON": "1" if sender.isdigit() else "5"})
    if account.validity:
        params["ValidityPeriod"] = str(min(86400, max(1, round(account.validity))))
    return params


def _send_numbers(account: Account, submission: Submission) -> list[Receipt]:
    params = _message(account, submission)
    params["DestinationAddress"] = ",".join(r.digits for r in submission.recipients)
    answer = _call(account, params)
    values, detail = _values(answer)
    if len(values) == 1 and values[0] < 0:
        err = whole_request_error(values[0], detail)
        if err.category is not Category.RECIPIENT or len(submission.recipients) > 1:
            raise err
    if len(values) != len(submission.recipients):
        # The gateway acted on the request, for whom it does not say.
        raise ProviderError(
            Category.UNAVAILABLE,
            f"answered {len(values)} results for {len(submission.recipients)} numbers: {snippet(answer)}",
            provider=PROVIDER.name, unknown_outcome=True,
        )
    codes = {v for v in values if v < 0}
    shared_detail = detail if len(codes) == 1 else ""
    return [
        Receipt(r, message_id=str(v)) if v > 0 else Receipt(r, error=error(v, shared_detail))
        for r, v in zip(submission.recipients, values, strict=True)
    ]


def _send_list(account: Account, submission: Submission, recipient: Recipient) -> Receipt:
    """One list or group per request; the answer is its background send id(s), or 1."""
    title = recipient.kind.capitalize()
    params = _message(account, submission)
    params.update({"DestinationAddress": title, f"{title}Name": recipient.address,
                   "GetBGSendID": "1"})
    values, detail = _values(_call(account, params))
    if any(v < 0 for v in values):
        raise whole_request_error(next(v for v in values if v < 0), detail)
    return Receipt(recipient, message_id=",".join(str(v) for v in values))


@hookimpl
def sms_notify_send(account: Account, submission: Submission) -> list[Receipt]:
    lists = [r for r in submission.recipients if r.kind in PROVIDER.list_options]
    if not lists:
        return _send_numbers(account, submission)
    if len(submission.recipients) != 1:  # the core sends each list in a request of its own
        raise ProviderError(
            Category.REQUEST, "one list or group per request, without numbers",
            provider=PROVIDER.name,
        )
    return [_send_list(account, submission, lists[0])]


@hookimpl
def sms_notify_balance(account: Account) -> Balance:
    answer = _call(account, {"Action": "CheckCredits"})
    first, _, detail = answer.partition("\n")
    first = first.strip()
    if re.fullmatch(r"-\d+", first) and (int(first) in ERRORS or detail.strip()):
        raise error(int(first), detail.strip())
    if not _CREDITS.fullmatch(first):
        raise unexpected(PROVIDER.name, answer)
    return Balance(float(first.replace(",", ".")))


def _status_word(account: Account, message_id: str) -> str:
    """CheckMessageStatus's word for one message; its error code raised."""
    answer = _call(account, {"Action": "CheckMessageStatus", "MessageID": message_id})
    first, _, detail = answer.partition("\n")
    word = first.strip()
    if re.fullmatch(r"-\d+", word):
        raise error(int(word), detail.strip())
    if not _STATUS_WORD.fullmatch(word):
        raise unexpected(PROVIDER.name, answer)
    return word


@hookimpl
def sms_notify_status(account: Account, message_id: str) -> DeliveryStatus:
    word = _status_word(account, message_id)
    state, final = STATUSES.get(word.lower(), ("unknown", False))
    return DeliveryStatus(message_id, state, final, detail=word)


@hookimpl
def sms_notify_receipts(account: Account, texts: Sequence[Receipt]) -> list[DeliveryReport]:
    """One CheckMessageStatus per message id; the final words are reports."""
    reports = []
    for message_id in dict.fromkeys(t.message_id for t in texts if t.message_id):
        try:
            word = _status_word(account, message_id)
        except ProviderError as exc:
            if exc.code != str(UNKNOWN_ID):
                raise
            reports.append(DeliveryReport("unknown", message_id, detail=exc.describe()))
            continue
        if word.lower() in HANDSET:
            reports.append(DeliveryReport(HANDSET[word.lower()], message_id, detail=word))
    return reports


def received_at(text: str) -> float | None:
    """receivedts as Unix time, read in UK time; None when it is not in the documented form."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        when = datetime.strptime(text.strip(), RECEIVED_FORMAT)
        return when.replace(tzinfo=ZoneInfo(RECEIVED_ZONE)).timestamp()
    except (ValueError, ZoneInfoNotFoundError):
        return None


@hookimpl
def sms_notify_reply_push(push: Push) -> list[Reply]:
    """Inbound Message HTTP Forwarding: `source`, `dest`, `msg`, `id`, `receivedts` (GET or
    POST, as set in the web interface)."""
    source, msg = push.params.get("source", "").strip(), push.params.get("msg")
    if not source or msg is None:
        raise ProviderError(Category.REQUEST, "not a forwarded FastSMS message: it needs "
                            "source and msg", provider=PROVIDER.name)
    return [Reply(source, msg, id=push.params.get("id", "").strip(),
                  received=received_at(push.params.get("receivedts", "")),
                  to=push.params.get("dest", "").strip())]


@hookimpl
def sms_notify_register_simulators(
    register: Callable[[str, type[Simulator[Any]]], None],
) -> None:
    from sms_notify.sandbox.simulators.fastsms import FastSms

    register(SCHEME, FastSms)
