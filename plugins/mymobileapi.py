"""MyMobileAPI / SMSPortal legacy (ZA): the api5 SOAP web service (ASP.NET ASMX), user+password.

Each `_STR_STR` call takes an XML document as a string in `Data` and answers an `<api_result>`
document as a string; both are XML inside XML, and the inner one is parsed here with
sms_notify.safexml. A send is one `<senddata>`: the text once, as the default, and one
`<entries>` per recipient with our reference as its `customerid`. The answer lists the
entries refused, with a reason each, and the batch's `eventid`; there is no id per message,
so `send` prints `CUSTOMERID:EVENTID` (docs/design.md, Decision 3). Delivery states come from
Sent_STR_STR, a feed of status changes after a CHANGEID, where our customerid finds the message
again: for `status`, and to look up a send whose outcome is unknown. The core keeps the cursor
and what was read (the `feed` of those hooks), so each call reads on from where the last one
stopped, never from 0 again (docs/design.md, Decision 15). The same feed answers what became of
each text (the receipts hook). Replies come from Reply_STR_STR, a feed of its own after a
`replyid`, each naming the customerid of the text it answers (`sentcustomerid`).

The WSDL is the packaged mymobileapi.wsdl; how a call travels and fails is sms_notify.soap's.
lxml is imported on first use, never when the plugin loads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
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
    Feed,
    Provider,
    Receipt,
    Recipient,
    Reply,
    Submission,
)
from sms_notify.numbers import match_rows, same_number

if TYPE_CHECKING:
    from sms_notify.sandbox import Simulator
    from lxml import etree

SCHEME = "mymobileapi"
PROVIDER = Provider(
    scheme=SCHEME,
    name="MyMobileAPI",
    base_url="https://legacy.mymobileapi.com",
    credentials=("user", "password"),
    # Entries per <senddata> are undocumented ("1 or infinity message entries" per eventid).
    # 500 keeps one request near 50 KB with the text sent once, and what one failed request
    # (a timeout, a 5xx) leaves in doubt small.
    max_recipients=500,
    # Long texts and their maximum are undocumented; three parts, as the other gateways here.
    max_segments=3,
    # The legacy documents say nothing of Unicode; GSM-7 only.
    unicode=False,
    # Sender IDs: "only certain accounts can alter this" (default "Repliable"); length rules
    # are undocumented, so the usual 11 characters or a number.
    sender_max_alnum=11,
    sender_max_digits=15,
    max_validity=86400,  # default_validityperiod, in whole hours; its maximum is undocumented
    options={"live": "no: test mode, the gateway checks a send and sends nothing (default yes)"},
    option_values={"live": ("yes", "no", "true", "false", "1", "0", "on", "off")},
    capabilities=frozenset({"balance", "status", "lookup", "login", "receipts", "replies"}),
    summary="South Africa (SMSPortal legacy); SOAP web service with username and password",
)
PATH = "/api5/api.asmx"
NAMESPACE = "http://www.mymobileapi.com/api5"
BINDING = f"{{{NAMESPACE}}}APISoap"
WSDL = Path(__file__).with_name("mymobileapi.wsdl")

MAX_RECS = 100  # Sent_STR_STR: "Values 1 to 100"
MAX_PAGES = 50  # status changes searched for a customerid: 5000
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SENT_COLUMNS = "sentid,eventid,numto,customerid,status,statusdate"
REPLY_COLUMNS = "replyid,eventid,numfrom,receiveddata,received,sentcustomerid"
TRUE_WORDS = frozenset({"yes", "true", "1", "on"})
FALSE_WORDS = frozenset({"no", "false", "0", "off"})
HOUR = 3600

C = Category
# <entries_failed><reason>: every documented reason. An unreachable number is the recipient's
# problem; the others are the request's; an undocumented one a refusal (errors.refused).
REASONS: dict[str, Category] = {
    "numto invalid": C.RECIPIENT,
    "senderid invalid": C.SENDER,
    "time invalid": C.REQUEST,
    "costcentre invalid": C.REQUEST,
    "type invalid": C.REQUEST,
    "data1 invalid": C.REQUEST,
}
# <call_result><error> texts are free text and not published; they are read by their words,
# first match wins. "No data to send" (every entry refused) is the one seen in public code; the
# document names failed log-ins, credit and API channels that are not active. A text no word
# matches is a refusal for a reason we do not know (errors.refused): the call failed and sent
# nothing, and the next account may well do, where a final `request` error would silence the
# alert and retrying this account would be refused again.
CALL_ERRORS: tuple[tuple[str, Category], ...] = (
    ("credit", C.CREDIT),
    ("sender", C.SENDER),
    ("access denied", C.AUTH),
    ("credential", C.AUTH),
    ("authori", C.AUTH),
    ("api key", C.AUTH),
    ("username", C.AUTH),
    ("password", C.AUTH),
    ("login", C.AUTH),
    ("authenticat", C.AUTH),
    ("api channel", C.AUTH),
    ("not enabled", C.AUTH),
    ("disabled", C.AUTH),
    ("suspended", C.AUTH),
    ("no data to send", C.REQUEST),
    ("rate limit", C.RATE_LIMITED),
    ("rate_limited", C.RATE_LIMITED),
    ("too many", C.RATE_LIMITED),
    ("try again", C.UNAVAILABLE),
    ("timeout", C.UNAVAILABLE),
    ("timed out", C.UNAVAILABLE),
    ("unavailable", C.UNAVAILABLE),
    ("maintenance", C.UNAVAILABLE),
)
# Sent_STR_STR <status> -> (state, final): the four documented values.
STATUSES: dict[str, tuple[str, bool]] = {
    "DELIVRD": ("delivered", True),
    "UNDELIV": ("failed", True),
    "EXPIRED": ("failed", True),
    "UNKNOWN": ("sent", False),  # sent, no delivery report yet
}
# The final <status> words, as what became of the text at the handset.
HANDSET = {"DELIVRD": "delivered", "UNDELIV": "undelivered", "EXPIRED": "expired"}


def call_error(text: str) -> ProviderError:
    """A `<call_result>` error, its category read from its words (CALL_ERRORS)."""
    lowered = text.lower()
    category = next((c for word, c in CALL_ERRORS if word in lowered), None)
    if category is None:
        return refused(text, provider=PROVIDER.name)
    return ProviderError(category, text, provider=PROVIDER.name)


def reason_error(reason: str) -> ProviderError:
    text = reason.strip() or "refused (no reason)"
    category = REASONS.get(text.lower())
    if category is None:
        return refused(text, provider=PROVIDER.name)
    return ProviderError(category, text, provider=PROVIDER.name)


# --- SOAP ----------------------------------------------------------------------------------

_document = soap.wsdl(WSDL)


def call(account: Account, operation: str, **args: Any) -> str:
    """One api5 operation, the account's credentials first (`Username`, as the WSDL spells
    it); its `...Result` string, untouched: it is a document of its own."""
    answer = soap.call(
        account, PROVIDER, document=_document(), binding=BINDING, path=PATH,
        operation=operation, credentials={"Username": account.user, "Password": account.password},
        **args,
    )
    return "" if answer is None else str(answer)

# --- the XML inside: <senddata>, <sent> and <api_result> -----------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def live(account: Account) -> bool:
    """`live=no` (or false, 0, off) is the gateway's test mode."""
    value = account.options.get("live", "yes").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ProviderError(
        C.REQUEST, f"live={value!r} must be yes or no", provider=PROVIDER.name
    )


def _add(parent: etree._Element, tag: str, value: str) -> None:
    from lxml import etree

    etree.SubElement(parent, tag).text = safexml.text(value)


def senddata(
    submission: Submission, is_live: bool, now: datetime, validity: float | None = None
) -> str:
    """The `<senddata>` of one send: settings with the text as default_data1, then an entry
    per recipient. default_date/time are mandatory; giving default_curdate/curtime from the
    same clock makes the gateway send at once, whatever its own time zone. `validity` seconds
    go as default_validityperiod in whole hours, rounded up."""
    from lxml import etree

    root = etree.Element("senddata")
    settings = etree.SubElement(root, "settings")
    _add(settings, "live", "True" if is_live else "False")
    for flag in (
        "return_credits", "return_msgs_credits_used", "return_msgs_success_count",
        "return_msgs_failed_count", "return_entries_success_status",
        "return_entries_failed_status",
    ):
        _add(settings, flag, "True")
    if submission.sender:
        _add(settings, "default_senderid", submission.sender_field)
    date = f"{now.day:02d}/{MONTHS[now.month - 1]}/{now.year:04d}"
    clock = now.strftime("%H:%M")
    _add(settings, "default_date", date)
    _add(settings, "default_time", clock)
    _add(settings, "default_curdate", date)
    _add(settings, "default_curtime", clock)
    _add(settings, "default_data1", submission.text)
    _add(settings, "default_type", "SMS")
    if validity:
        _add(settings, "default_validityperiod", str(max(1, math.ceil(validity / HOUR))))
    for recipient in submission.recipients:
        entry = etree.SubElement(root, "entries")
        _add(entry, "numto", recipient.digits)
        _add(entry, "customerid", recipient.reference)
    return str(etree.tostring(root, encoding="unicode"))


def sent_query(since: int, records: int = MAX_RECS) -> str:
    """The `<sent>` document: status changes after changeid `since`, a full page."""
    return _feed_query("sent", since, SENT_COLUMNS, records)


def reply_query(since: int) -> str:
    """The `<reply>` document: replies after replyid `since`, a full page."""
    return _feed_query("reply", since, REPLY_COLUMNS)


def _feed_query(root: str, since: int, columns: str, records: int = MAX_RECS) -> str:
    return (
        f"<{root}><settings><id>{since}</id><max_recs>{records}</max_recs>"
        f"<cols_returned>{columns}</cols_returned>"
        f"<date_format>yyyyMMddHHmmss</date_format></settings></{root}>"
    )


def api_result(answer: str) -> etree._Element:
    """The `<api_result>` a call answered, parsed safely; raise its `<call_result>` error."""
    root = _parse(answer)
    result = root.findtext("call_result/result")
    if result is not None and result.strip().lower() != "true":
        raise _call_failure(root)
    return root


def _parse(answer: str) -> etree._Element:
    if not answer.strip():
        raise unexpected(PROVIDER.name, answer)
    try:
        root = safexml.parse(answer)
    except safexml.DtdRefused as exc:
        raise ProviderError(C.REQUEST, f"answer refused: {exc}", provider=PROVIDER.name) from None
    except safexml.UnsafeXml as exc:
        raise ProviderError(
            C.UNAVAILABLE, f"unexpected answer ({exc}): {snippet(answer)}", provider=PROVIDER.name,
            unknown_outcome=True,
        ) from None
    if root.tag != "api_result":
        raise unexpected(PROVIDER.name, answer)
    return root


def _call_failure(root: etree._Element) -> ProviderError:
    text = (root.findtext("call_result/error") or "").strip()
    return call_error(text or "the call failed and gave no reason")


def _rows(root: etree._Element, tag: str) -> list[dict[str, str]]:
    return [
        {str(child.tag): (child.text or "").strip() for child in node if isinstance(child.tag, str)}
        for node in root.findall(tag)
    ]


def _match(
    recipients: Sequence[Recipient], rows: list[dict[str, str]], taken: set[int]
) -> tuple[dict[int, dict[str, str]], list[dict[str, str]]]:
    """Recipient index -> its row, by customerid, then by number (the gateway may write it
    nationally); and the rows that named no recipient left."""
    return match_rows(recipients, rows, (
        lambda r, row: bool(r.reference) and row.get("customerid") == r.reference,
        lambda r, row: same_number(r.digits, row.get("numto", "")),
    ), taken)


def message_id(reference: str, eventid: str) -> str | None:
    """What `send` prints and `status` takes: our customerid with the batch's eventid."""
    if reference and eventid:
        return f"{reference}:{eventid}"
    return reference or eventid or None


def parse_send(answer: str, recipients: Sequence[Recipient]) -> list[Receipt]:
    """A receipt per recipient from the send's `<api_result>`.

    Refused entries carry their reason. A call that failed outright (`<result>False`) is raised,
    unless it names refused entries (every entry refused is "No data to send"): then each named
    one gets its reason and the rest the call's error.
    """
    root = _parse(answer)
    result = root.findtext("call_result/result")
    failure = None if result is None or result.strip().lower() == "true" else _call_failure(root)
    refused = _rows(root, "entries_failed")
    if failure is not None and not refused:
        raise failure
    eventid = (root.findtext("send_info/eventid") or "").strip()
    accepted, _ = _match(recipients, _rows(root, "entries_success"), set())
    failed, unnamed = _match(recipients, refused, set(accepted))
    rest = [i for i in range(len(recipients)) if i not in accepted and i not in failed]
    if unnamed and len(unnamed) == len(rest):  # refused rows with an empty numto and customerid
        failed.update(zip(rest, unnamed, strict=True))
        rest = []
    receipts = []
    for index, recipient in enumerate(recipients):
        if index in failed:
            receipts.append(Receipt(recipient, error=reason_error(failed[index].get("reason", ""))))
        elif failure is not None:
            receipts.append(Receipt(recipient, error=failure))
        elif unnamed and index in rest:
            reasons = ", ".join(sorted({row.get("reason", "") for row in unnamed}))
            receipts.append(Receipt(recipient, error=ProviderError(
                C.REQUEST, f"{len(unnamed)} entries refused without naming them ({reasons})",
                provider=PROVIDER.name,
            )))
        else:
            receipts.append(Receipt(recipient, message_id=message_id(recipient.reference, eventid)))
    return receipts


def _position(row: dict[str, str], name: str) -> int:
    """A feed row's changeid or replyid; a row without one is an answer we cannot read."""
    try:
        return int(row.get(name, ""))
    except ValueError:
        raise unexpected(PROVIDER.name, snippet(str(row))) from None


def _changes(
    account: Account, wanted: set[str], feed: Feed | None, stop_when_found: bool
) -> dict[str, dict[str, str]]:
    """The latest status change of each wanted customerid: what the feed already gave, then the
    feed read on from where it was left (from 0 without one), each page recorded in it. A feed
    that went back behind the stored position (a gateway reset or restored: its change ids
    start again) is read from the start: read from the position, it would show nothing, and a
    look-up would conclude "no trace" of a text the gateway has."""
    latest = dict(feed.seen(wanted)) if feed is not None else {}
    if stop_when_found and wanted <= latest.keys():
        return latest
    since = feed.position if feed is not None else 0
    for pages in range(MAX_PAGES):
        root = api_result(call(account, "Sent_STR_STR", Data=sent_query(since)))
        rows = _rows(root, "data")
        if (feed is not None and pages == 0 and not rows and since > 0
                and not wanted <= latest.keys() and _went_back(account, since)):
            feed.rewind()
            since = 0
            root = api_result(call(account, "Sent_STR_STR", Data=sent_query(since)))
            rows = _rows(root, "data")
        page: dict[str, dict[str, str]] = {}
        for row in rows:
            since = max(since, _position(row, "changeid"))
            if row.get("customerid"):
                page[row["customerid"]] = row
        if feed is not None:
            feed.advance(since, page)
        latest.update({k: v for k, v in page.items() if k in wanted})
        if len(rows) < MAX_RECS or (stop_when_found and wanted <= latest.keys()):
            return latest
    # Not at the end of the feed yet: what is still unread may hold them. The next call reads
    # on from here (with a feed); answering "not found" now would send a text twice.
    raise ProviderError(
        C.UNAVAILABLE, f"the feed of status changes is longer than {MAX_PAGES * MAX_RECS} "
        "changes from where it was read to; read on at the next call", provider=PROVIDER.name,
    )


def _went_back(account: Account, position: int) -> bool:
    """Whether the feed's newest change is older than `position`, the last one read: asked
    for what follows the one before it, a feed that still has it answers it."""
    root = api_result(call(account, "Sent_STR_STR", Data=sent_query(position - 1, 1)))
    return not _rows(root, "data")


@hookimpl
def sms_notify_register_providers(register: Callable[[Provider], None]) -> None:
    register(PROVIDER)


@hookimpl
def sms_notify_send(account: Account, submission: Submission) -> list[Receipt]:
    if any(r.kind != "number" for r in submission.recipients):
        raise ProviderError(
            C.REQUEST, "MyMobileAPI takes numbers only, no lists", provider=PROVIDER.name
        )
    data = senddata(submission, live(account), _now(), account.validity)
    return parse_send(call(account, "Send_STR_STR", Data=data), submission.recipients)


@hookimpl
def sms_notify_balance(account: Account) -> Balance:
    answer = call(account, "Credits_STR")
    credits = (api_result(answer).findtext("data/credits") or "").strip()
    if not re.fullmatch(r"-?\d+(?:[.,]\d+)?", credits):
        raise unexpected(PROVIDER.name, answer)
    return Balance(float(credits.replace(",", ".")))


@hookimpl
def sms_notify_check_login(account: Account) -> bool:
    """Credits_STR is the cheapest call that checks credentials."""
    api_result(call(account, "Credits_STR"))
    return True


@hookimpl
def sms_notify_status(account: Account, message_id: str, feed: Feed) -> DeliveryStatus:
    """By what `send` printed: `CUSTOMERID:EVENTID`, or a bare customerid."""
    customerid, _, eventid = message_id.strip().partition(":")
    row = _changes(account, {customerid}, feed, stop_when_found=False).get(customerid)
    if row is None or (eventid and row.get("eventid") and row["eventid"] != eventid):
        raise ProviderError(
            C.REQUEST, f"no sent message with customerid {customerid}", provider=PROVIDER.name
        )
    word = row.get("status", "").upper()
    state, final = STATUSES.get(word, ("unknown", False))
    detail = " ".join(v for v in (word, row.get("statusdate", "")) if v)
    return DeliveryStatus(message_id, state, final, detail=detail)


@hookimpl
def sms_notify_lookup(account: Account, references: Sequence[str], feed: Feed) -> dict[str, bool]:
    """A customerid the feed of sent messages knows was accepted."""
    found = _changes(account, set(references), feed, stop_when_found=True)
    return {ref: ref in found for ref in references}


@hookimpl
def sms_notify_receipts(account: Account, texts: Sequence[Receipt], feed: Feed
                        ) -> list[DeliveryReport]:
    """The feed of status changes read on from its cursor; each customerid's latest change."""
    wanted = {t.recipient.reference for t in texts if t.recipient.reference}
    reports = []
    for reference, row in _changes(account, wanted, feed, stop_when_found=False).items():
        word = row.get("status", "").upper()
        if word in HANDSET:
            eventid = row.get("eventid", "")
            reports.append(DeliveryReport(
                HANDSET[word], message_id(reference, eventid) or reference, reference,
                detail=" ".join(v for v in (word, row.get("statusdate", "")) if v)))
    return reports


@hookimpl
def sms_notify_replies(account: Account, feed: Feed) -> list[Reply]:
    """Reply_STR_STR read on from the feed's replyid, a page at a time (at most MAX_PAGES); the
    core advances the feed once it has them."""
    since = feed.position
    replies: list[Reply] = []
    for _ in range(MAX_PAGES):
        rows = _rows(api_result(call(account, "Reply_STR_STR", Data=reply_query(since))), "data")
        for row in rows:
            replyid = _position(row, "replyid")
            since = max(since, replyid)
            replies.append(Reply(row.get("numfrom", ""), row.get("receiveddata", ""),
                                 id=str(replyid), reference=row.get("sentcustomerid", ""),
                                 cursor=replyid))
        if len(rows) < MAX_RECS:
            break
    return replies


@hookimpl
def sms_notify_register_simulators(
    register: Callable[[str, type[Simulator[Any]]], None],
) -> None:
    from sms_notify.sandbox.simulators.mymobileapi import MyMobileApi

    register(SCHEME, MyMobileApi)
