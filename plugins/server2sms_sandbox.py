"""server2sms (ASPSMS JSON API) simulator for `sms-notify sandbox`.

Every method takes a JSON body and answers HTTP 200 with `{"StatusCode": "1", "StatusInfo":
"OK", ...}` (strings); errors are other StatusCodes with the ASPSMS texts. A send returns no
id: each recipient is `number[:TransactionReferenceNumber]`, the key of
InquireDeliveryNotifications. A request whose body is not JSON gets HTTP 400.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sms_notify.sandbox import Message, State, exchange, injected
from sms_notify.text import count_parts

SCHEME = "server2sms"
MAX_TEXT = 603
STATUS: dict[str, str] = {
    "1": "OK", "2": "Connect failed.", "3": "Authorization failed.",
    "5": "Not enough credits available. Please recharge your account to proceed.",
    "6": "Time out error.", "7": "Transmission error. Please try it again.",
    "8": "Invalid UserKey. Please check the spelling of the UserKey.", "9": "Invalid Password.",
    "10": "Invalid originator. A maximum of 11 characters is allowed for alphanumeric originators.",
    "11": "Invalid message data. Please verify the data.",
    "14": "Invalid MCC. Please check the number.", "15": "Invalid MNC. Please check the number.",
    "20": "Missing a recipient. Please specify at least one recipient.",
    "22": "Invalid deferred delivery time. Please check the format.",
    "23": "Missing transaction reference number.", "24": "Service temporarely not available.",
    "25": "User access denied.", "28": "No Originator Restrictions.",
    "30": "Originator Not Authorized.", "31": "Originator already authorized",
    "37": "Security Token not authorized", "38": "Security Token not found",
}
DELIVERY = {"sent": ("1", "Buffered"), "delivered": ("0", "Delivered"),
            "failed": ("2", "Not delivered")}
_ORIGINATOR = re.compile(r"^(\+?\d{1,15}|[A-Za-z0-9 .\-_&]{1,11})$")

Handler = Callable[[Request, dict[str, Any]], Awaitable[Response] | Response]


def answer(code: str = "1", info: str | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({**extra, "StatusCode": code,
                         "StatusInfo": info if info is not None else STATUS.get(code, "Error")})


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Server2SmsSimulator:
    """POST /<Method> with a JSON body, as json.server2sms.com."""

    error_codes: ClassVar[dict[str, str]] = {"auth": "3", "credit": "5", "recipient": "14", "request": "11",
                   "unavailable": "24"}

    def routes(self, state: State) -> list[Route]:
        def method(name: str, handler: Handler, auth: bool = True) -> Route:
            async def endpoint(request: Request) -> Response:
                ex = exchange(request)
                ex.operation = name
                try:
                    body = json.loads(await request.body() or b"{}")
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    ex.outcome = "HTTP 400 (body is not a JSON object)"
                    return JSONResponse({"Message": "The request is invalid."}, status_code=400)
                if (code := injected(request)) is not None:
                    ex.outcome = f"StatusCode {code}"
                    return answer(code)
                if auth:
                    if not body.get("UserName"):
                        ex.outcome = "StatusCode 8"
                        return answer("8")
                    if not state.login(str(body.get("UserName")), str(body.get("Password", ""))):
                        ex.outcome = "StatusCode 3"
                        return answer("3")
                result = handler(request, body)
                response = await result if isinstance(result, Awaitable) else result
                if not ex.outcome:
                    ex.outcome = f"StatusCode {json.loads(bytes(response.body)).get('StatusCode')}"
                return response

            return Route(f"/{name}", endpoint, methods=["POST"])

        def send(request: Request, body: dict[str, Any], text_key: str = "MessageText") -> Response:
            ex = exchange(request)
            raw = body.get("Recipients") or []
            if isinstance(raw, str):
                raw = [r for r in re.split(r"[;,]", raw) if r.strip()]
            if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
                return answer("20")
            pairs = [(r.strip().partition(":")[0], r.strip().partition(":")[2]) for r in raw]
            ex.recipients = [n for n, _ in pairs]
            if not pairs:
                return answer("20")
            originator = str(body.get("Originator") or "")
            if originator and not _ORIGINATOR.match(originator):
                return answer("10")
            text = body.get(text_key)
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
                return answer("11")
            if text_key == "MessageData":
                code = str(body.get("VerificationCode") or f"{secrets.randbelow(10**6):06d}")
                tokens = state.data(SCHEME).setdefault("tokens", {})
                for number, _ in pairs:
                    tokens[(state.phone(number), str(body.get("TokenReference", "")))] = code
                text = text.replace("<VERIFICATIONCODE>", code)
            numbers = [(state.phone(n), ref) for n, ref in pairs]
            ex.recipients = [n or raw_n for (n, _), (raw_n, _) in zip(numbers, pairs, strict=True)]
            good = [(n, ref) for n, ref in numbers if n and state.routable(n)]
            if not good:
                return answer("14")
            parts = count_parts(text).parts
            if not state.charge(SCHEME, parts * len(good)):
                return answer("5")
            for number, ref in good:
                ref = ref or f"s{state.next_id(SCHEME)}"
                state.accept(SCHEME, number, text, originator or "server2sms", ref, reference=ref)
            rejected = [(n, ref) for n, ref in numbers if (n, ref) not in good]
            state.data(SCHEME).setdefault("rejected", {}).update({ref: n for n, ref in rejected if ref})
            ex.outcome = f"StatusCode 1: {len(good)} sent, {parts} part(s) each" + (
                f", {len(rejected)} rejected" if rejected else "")
            return answer("1")

        def notification(ref: str, found: list[Message]) -> dict[str, Any]:
            if not found:
                rejected = ref in state.data(SCHEME).get("rejected", {})
                return {"TransactionReferenceNumber": ref,
                        "DeliveryStatus": "2" if rejected else "-1",
                        "DeliveryStatusDescription": "Not delivered" if rejected
                        else "Not yet submitted or rejected",
                        "SubmissionDate": "", "NotificationDate": "",
                        "Reasoncode": "206" if rejected else "",
                        "ReasoncodeDescription": "Invalid destination address" if rejected else ""}
            m = found[-1]
            code, description = DELIVERY[state.query(m)]
            return {"TransactionReferenceNumber": ref, "DeliveryStatus": code,
                    "DeliveryStatusDescription": description, "SubmissionDate": _iso(m.at),
                    "NotificationDate": _iso(m.at + state.deliver_after) if code != "1" else "",
                    "Reasoncode": "000" if code == "0" else "108" if code == "2" else "",
                    "ReasoncodeDescription": "Delivery fail" if code == "2" else ""}

        def inquire(request: Request, body: dict[str, Any]) -> Response:
            raw = body.get("TransactionReferenceNumbers") or ""
            refs = raw if isinstance(raw, list) else re.split(r"[;,]", str(raw))
            refs = [str(r).strip() for r in refs if str(r).strip()]
            if not refs:
                return answer("23")
            exchange(request).recipients = refs
            return answer("1", DeliveryNotifications=[
                notification(ref, state.messages(SCHEME, reference=ref)) for ref in refs])

        def credits(request: Request, body: dict[str, Any]) -> Response:
            value = f"{state.credits(SCHEME):g}"
            exchange(request).outcome = f"StatusCode 1: {value} credits"
            return answer("1", Credits=value)

        def verify(request: Request, body: dict[str, Any]) -> Response:
            key = (state.phone(str(body.get("PhoneNumber", ""))), str(body.get("TokenReference", "")))
            expected = state.data(SCHEME).get("tokens", {}).get(key)
            if expected is None:
                return answer("38")
            return answer("1" if str(body.get("VerificationCode")) == expected else "37")

        def originator_check(request: Request, body: dict[str, Any]) -> Response:
            originator = str(body.get("Originator") or "")
            if not _ORIGINATOR.match(originator):
                return answer("10")
            return answer("31" if originator.lstrip("+").isdigit() else "28")

        def create_voucher(request: Request, body: dict[str, Any]) -> Response:
            try:
                count = int(body.get("NumberOfVouchers") or 1)
                amount = float(body.get("AmountCreditsPerVoucher") or 0)
            except (TypeError, ValueError):
                return answer("11")
            if count < 1 or amount <= 0:
                return answer("11")
            if not state.charge(SCHEME, count * amount):
                return answer("5")
            vouchers = state.data(SCHEME).setdefault("vouchers", {})
            made = []
            for _ in range(count):
                code = secrets.token_hex(5).upper()
                vouchers[code] = {"VoucherCode": code, "Credits": f"{amount:g}",
                                  "Remarks": str(body.get("Remarks") or ""), "Redeemed": False}
                made.append(code)
            return answer("1", VoucherCodes=made)

        def voucher_list(request: Request, body: dict[str, Any]) -> Response:
            return answer("1", vouchers=list(state.data(SCHEME).get("vouchers", {}).values()))

        def redeem(request: Request, body: dict[str, Any]) -> Response:
            voucher = state.data(SCHEME).get("vouchers", {}).get(str(body.get("RedeemCode", "")))
            if voucher is None or voucher["Redeemed"]:
                return answer("11", "Invalid voucher code.")
            voucher["Redeemed"] = True
            state.balances[SCHEME] += float(voucher["Credits"])
            return answer("1")

        return [
            method("SendTextSMS", send),
            method("SendSimpleTextSMS", send),
            method("SendTokenSMS", lambda r, b: send(r, b, "MessageData")),
            method("VerifyToken", verify),
            method("CheckCredits", credits),
            method("InquireDeliveryNotifications", inquire),
            method("SendOriginatorUnlockCode", originator_check),
            method("UnlockOriginator", lambda r, b: answer("1") if b.get("UnlockCode")
                   else answer("11", "Missing unlock code.")),
            method("CheckOriginatorAuthorization", originator_check),
            method("CreateVoucher", create_voucher),
            method("GetVoucherTransactions", voucher_list),
            method("RedeemVoucher", redeem),
            method("VersionInfo", lambda r, b: answer("1", Version="sms-notify sandbox 1.0"),
                   auth=False),
            method("ListAllStatusCodes", lambda r, b: answer("1", StatusCodes=[
                {"StatusCode": k, "StatusInfo": v} for k, v in STATUS.items()]), auth=False),
        ]


def simulator() -> Server2SmsSimulator:
    return Server2SmsSimulator()
