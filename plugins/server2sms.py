"""server2sms (json.server2sms.com, a white label of ASPSMS): JSON over HTTP POST.

Every method answers HTTP 200 with `{"StatusCode": "1", "StatusInfo": "OK", ...}`; other codes
are errors. A send returns no message id: each recipient travels as `+number:REFERENCE`, and that
transaction reference is both the id `send` prints and the key for InquireDeliveryNotifications,
which also tells, after a crash, whether the gateway has seen a reference at all.

What became of a text is pushed, where a send gives notification URLs (`serve`'s
/receipts/ACCOUNT, with the gateway's <TRN>, <DST>, <RSN> and <DSCTSUTC> tags in its query), and
is answered by InquireDeliveryNotifications too.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sms_notify import hookimpl
from sms_notify.errors import Category, ProviderError, refused
from sms_notify.http import request, unexpected
from sms_notify.model import (
    Account, Balance, DeliveryReport, DeliveryStatus, Provider, Push, Receipt, Submission,
)
from sms_notify.text import is_gsm

if TYPE_CHECKING:
    from sms_notify.sandbox import Simulator

SCHEME = "server2sms"
PROVIDER = Provider(
    scheme=SCHEME,
    name="server2sms",
    base_url="https://json.server2sms.com",
    credentials=("user", "password"),
    max_recipients=1000,  # the cap of public ASPSMS clients; the gateway's own is undocumented
    max_segments=4,  # public clients send up to 603 characters; the gateway's maximum is undocumented
    unicode=True,  # the gateway picks GSM-7 or Unicode itself
    sender_max_alnum=11,  # "max 11 alphanumeric characters or a verified phone number"
    sender_max_digits=15,
    capabilities=frozenset({"balance", "status", "lookup", "login", "receipts", "receipt_push"}),
    summary="Switzerland (ASPSMS); JSON API with user key and password",
)
SEND_PATH = "/SendTextSMS"
CREDITS_PATH = "/CheckCredits"
NOTIFICATIONS_PATH = "/InquireDeliveryNotifications"

log = logging.getLogger("sms_notify")

OK = "1"
NOTIFICATIONS_OK = frozenset({"0", "1"})  # InquireDeliveryNotifications answers "0" as well

C = Category
# Every documented StatusCode (docs/gateways.md, server2sms: the ASPSMS table). Informational codes
# (28, 31, 32, 35, 39) answer originator and token checks; from the calls made here they mean
# the request went wrong. 14 and 15 refuse the whole request for one number: the core splits
# the request to find it.
ERRORS: dict[str, tuple[Category, str]] = {
    "2": (C.UNAVAILABLE, "Connect failed."),
    "3": (C.AUTH, "Authorization failed."),
    "4": (C.REQUEST, "Binary file not found. Please check the location."),
    "5": (C.CREDIT, "Not enough credits available. Please recharge your account to proceed."),
    "6": (C.UNAVAILABLE, "Time out error."),
    "7": (C.UNAVAILABLE, "Transmission error. Please try it again."),
    "8": (C.AUTH, "Invalid UserKey. Please check the spelling of the UserKey."),
    "9": (C.AUTH, "Invalid Password."),
    "10": (C.SENDER, "Invalid originator. A maximum of 11 characters is allowed for alphanumeric originators."),
    "11": (C.REQUEST, "Invalid message data. Please verify the data."),
    "12": (C.REQUEST, "Invalid binary data. Please verify the data."),
    "13": (C.REQUEST, "Invalid binary file. Please check the file type."),
    "14": (C.RECIPIENT, "Invalid MCC. Please check the number."),
    "15": (C.RECIPIENT, "Invalid MNC. Please check the number."),
    "16": (C.REQUEST, "Invalid XSer."),
    "17": (C.REQUEST, "Invalid URL buffered message notification string."),
    "18": (C.REQUEST, "Invalid URL delivery notification string."),
    "19": (C.REQUEST, "Invalid URL non delivery notification string."),
    "20": (C.REQUEST, "Missing a recipient. Please specify at least one recipient."),
    "21": (C.REQUEST, "Missing binary data. Please specify some data."),
    "22": (C.REQUEST, "Invalid deferred delivery time. Please check the format."),
    "23": (C.REQUEST, "Missing transaction reference number."),
    "24": (C.UNAVAILABLE, "Service temporarely not available."),
    "25": (C.AUTH, "User access denied."),
    "28": (C.REQUEST, "No Originator Restrictions."),
    "29": (C.SENDER, "Originator Authorization Pending."),
    "30": (C.SENDER, "Originator Not Authorized."),
    "31": (C.REQUEST, "Originator already authorized"),
    "32": (C.REQUEST, "No Notification Recipient Restrictions."),
    "33": (C.REQUEST, "Notification Recipient Authorization Pending."),
    "34": (C.REQUEST, "Notification Recipient Not Authorized."),
    "35": (C.REQUEST, "Notification Recipient Already Authorized."),
    "36": (C.REQUEST, "Security Token authorization pending"),
    "37": (C.REQUEST, "Security Token not authorized"),
    "38": (C.REQUEST, "Security Token not found"),
    "39": (C.REQUEST, "Security Token already authorized"),
}

# DeliveryStatus -> (state, final).
STATUSES: dict[str, tuple[str, bool]] = {
    "-1": ("queued", False),  # "Not yet submitted or rejected"
    "0": ("delivered", True),
    "1": ("sent", False),  # "Buffered": at the network, waiting for the handset
    "2": ("failed", True),  # "Not delivered"
}


# DeliveryStatus -> what became of the text at the handset, for the final ones. The document
# tells no expiry apart from other non-delivery: its reason code says why.
HANDSET = {"0": "delivered", "2": "undelivered"}
MAX_URL = 200  # "the length of one URL is limited to 200 chars"
# What a notification URL asks the gateway to fill in: reference, status, reason, and when.
NOTIFICATION_TAGS = "TRN=<TRN>&DST=<DST>&RSN=<RSN>&DSCTSUTC=<DSCTSUTC>"


def error(code: str, info: str = "") -> ProviderError:
    if code not in ERRORS:
        return refused(info or "Unknown status code", code, PROVIDER.name)
    category, text = ERRORS[code]
    return ProviderError(category, info or text, code=code, provider=PROVIDER.name)


def _post(account: Account, path: str, body: dict[str, Any], ok: frozenset[str]) -> dict[str, Any]:
    """POST one JSON method; return its answer when StatusCode is in `ok`, raise otherwise."""
    payload = {"UserName": account.user, "Password": account.password, **body}
    response = request(
        "POST", account.url(PROVIDER, path), json=payload, provider=PROVIDER.name,
        timeout=account.timeout,
    )
    try:
        answer = response.json()
    except ValueError:
        raise unexpected(PROVIDER.name, response.text) from None
    if not isinstance(answer, dict) or "StatusCode" not in answer:
        raise unexpected(PROVIDER.name, response.text)
    code = str(answer["StatusCode"]).strip()
    if code not in ok:
        raise error(code, str(answer.get("StatusInfo") or "").strip())
    return answer


def send_body(submission: Submission) -> dict[str, Any]:
    """SendTextSMS: each recipient with its transaction reference; GSM-7 forced only for GSM text."""
    body: dict[str, Any] = {}
    if submission.sender:
        body["Originator"] = submission.sender
    body["Recipients"] = [
        f"{r.address}:{r.reference}" if r.reference else r.address for r in submission.recipients
    ]
    body["MessageText"] = submission.text
    body["ForceGSM7bit"] = is_gsm(submission.text)
    url = notification_url(submission.receipt_url)
    if url:
        body["URLDeliveryNotification"] = body["URLNonDeliveryNotification"] = url
    return body


def notification_url(receipt_url: str) -> str:
    """The receipt URL with the gateway's tags, or "" when there is none or it is too long
    for the gateway (code 18 would refuse the text itself: the report is the lesser loss)."""
    if not receipt_url:
        return ""
    url = f"{receipt_url}{'&' if '?' in receipt_url else '?'}{NOTIFICATION_TAGS}"
    if len(url) > MAX_URL:
        _too_long(len(url))
        return ""
    return url


@functools.cache
def _too_long(length: int) -> None:
    log.warning("server2sms: the delivery notification URL would be %d characters, over the "
                "gateway's %d: texts go without it, and their reports are asked for instead "
                "(shorten server.public_url or server.inbound_secret)", length, MAX_URL)


def utc(value: object) -> float | None:
    """An ISO 8601 time in UTC as Unix time; None when empty or not one."""
    try:
        return datetime.fromisoformat(str(value or "").strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _notifications(account: Account, references: Sequence[str]) -> list[dict[str, Any]]:
    answer = _post(
        account, NOTIFICATIONS_PATH,
        {"TransactionReferenceNumbers": ";".join(references)}, NOTIFICATIONS_OK,
    )
    found = answer.get("DeliveryNotifications") or []
    if not isinstance(found, list) or not all(isinstance(n, dict) for n in found):
        raise unexpected(PROVIDER.name, str(answer))
    return found


def _seen(notification: dict[str, Any]) -> bool:
    """The gateway has the message: a known outcome, or a submission date."""
    status = str(notification.get("DeliveryStatus", "")).strip()
    return status in ("0", "1", "2") or bool(str(notification.get("SubmissionDate") or "").strip())


@hookimpl
def sms_notify_register_providers(register: Callable[[Provider], None]) -> None:
    register(PROVIDER)


@hookimpl
def sms_notify_send(account: Account, submission: Submission) -> list[Receipt]:
    _post(account, SEND_PATH, send_body(submission), frozenset({OK}))
    return [Receipt(r, message_id=r.reference or None) for r in submission.recipients]


@hookimpl
def sms_notify_balance(account: Account) -> Balance:
    answer = _post(account, CREDITS_PATH, {}, frozenset({OK}))
    raw = str(answer.get("Credits", "")).strip().replace("'", "").replace(",", ".")
    try:
        return Balance(float(raw))
    except ValueError:
        raise unexpected(PROVIDER.name, str(answer)) from None


@hookimpl
def sms_notify_check_login(account: Account) -> bool:
    """CheckCredits is the cheapest call that checks credentials."""
    _post(account, CREDITS_PATH, {}, frozenset({OK}))
    return True


@hookimpl
def sms_notify_status(account: Account, message_id: str) -> DeliveryStatus:
    mine = [
        n for n in _notifications(account, [message_id])
        if str(n.get("TransactionReferenceNumber", "")).strip() == message_id
    ]
    if not mine:
        raise ProviderError(
            Category.REQUEST, f"no delivery notification for {message_id}", provider=PROVIDER.name
        )
    best = next(
        (n for n in mine if STATUSES.get(str(n.get("DeliveryStatus", "")).strip(), ("", False))[1]),
        mine[0],
    )
    code = str(best.get("DeliveryStatus", "")).strip()
    state, final = STATUSES.get(code, ("unknown", False))
    detail = "; ".join(
        str(best[key]).strip()
        for key in ("DeliveryStatusDescription", "ReasoncodeDescription")
        if str(best.get(key) or "").strip()
    )
    return DeliveryStatus(message_id, state, final, detail=detail)


@hookimpl
def sms_notify_lookup(account: Account, references: Sequence[str]) -> dict[str, bool]:
    seen = {
        str(n.get("TransactionReferenceNumber", "")).strip()
        for n in _notifications(account, references)
        if _seen(n)
    }
    return {ref: ref in seen for ref in references}


@hookimpl
def sms_notify_receipts(account: Account, texts: Sequence[Receipt]) -> list[DeliveryReport]:
    """InquireDeliveryNotifications for every transaction reference in one request."""
    references = list(dict.fromkeys(t.recipient.reference or t.message_id or "" for t in texts))
    reports = []
    for n in _notifications(account, [r for r in references if r]):
        reference = str(n.get("TransactionReferenceNumber", "")).strip()
        state = HANDSET.get(str(n.get("DeliveryStatus", "")).strip())
        if reference and state:
            reports.append(DeliveryReport(state, reference, reference, utc(n.get(
                "NotificationDate")), _detail(n, "DeliveryStatusDescription",
                                              "ReasoncodeDescription", "Reasoncode")))
    return reports


def _detail(fields: dict[str, Any], *keys: str) -> str:
    return "; ".join(str(fields[k]).strip() for k in keys if str(fields.get(k) or "").strip())


@hookimpl
def sms_notify_receipt_push(push: Push) -> list[DeliveryReport]:
    """A notification URL called by the gateway: TRN, DST (0 delivered, 1 buffered, 2 not
    delivered), RSN and DSCTSUTC, as the send's URL placed them."""
    reference = push.params.get("TRN", "").strip()
    status = push.params.get("DST", "").strip()
    if not reference or not status:
        raise ProviderError(Category.REQUEST, "not a server2sms delivery notification: it needs "
                            "TRN and DST", provider=PROVIDER.name)
    state = HANDSET.get(status)
    if state is None:  # buffered, or not submitted yet: the final one comes later
        return []
    return [DeliveryReport(state, reference, reference, utc(push.params.get("DSCTSUTC")),
                           _detail(dict(push.params), "RSN"))]


@hookimpl
def sms_notify_register_simulators(
    register: Callable[[str, type[Simulator[Any]]], None],
) -> None:
    from sms_notify.sandbox.simulators.server2sms import Server2Sms

    register(SCHEME, Server2Sms)
