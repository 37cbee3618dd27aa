"""MyMobileAPI (legacy SMSPortal) simulator for `sms-notify sandbox`: /api5/api.asmx, SOAP 1.1/1.2,
namespace http://www.mymobileapi.com/api5, elements Username / Password / Data.

`*_STR` results are the `<api_result>` document as an escaped string in `<OpResult>`. A send
takes the `<senddata>` document (one `<entries>` per message); rejected entries come back in
`<entries_failed>` with the documented reasons (`numto invalid`, `senderid invalid`, `data1
invalid`, `type invalid`) when the request asks for them; with `live` False the send is checked
and answered but not sent. `default_date` and `default_time`, mandatory in the document, are
required. Whole-call errors are `<call_result><result>False</result><error>`;
their texts are not public, so the sandbox's are its own (see ERRORS).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sms_notify.sandbox import Exchange, State, exchange, injected
from sms_notify.sandbox_soap import Call, XmlRefused, parse_xml, read_call, result
from sms_notify.text import count_parts

SCHEME = "mymobileapi"
NAMESPACE = "http://www.mymobileapi.com/api5"
OPERATIONS = {"Send_STR_STR", "Credits_STR", "Sent_STR_STR"}
ERRORS = {
    "auth": "Invalid username or password",
    "credit": "Insufficient credits",
    "request": "No data to send",
    "unavailable": "Service temporarily unavailable, please try again later",
}
_DATE = re.compile(r"^\d{1,2}/[A-Za-z]{3}/\d{4}$")  # dd/MMM/yyyy, e.g. 13/apr/2009
_TIME = re.compile(r"^\d{1,2}:\d{2}$")  # HH:mm
MAX_RECS = 100
_SENDER = re.compile(r"^[A-Za-z0-9 ]{1,11}$|^\+?\d{1,15}$")
_DEFAULT_COLS = "changeid,sentid,eventid,smstype,numto,data,customerid,status,statusdate"
STATUS_WORDS = {"sent": "UNKNOWN", "delivered": "DELIVRD", "failed": "UNDELIV"}


def _true(value: str | None, default: bool = False) -> bool:
    return default if value in (None, "") else value.strip().lower() == "true"


def api_result(error: str = "", sections: Mapping[str, list[dict[str, Any]]] | None = None
               ) -> str:
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


class MyMobileApiSimulator:
    """Send_STR_STR, Credits_STR and Sent_STR_STR of the api5 web service."""

    error_codes: ClassVar[dict[str, str]] = ERRORS

    def routes(self, state: State) -> list[Route]:
        def send(ex: Exchange, data: str) -> str:
            try:
                doc = parse_xml(data)
            except XmlRefused as exc:
                return api_result(f"Invalid XML data: {exc}")
            if doc.tag != "senddata":
                return api_result("Invalid XML data: expected <senddata>")
            settings = {c.tag: (c.text or "").strip() for c in doc.findall("settings/*")
                        if isinstance(c.tag, str)}
            live = _true(settings.get("live"), True)
            # The document marks both mandatory.
            if not _DATE.match(settings.get("default_date", "")) \
                    or not _TIME.match(settings.get("default_time", "")):
                return api_result("default_date (dd/MMM/yyyy) and default_time (HH:mm) are "
                                  "mandatory")
            entries = [{c.tag: (c.text or "") for c in e if isinstance(c.tag, str)}
                       for e in doc.findall("entries")]
            ex.recipients = [e.get("numto", "").strip() for e in entries]
            ok: list[tuple[dict[str, str], str, str, str]] = []
            failed: list[dict[str, str]] = []
            for entry in entries:
                number = state.phone(entry.get("numto", ""), "ZA")
                sender = (entry.get("senderid") or settings.get("default_senderid") or "").strip()
                text = entry.get("data1") or settings.get("default_data1") or ""
                kind = (entry.get("type") or settings.get("default_type") or "SMS").strip()
                reason = ("numto invalid" if not number or not state.routable(number)
                          else "senderid invalid" if sender and not _SENDER.match(sender)
                          else "type invalid" if kind.upper() != "SMS"
                          else "data1 invalid" if not text.strip() else "")
                if reason:
                    failed.append({"numto": entry.get("numto", ""),
                                   "customerid": entry.get("customerid", ""), "reason": reason})
                else:
                    ok.append((entry, number or "", sender or "Repliable", text))
            used = sum(count_parts(text).parts for _, _, _, text in ok)
            if not ok:
                return api_result("No data to send", {"entries_failed": failed}
                                  if _true(settings.get("return_entries_failed_status")) else None)
            if live and not state.charge(SCHEME, used):
                return api_result(ERRORS["credit"])
            eventid = state.next_id(SCHEME + "-event", 27105067)
            for entry, number, sender, text in ok:
                sentid = str(state.next_id(SCHEME, 880000001))
                if live:
                    state.accept(SCHEME, number, text, sender, sentid,
                                 reference=entry.get("customerid", ""), eventid=str(eventid))
            info: dict[str, Any] = {"eventid": eventid}
            if _true(settings.get("return_credits")):
                info["credits"] = f"{state.credits(SCHEME):g}"
            if _true(settings.get("return_msgs_credits_used")):
                info["msgs_credits_used"] = used if live else 0
            if _true(settings.get("return_msgs_success_count")):
                info["msgs_success"] = len(ok)
            if _true(settings.get("return_msgs_failed_count")):
                info["msgs_failed"] = len(failed)
            sections: dict[str, list[dict[str, Any]]] = {}
            if _true(settings.get("return_entries_success_status")):
                sections["entries_success"] = [
                    {"numto": e.get("numto", ""), "customerid": e.get("customerid", "")}
                    for e, *_ in ok]
            if _true(settings.get("return_entries_failed_status")):
                sections["entries_failed"] = failed
            sections["send_info"] = [info]
            ex.outcome = (f"eventid {eventid}: {len(ok)} {'sent' if live else 'checked (live=False)'}"
                          f", {len(failed)} failed, {used} credit(s)")
            return api_result(sections=sections)

        def sent(ex: Exchange, data: str) -> str:
            try:
                doc = parse_xml(data) if data.strip() else etree.Element("sent")
            except XmlRefused as exc:
                return api_result(f"Invalid XML data: {exc}")
            settings = {c.tag: (c.text or "").strip() for c in doc.findall("settings/*")
                        if isinstance(c.tag, str)}
            try:
                since = int(settings.get("id") or 0)
                max_recs = int(settings.get("max_recs") or MAX_RECS)
            except ValueError:
                return api_result("id and max_recs must be numbers")
            if not 1 <= max_recs <= MAX_RECS:
                return api_result(f"max_recs must be between 1 and {MAX_RECS}")
            cols = [c.strip().lower() for c in (settings.get("cols_returned") or _DEFAULT_COLS
                                                ).split(",") if c.strip()]
            date_format = settings.get("date_format") or "yyyyMMddHHmmss"
            py_format = (date_format.replace("yyyy", "%Y").replace("MM", "%m")
                         .replace("dd", "%d").replace("HH", "%H").replace("mm", "%M")
                         .replace("ss", "%S"))
            changes = state.data(SCHEME).setdefault("changes", {})
            rows = []
            for m in state.messages(SCHEME):
                status = STATUS_WORDS[state.query(m)]
                last = changes.get(m.id)
                if last is None or last[1] != status:
                    changes[m.id] = last = (state.next_id(SCHEME + "-change"), status)
                if last[0] > since:
                    rows.append((last[0], m, status))
            rows.sort(key=lambda r: r[0])
            out = []
            for changeid, m, status in rows[:max_recs]:
                values = {"changeid": changeid, "sentid": m.id, "eventid": m.extra.get("eventid"),
                          "smstype": "SMS", "numto": m.to.lstrip("+"), "data": m.text,
                          "customerid": m.reference, "status": status,
                          "statusdate": datetime.fromtimestamp(m.at, UTC)
                          .strftime(py_format)}
                out.append({"changeid": changeid,
                            **{k: v for k, v in values.items() if k in cols and k != "changeid"}})
            ex.outcome = f"{len(out)} status change(s) after {since}"
            return api_result(sections={"data": out})

        async def service(request: Request) -> Response:
            ex = exchange(request)
            call = await read_call(request, NAMESPACE, OPERATIONS)
            if isinstance(call, Response):
                return call
            value = operate(ex, call, injected(request))
            if not ex.outcome:
                match = re.search(r"<error>(.*?)</error>", value)
                ex.outcome = f"error: {match.group(1)}" if match else "ok"
            return result(call, NAMESPACE, value)

        def operate(ex: Exchange, call: Call, code: str | None) -> str:
            if code is not None:
                return api_result(code)
            if not call.arg("Username") or not call.arg("Password") \
                    or not state.login(call.arg("Username"), call.arg("Password")):
                return api_result(ERRORS["auth"])
            if call.operation == "Credits_STR":
                credits = f"{state.credits(SCHEME):g}"
                ex.outcome = f"{credits} credits"
                return api_result(sections={"data": [{"credits": credits}]})
            if call.operation == "Sent_STR_STR":
                return sent(ex, call.arg("Data"))
            return send(ex, call.arg("Data"))

        return [Route("/api5/api.asmx", service, methods=["POST"])]


def simulator() -> MyMobileApiSimulator:
    return MyMobileApiSimulator()
