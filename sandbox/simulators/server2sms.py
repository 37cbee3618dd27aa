"""server2sms (a white label of ASPSMS's JSON API) as its document describes it, with the
ASPSMS status codes (docs/gateways.md, server2sms).

POST /<Method> with a JSON object; every answer is HTTP 200 with `{"StatusCode": "1",
"StatusInfo": "OK", ...}` (strings), errors being other StatusCodes; a body that is not a JSON
object gets HTTP 400. A send returns no id: each recipient is `number[:TransactionReferenceNumber]`,
the key of InquireDeliveryNotifications. Where the document is silent the sandbox is strict:
one number that is not valid refuses the whole request (14), an originator is 11 letters or
digits or a number unlocked first (SendOriginatorUnlockCode texts the code to it, then
UnlockOriginator), and SendTextSMS takes Recipients as a list only.

A send's notification URLs are called (GET) once the text's fate is final: the delivery URL
for a delivered text, the non-delivery URL otherwise, their tags (<TRN>, <DST>, <RSN>,
<RCPNT>, the <SCTS...> and <DSCTS...> times) replaced as the document lists them.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote

from starlette.routing import Route

from ..parts import parts
from ..simulator import Call, Simulator, json_answer, json_call
from ..state import Message, Outgoing, phone, routable

MAX_TEXT = 603  # what public ASPSMS clients send at most; the document gives no maximum
MAX_URL = 200  # "the length of one URL is limited to 200 chars"
STATUS: dict[str, str] = {
    "1": "OK", "2": "Connect failed.", "3": "Authorization failed.",
    "5": "Not enough credits available. Please recharge your account to proceed.",
    "6": "Time out error.", "7": "Transmission error. Please try it again.",
    "8": "Invalid UserKey. Please check the spelling of the UserKey.", "9": "Invalid Password.",
    "10": "Invalid originator. A maximum of 11 characters is allowed for alphanumeric originators.",
    "11": "Invalid message data. Please verify the data.",
    "14": "Invalid MCC. Please check the number.", "15": "Invalid MNC. Please check the number.",
    "17": "Invalid URL buffered message notification string.",
    "18": "Invalid URL delivery notification string.",
    "19": "Invalid URL non delivery notification string.",
    "20": "Missing a recipient. Please specify at least one recipient.",
    "22": "Invalid deferred delivery time. Please check the format.",
    "23": "Missing transaction reference number.", "24": "Service temporarely not available.",
    "25": "User access denied.", "28": "No Originator Restrictions.",
    "30": "Originator Not Authorized.", "31": "Originator already authorized",
    "37": "Security Token not authorized", "38": "Security Token not found",
}
DELIVERY = {"sent": ("1", "Buffered"), "delivered": ("0", "Delivered"),
            "failed": ("2", "Not delivered"), "expired": ("2", "Not delivered")}
REASONS = {"0": "000", "2": "108"}  # the reason code with a delivered and an undelivered text
NOTIFY = {"0": "URLDeliveryNotification", "2": "URLNonDeliveryNotification"}
_ALPHA = re.compile(r"^[A-Za-z0-9]{1,11}$")
_NUMERIC = re.compile(r"^\+?\d{1,15}$")
NO_AUTH = ("VersionInfo", "ListAllStatusCodes")
Answer = dict[str, Any]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tags(message: Message, code: str, notified: float) -> dict[str, str]:
    """What the notification URL tags stand for, for one text."""
    from zoneinfo import ZoneInfo

    cet = ZoneInfo("Europe/Zurich")
    sent, done = (datetime.fromtimestamp(t, UTC) for t in (message.at, notified))
    return {
        "RCPNT": message.to.lstrip("+"), "TRN": message.reference, "DST": code,
        "RSN": REASONS.get(code, ""), "SCTSUTC": _iso(message.at), "DSCTSUTC": _iso(notified),
        "SCTSCET": sent.astimezone(cet).isoformat(timespec="seconds"),
        "DSCTSCET": done.astimezone(cet).isoformat(timespec="seconds"),
        "SCTS": sent.strftime("%d%m%Y%H%M%S"), "DSCTS": done.strftime("%d%m%Y%H%M%S"),
    }


class Server2Sms(Simulator[Answer]):
    """POST /<Method> with a JSON body, as json.server2sms.com."""

    scheme = "server2sms"
    error_codes: ClassVar[dict[str, str]] = {
        "auth": "3", "credit": "5", "recipient": "14", "request": "11", "unavailable": "24",
        "sender": "30",
    }
    operations: ClassVar[dict[str, str]] = {
        "SendTextSMS": "send_text_sms", "SendSimpleTextSMS": "send_simple_text_sms",
        "SendTokenSMS": "send_token_sms", "VerifyToken": "verify_token",
        "CheckCredits": "check_credits",
        "InquireDeliveryNotifications": "inquire_delivery_notifications",
        "SendOriginatorUnlockCode": "send_originator_unlock_code",
        "UnlockOriginator": "unlock_originator",
        "CheckOriginatorAuthorization": "check_originator_authorization",
        "CreateVoucher": "create_voucher", "GetVoucherTransactions": "get_voucher_transactions",
        "RedeemVoucher": "redeem_voucher", "VersionInfo": "version_info",
        "ListAllStatusCodes": "list_all_status_codes",
    }

    def reset(self) -> None:
        self.unlock_codes: dict[str, str] = {}  # originator -> the code texted to it
        self.unlocked: set[str] = set()
        self.tokens: dict[tuple[str | None, str], str] = {}
        self.vouchers: dict[str, dict[str, Any]] = {}
        self.to_notify: list[Message] = []  # texts with notification URLs, not called yet

    def routes(self) -> list[Route]:
        return [self.route(f"/{name}", partial(json_call, operation=name), json_answer)
                for name in self.operations]

    def fail(self, call: Call, code: str, detail: str = "") -> Answer:
        return self.status(call, code, detail)

    def status(self, call: Call, code: str = "1", info: str = "", **extra: Any) -> Answer:
        call.outcome = call.outcome or f"StatusCode {code}"
        return {**extra, "StatusCode": code, "StatusInfo": info or STATUS.get(code, "Error")}

    def describe(self, call: Call) -> None:
        raw = call.args.get("Recipients")
        items = raw if isinstance(raw, list) else re.split(r"[;,]", str(raw or ""))
        call.recipients = [str(r).partition(":")[0].strip() for r in items if str(r).strip()]

    def refuse(self, call: Call) -> Answer | None:
        if call.operation in NO_AUTH:
            return None
        if not call.text("UserName"):
            return self.fail(call, "8")
        if not self.state.login(call.text("UserName"), call.text("Password")):
            return self.fail(call, "3")
        return None

    # Sending.
    def send_text_sms(self, call: Call) -> Answer:
        recipients = call.args.get("Recipients")
        if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
            return self.fail(call, "20")
        return self._send(call, recipients, call.args.get("MessageText"))

    def send_simple_text_sms(self, call: Call) -> Answer:
        """Recipients as the document's string (`;`-separated) or, as clients send it, a list."""
        recipients = call.args.get("Recipients")
        if isinstance(recipients, str):
            recipients = [r for r in re.split(r"[;,]", recipients) if r.strip()]
        if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
            return self.fail(call, "20")
        return self._send(call, recipients, call.args.get("MessageText"))

    def send_token_sms(self, call: Call) -> Answer:
        """A verification code texted in MessageData's <VERIFICATIONCODE>, checked later."""
        recipients = [r for r in re.split(r"[;,]", call.text("Recipients")) if r.strip()]
        code = call.text("VerificationCode") or f"{secrets.randbelow(10**6):06d}"
        data = call.args.get("MessageData")
        answer = self._send(call, recipients, data.replace("<VERIFICATIONCODE>", code)
                            if isinstance(data, str) else data)
        if answer["StatusCode"] == "1":
            for number in recipients:
                self.tokens[(phone(number.partition(":")[0]), call.text("TokenReference"))] = code
        return answer

    def _send(self, call: Call, raw: list[str], text: object) -> Answer:
        pairs = [r.strip().partition(":")[::2] for r in raw]
        if not pairs:
            return self.fail(call, "20")
        if (problem := self._originator_problem(call.text("Originator"))) is not None:
            return self.fail(call, problem)
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            return self.fail(call, "11")
        if (problem := self._options_problem(call)) is not None:
            return self.fail(call, problem)
        numbers = [(phone(n), ref) for n, ref in pairs]
        if not all(n and routable(n) for n, _ in numbers):  # one bad number refuses them all
            return self.fail(call, "14")
        each = parts(text)
        if not self.charge(each * len(numbers)):
            return self.fail(call, "5")
        urls = {key: call.text(key) for key in NOTIFY.values() if call.text(key)}
        for number, ref in numbers:
            ref = ref or f"s{self.next_id()}"
            message = self.accept(number or "", text, call.text("Originator"), ref,
                                  reference=ref, notify=urls)
            if urls:
                self.to_notify.append(message)
        call.outcome = f"StatusCode 1: {len(numbers)} sent, {each} part(s) each"
        return self.status(call)

    def _originator_problem(self, originator: str) -> str | None:
        """None for an empty or valid originator; 10 for a malformed one, 30 for a number
        not unlocked."""
        if not originator or _ALPHA.match(originator) and not originator.isdigit():
            return None
        if not _NUMERIC.match(originator):
            return "10"
        return None if originator.lstrip("+") in self.unlocked else "30"

    @staticmethod
    def _options_problem(call: Call) -> str | None:
        deferred = call.text("DeferredDeliveryTime")
        if deferred:
            try:
                datetime.strptime(deferred, "%d%m%Y%H%M%S")
            except ValueError:
                return "22"
        for key, code in (("URLBufferedMessageNotification", "17"),
                          ("URLDeliveryNotification", "18"),
                          ("URLNonDeliveryNotification", "19")):
            if len(call.text(key)) > MAX_URL:
                return code
        return None

    def due(self) -> list[Outgoing]:
        """The notification URL of each text whose fate became final, once."""
        out, waiting = [], []
        for m in self.to_notify:
            code, _ = DELIVERY[m.status(self.state.deliver_after)]
            if code not in NOTIFY:
                waiting.append(m)
                continue
            url = m.extra["notify"].get(NOTIFY[code])
            if url:
                for tag, value in _tags(m, code, m.at + self.state.deliver_after).items():
                    url = url.replace(f"<{tag}>", quote(value, safe=""))
                out.append(Outgoing(self.scheme, "delivery notification", "GET", url))
        self.to_notify = waiting
        return out

    # Looking up.
    def check_credits(self, call: Call) -> Answer:
        value = f"{self.credits:g}"
        call.outcome = f"StatusCode 1: {value} credits"
        return self.status(call, Credits=value)

    def inquire_delivery_notifications(self, call: Call) -> Answer:
        """TransactionReferenceNumbers: one string, references separated by `;`."""
        refs = [r.strip() for r in call.text("TransactionReferenceNumbers").split(";")
                if r.strip()]
        if not refs:
            return self.fail(call, "23")
        call.recipients = refs
        return self.status(call, DeliveryNotifications=[
            self._notification(ref, self.messages(reference=ref)) for ref in refs])

    def _notification(self, ref: str, found: list[Message]) -> Answer:
        if not found:
            return {"TransactionReferenceNumber": ref, "DeliveryStatus": "-1",
                    "DeliveryStatusDescription": "Not yet submitted or rejected",
                    "SubmissionDate": "", "NotificationDate": "", "Reasoncode": "",
                    "ReasoncodeDescription": ""}
        m = found[-1]
        code, description = DELIVERY[self.state.query(m)]
        return {"TransactionReferenceNumber": ref, "DeliveryStatus": code,
                "DeliveryStatusDescription": description, "SubmissionDate": _iso(m.at),
                "NotificationDate": _iso(m.at + self.state.deliver_after) if code != "1" else "",
                "Reasoncode": "000" if code == "0" else "108" if code == "2" else "",
                "ReasoncodeDescription": "Delivery fail" if code == "2" else ""}

    def verify_token(self, call: Call) -> Answer:
        expected = self.tokens.get((phone(call.text("PhoneNumber")), call.text("TokenReference")))
        if expected is None:
            return self.fail(call, "38")
        return self.status(call, "1" if call.text("VerificationCode") == expected else "37")

    # Originators.
    def send_originator_unlock_code(self, call: Call) -> Answer:
        originator = call.text("Originator").lstrip("+")
        number = phone(originator) if originator.isdigit() else None
        if not originator.isdigit():
            return self.status(call, "28" if _ALPHA.match(originator) else "10")
        if number is None:
            return self.fail(call, "10")
        code = self.unlock_codes[originator] = f"{secrets.randbelow(10**6):06d}"
        self.accept(number, f"Your server2sms originator unlock code: {code}", "server2sms",
                    f"u{self.next_id()}")
        return self.status(call)

    def unlock_originator(self, call: Call) -> Answer:
        originator = call.text("Originator").lstrip("+")
        if not call.text("UnlockCode") or self.unlock_codes.get(originator) != call.text(
                "UnlockCode"):
            return self.fail(call, "30")
        self.unlocked.add(originator)
        return self.status(call)

    def check_originator_authorization(self, call: Call) -> Answer:
        originator = call.text("Originator")
        if _ALPHA.match(originator) and not originator.isdigit():
            return self.status(call, "28")
        if not _NUMERIC.match(originator):
            return self.fail(call, "10")
        return self.status(call, "31" if originator.lstrip("+") in self.unlocked else "30")

    # Vouchers.
    def create_voucher(self, call: Call) -> Answer:
        try:
            count = int(call.args.get("NumberOfVouchers") or 1)
            amount = float(call.args.get("AmountCreditsPerVoucher") or 0)
        except (TypeError, ValueError):
            return self.fail(call, "11")
        if count < 1 or amount <= 0:
            return self.fail(call, "11")
        if not self.charge(count * amount):
            return self.fail(call, "5")
        made = [secrets.token_hex(5).upper() for _ in range(count)]
        for code in made:
            self.vouchers[code] = {"VoucherCode": code, "Credits": f"{amount:g}",
                                   "Remarks": call.text("Remarks"), "Redeemed": False}
        return self.status(call, VoucherCodes=made)

    def get_voucher_transactions(self, call: Call) -> Answer:
        return self.status(call, vouchers=list(self.vouchers.values()))

    def redeem_voucher(self, call: Call) -> Answer:
        voucher = self.vouchers.get(call.text("RedeemCode"))
        if voucher is None or voucher["Redeemed"]:
            return self.fail(call, "11", "Invalid voucher code.")
        voucher["Redeemed"] = True
        self.state.balances[self.scheme] += float(voucher["Credits"])
        return self.status(call)

    # Without credentials.
    def version_info(self, call: Call) -> Answer:
        return self.status(call, Version="sms-notify sandbox 1.0")

    def list_all_status_codes(self, call: Call) -> Answer:
        return self.status(call, StatusCodes=[{"StatusCode": k, "StatusInfo": v}
                                              for k, v in STATUS.items()])
