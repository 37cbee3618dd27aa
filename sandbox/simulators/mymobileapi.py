"""MyMobileAPI (legacy SMSPortal) as its web services document and WSDL describe it
(docs/gateways.md, MyMobileAPI): /api5/api.asmx, SOAP 1.1/1.2, namespace
http://www.mymobileapi.com/api5, elements Username, Password, Data.

`*_STR` results are the `<api_result>` document as a string in `<OpResult>`. A send takes the
`<senddata>` document, one `<entries>` per message; refused entries come back in
`<entries_failed>` with the documented reasons when the request asks for them; with `live`
False the send is checked and answered but not sent. `default_date` and `default_time` are
mandatory, as `<id>` of Sent_STR_STR is. Whole-call errors are
`<call_result><result>False</result><error>TEXT</error>`; the gateway publishes no texts, so
these are the sandbox's own (ERRORS), none chosen to suit a client: "Access denied",
"Insufficient funds", "No data to send" (the one public code knows). A passing failure is a
soap:Server fault with HTTP 500, as ASP.NET answers one.

Replies (an admin call makes a phone reply) are kept for Reply_STR_STR, a feed after a `replyid`
as the document describes it, each naming the text it answers: the latest sent to that number
(`sentid`, `sentcustomerid`, ...). A reply to a number the account never texted is refused: the
document says only replies to texts sent through the web services can be read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from lxml import etree

from ..parts import parts
from ..simulator import Call
from ..soap import SERVER_FAULT, SoapSimulator, XmlRefused, parse_xml
from ..state import Outgoing, phone, routable

ERRORS = {"auth": "Access denied", "credit": "Insufficient funds", "request": "No data to send"}
_DATE = re.compile(r"^\d{1,2}/[A-Za-z]{3}/\d{4}$")  # dd/MMM/yyyy, e.g. 13/apr/2009
_TIME = re.compile(r"^\d{1,2}:\d{2}$")  # HH:mm
MAX_RECS = 100  # Sent_STR_STR: "Values 1 to 100"
_SENDER = re.compile(r"^[A-Za-z0-9 ]{1,11}$|^\+?\d{1,15}$")
_DEFAULT_COLS = "changeid"  # what Sent returns when cols_returned is empty
STATUS_WORDS = {"sent": "UNKNOWN", "delivered": "DELIVRD", "failed": "UNDELIV",
                "expired": "EXPIRED"}
_DEFAULT_REPLY_COLS = "replyid"  # what Reply returns when cols_returned is empty
FIRST_SENTID, FIRST_EVENTID = 880000001, 27105067
Row = dict[str, Any]


def _true(value: str | None, default: bool = False) -> bool:
    return default if value in (None, "") else value.strip().lower() == "true"


def api_result(error: str = "", sections: Mapping[str, list[Row]] | None = None) -> str:
    """The `<api_result>` document: sections of repeated elements, then call_result."""
    root = etree.Element("api_result")
    for name, rows in (sections or {}).items():
        for row in rows:
            node = etree.SubElement(root, name)
            for key, value in row.items():
                etree.SubElement(node, key).text = "" if value is None else str(value)
    call = etree.SubElement(root, "call_result")
    etree.SubElement(call, "result").text = "False" if error else "True"
    etree.SubElement(call, "error").text = error or None
    return etree.tostring(root, encoding="unicode")


def _settings(data: str, root: str) -> tuple[etree._Element | None, dict[str, str], str]:
    """The document in Data, its <settings> by name, or the error to answer."""
    try:
        doc = parse_xml(data)
    except XmlRefused as exc:
        return None, {}, f"Invalid XML data: {exc}"
    if doc.tag != root:
        return None, {}, f"Invalid XML data: expected <{root}>"
    settings = {str(c.tag): (c.text or "").strip() for c in doc.findall("settings/*")
                if isinstance(c.tag, str)}
    return doc, settings, ""


class MyMobileApi(SoapSimulator):
    """Send_STR_STR, Credits_STR and Sent_STR_STR of the api5 web service."""

    scheme = "mymobileapi"
    namespace = "http://www.mymobileapi.com/api5"
    paths = ("/api5/api.asmx",)
    error_codes: ClassVar[dict[str, str]] = {**ERRORS, "unavailable": SERVER_FAULT}
    operations: ClassVar[dict[str, str]] = {
        "Send_STR_STR": "send", "Credits_STR": "credits_str", "Sent_STR_STR": "sent",
        "Reply_STR_STR": "replies",
    }

    def reset(self) -> None:
        self.changes: dict[str, tuple[int, str]] = {}  # sentid -> (changeid, status)
        self.change_ids = iter(range(1, 2**62))
        self.inbound: list[Row] = []  # the replies, by replyid

    def reply(self, number: str, text: str) -> tuple[dict[str, Any], list[Outgoing]]:
        """A reply to the latest text sent to `number`, into the feed of replies."""
        sender = phone(number, "ZA")
        answered = [m for m in self.messages() if m.to == sender]
        if sender is None or not answered:
            raise ValueError(f"no text was sent to {number!r} through {self.scheme}: a reply "
                             "answers one")
        sent, now = answered[-1], datetime.now(UTC)
        row: Row = {"replyid": len(self.inbound) + 1, "eventid": sent.extra.get("eventid"),
                    "numfrom": sender.lstrip("+"), "receiveddata": text, "received": now,
                    "sentid": sent.id, "sentdata": sent.text,
                    "sentdatetime": datetime.fromtimestamp(sent.at, UTC),
                    "sentcustomerid": sent.reference, "optout": "0"}
        self.inbound.append(row)
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}, []

    def fail(self, call: Call, code: str, detail: str = "") -> str:
        call.outcome = f"error: {detail or code}"
        return api_result(detail or code)

    def refuse(self, call: Call) -> str | None:
        if self.state.login(call.text("Username"), call.text("Password")):
            return None
        return self.fail(call, ERRORS["auth"])

    def credits_str(self, call: Call) -> str:
        credits = f"{self.credits:g}"
        call.outcome = f"{credits} credits"
        return api_result(sections={"data": [{"credits": credits}]})

    def send(self, call: Call) -> str:
        doc, settings, error = _settings(call.text("Data"), "senddata")
        if doc is None:
            return self.fail(call, error)
        if not _DATE.match(settings.get("default_date", "")) \
                or not _TIME.match(settings.get("default_time", "")):
            return self.fail(call, "default_date (dd/MMM/yyyy) and default_time (HH:mm) are "
                             "mandatory")
        entries = [{str(c.tag): (c.text or "") for c in e if isinstance(c.tag, str)}
                   for e in doc.findall("entries")]
        call.recipients = [e.get("numto", "").strip() for e in entries]
        ok: list[tuple[Row, str, str, str]] = []
        failed: list[Row] = []
        for entry in entries:
            number = phone(entry.get("numto", ""), "ZA")
            sender = (entry.get("senderid") or settings.get("default_senderid") or "").strip()
            text = entry.get("data1") or settings.get("default_data1") or ""
            kind = (entry.get("type") or settings.get("default_type") or "SMS").strip()
            reason = ("numto invalid" if not number or not routable(number)
                      else "senderid invalid" if sender and not _SENDER.match(sender)
                      else "type invalid" if kind.upper() != "SMS"
                      else "data1 invalid" if not text.strip() else "")
            if reason:
                failed.append({"numto": entry.get("numto", ""),
                               "customerid": entry.get("customerid", ""), "reason": reason})
            else:
                ok.append((entry, number or "", sender or "Repliable", text))
        return self._sent(call, settings, ok, failed)

    def _sent(self, call: Call, settings: Mapping[str, str], ok: list[tuple[Row, str, str, str]],
              failed: list[Row]) -> str:
        """The answer to a checked send: the entries accepted are sent (unless not live)."""
        live = _true(settings.get("live"), True)
        asked = {key: _true(settings.get(f"return_{key}")) for key in (
            "credits", "msgs_credits_used", "msgs_success_count", "msgs_failed_count",
            "entries_success_status", "entries_failed_status")}
        used = sum(parts(text) for *_, text in ok)
        if not ok:
            call.outcome = f"error: {ERRORS['request']}"
            return api_result(ERRORS["request"], {"entries_failed": failed}
                              if asked["entries_failed_status"] else None)
        if live and not self.charge(used):
            return self.fail(call, ERRORS["credit"])
        eventid = self.next_id(FIRST_EVENTID, series="-event")
        for entry, number, sender, text in ok:
            sentid = self.next_id(FIRST_SENTID)
            if live:
                self.accept(number, text, sender, sentid, reference=entry.get("customerid", ""),
                            eventid=eventid)
        info: Row = {"eventid": eventid}
        for asked_for, name, value in (
                ("credits", "credits", f"{self.credits:g}"),
                ("msgs_credits_used", "msgs_credits_used", used if live else 0),
                ("msgs_success_count", "msgs_success", len(ok)),
                ("msgs_failed_count", "msgs_failed", len(failed))):
            if asked[asked_for]:
                info[name] = value
        sections: dict[str, list[Row]] = {}
        if asked["entries_success_status"]:
            sections["entries_success"] = [
                {"numto": e.get("numto", ""), "customerid": e.get("customerid", "")}
                for e, *_ in ok]
        if asked["entries_failed_status"]:
            sections["entries_failed"] = failed
        sections["send_info"] = [info]
        call.outcome = (f"eventid {eventid}: {len(ok)} {'sent' if live else 'checked (live=False)'}"
                        f", {len(failed)} failed, {used} credit(s)")
        return api_result(sections=sections)

    def _feed(self, call: Call, root: str, default_cols: str
              ) -> tuple[int, int, list[str], str] | str:
        """A feed's settings: (since, max_recs, columns, strftime format), or the error answer."""
        doc, settings, error = _settings(call.text("Data"), root)
        if doc is None:
            return self.fail(call, error)
        try:
            since = int(settings["id"])
            max_recs = int(settings.get("max_recs") or MAX_RECS)
        except (KeyError, ValueError):
            return self.fail(call, "id is mandatory, and id and max_recs are numbers")
        if not 1 <= max_recs <= MAX_RECS:
            return self.fail(call, f"max_recs must be between 1 and {MAX_RECS}")
        cols = [c.strip().lower() for c in (settings.get("cols_returned") or default_cols
                                            ).split(",") if c.strip()]
        py_format = (settings.get("date_format") or "dd/MMM/yyyy HH:mm:ss")
        for ours, python in (("yyyy", "%Y"), ("MMM", "%b"), ("MM", "%m"), ("dd", "%d"),
                             ("HH", "%H"), ("mm", "%M"), ("ss", "%S")):
            py_format = py_format.replace(ours, python)
        return since, max_recs, cols, py_format

    def replies(self, call: Call) -> str:
        """Replies after the <id> (a replyid) given, oldest first, at most max_recs."""
        read = self._feed(call, "reply", _DEFAULT_REPLY_COLS)
        if isinstance(read, str):
            return read
        since, max_recs, cols, py_format = read
        out = [{k: v.strftime(py_format) if isinstance(v, datetime) else v
                for k, v in row.items() if k == "replyid" or k in cols}
               for row in self.inbound if row["replyid"] > since][:max_recs]
        call.outcome = f"{len(out)} reply(ies) after {since}"
        return api_result(sections={"data": out})

    def sent(self, call: Call) -> str:
        """Status changes after the <id> given (mandatory), oldest first, at most max_recs."""
        read = self._feed(call, "sent", _DEFAULT_COLS)
        if isinstance(read, str):
            return read
        since, max_recs, cols, py_format = read
        rows = []
        for m in self.messages():
            status = STATUS_WORDS[self.state.query(m)]
            last = self.changes.get(m.id)
            if last is None or last[1] != status:
                self.changes[m.id] = last = (next(self.change_ids), status)
            if last[0] > since:
                rows.append((last[0], m, status))
        rows.sort(key=lambda r: r[0])
        out = []
        for changeid, m, status in rows[:max_recs]:
            values = {"sentid": m.id, "eventid": m.extra.get("eventid"), "smstype": "SMS",
                      "numto": m.to.lstrip("+"), "data": m.text, "customerid": m.reference,
                      "status": status,
                      "statusdate": datetime.fromtimestamp(m.at, UTC).strftime(py_format)}
            out.append({"changeid": changeid, **{k: v for k, v in values.items() if k in cols}})
        call.outcome = f"{len(out)} status change(s) after {since}"
        return api_result(sections={"data": out})
