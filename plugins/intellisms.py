"""IntelliSoftware / IntelliSMS (intellisoftware.co.uk): HTTP form interface, user+password.

A send answers one line, `ID:...` or `ERR:CODE`, for a single recipient or a whole-submission
failure, and one line per recipient, `number,ID:...` or `number,ERR:CODE`, otherwise. The gateway
may reformat and dedupe the numbers it echoes, so lines are matched back to recipients by number.
Delivery reports are only pushed to a URL set in the account, so there is no status look-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sms_notify import hookimpl
from sms_notify.errors import Category, ProviderError, refused
from sms_notify.http import request, snippet, unexpected
from sms_notify.model import Account, Balance, Provider, Receipt, Recipient, Submission
from sms_notify.numbers import match_rows, same_number
from sms_notify.text import is_gsm

if TYPE_CHECKING:
    from sms_notify.sandbox import Simulator

SCHEME = "intellisms"
PROVIDER = Provider(
    scheme=SCHEME,
    name="IntelliSoftware",
    base_url="https://www.intellisoftware.co.uk",
    credentials=("user", "password"),
    max_recipients=100,  # "A maximum of 100 numbers can be specified"
    max_segments=10,  # maxconcat's upper bound is undocumented; public clients go up to 10
    unicode=True,  # type=2 with the text as UCS-2 hex
    sender_max_alnum=11,
    sender_max_digits=15,
    capabilities=frozenset({"balance", "login"}),
    summary="UK; HTTP form API with username and password; delivery reports are pushed only",
)
SEND_PATH = "/smsgateway/sendmsg.aspx"
BALANCE_PATH = "/smsgateway/getbalance.aspx"

C = Category
# Every documented code (docs/gateways.md, IntelliSoftware).
ERRORS: dict[str, tuple[Category, str]] = {
    "LOGIN_INVALID": (C.AUTH, "Username or Password is invalid"),
    "AUTH_PARAMETER_MISSING": (C.AUTH, "Authentication parameter missing"),
    "AUTH_PARAMETER_INVALID": (C.AUTH, "Authentication parameter invalid"),
    "NO_USERNAME": (C.AUTH, "A mandatory parameter is missing (username)"),
    "NO_PASSWORD": (C.AUTH, "A mandatory parameter is missing (password)"),
    "INSUFFICIENT_CREDIT": (C.CREDIT, "Insufficient credit balance to fulfil request"),
    "INVALID_NUMBER": (C.RECIPIENT, "Unable to route to the destination phone number"),
    "NO_TO": (C.REQUEST, "A mandatory parameter is missing (to)"),
    "NO_TEXT": (C.REQUEST, "A mandatory parameter is missing (text)"),
    "NO_MSGID": (C.REQUEST, "A mandatory parameter is missing (msgid)"),
    "INVALID_REQUEST": (C.REQUEST, "The request was not valid"),
    "PARAMETER_MISSING": (C.REQUEST, "A mandatory parameter is missing"),
    "PARAMETER_INVALID": (C.REQUEST, "A parameter is invalid"),
    "TOO_MANY_NUMBERS": (C.REQUEST, "Too many numbers in one request"),
    "MSGID_INVALID": (C.REQUEST, "The message id is invalid"),
    "ACCOUNT_EXISTS": (C.REQUEST, "The account already exists"),
    "CONNECTION_NOT_SECURE": (C.REQUEST, "The request must use https"),
    "DAILY_ALLOWANCE_EXCEEDED": (C.RATE_LIMITED, "The daily allowance has been exceeded"),
    "GATEWAY_ERROR": (C.UNAVAILABLE, "Unable to process request at this time"),
    "INTERNAL_ERROR": (C.UNAVAILABLE, "Unable to process request at this time"),
}

_RESULT = r"(ID:\S+|ERR:[A-Z0-9_]+)"
_SINGLE = re.compile(rf"^{_RESULT}(?:\s.*)?$")
_LINE = re.compile(rf"^\+?(\d+)\s*,\s*{_RESULT}(?:\s.*)?$")
_BALANCE = re.compile(r"^BALANCE:\s*(-?\d+(?:\.\d+)?)$")


def error(code: str) -> ProviderError:
    """The category of an `ERR:` code; unknown `NO_...` codes are missing parameters."""
    if code in ERRORS:
        category, text = ERRORS[code]
    elif code.startswith("NO_"):
        category, text = C.REQUEST, "A mandatory parameter is missing"
    else:
        return refused("Unknown error code", code, PROVIDER.name)
    return ProviderError(category, text, code=code, provider=PROVIDER.name)


def _result(value: str) -> tuple[str | None, ProviderError | None]:
    """`ID:x` -> (x, None); `ERR:CODE` -> (None, error)."""
    if value.startswith("ID:"):
        return value[3:], None
    return None, error(value[4:])


def _post(account: Account, path: str, params: dict[str, Any]) -> str:
    form = {"username": account.user, "password": account.password, **params}
    response = request(
        "POST", account.url(PROVIDER, path), data=form, provider=PROVIDER.name,
        timeout=account.timeout,
    )
    return response.text.strip()


def send_params(submission: Submission) -> dict[str, Any]:
    """The form of one send: numbers in international digits without the plus, GSM text as
    `text`, anything else as type 2 with UCS-2 hex."""
    params: dict[str, Any] = {"to": ",".join(r.digits for r in submission.recipients)}
    if submission.sender:
        params["from"] = submission.sender_field
    if is_gsm(submission.text):
        params["text"] = submission.text
    else:
        params["type"] = "2"
        params["hex"] = submission.text.encode("utf-16-be").hex()
    params["maxconcat"] = str(submission.max_segments)  # the core cut the text to fit it
    return params


def _match(recipients: Sequence[Recipient], lines: list[tuple[str, str]]) -> dict[int, str]:
    """Recipient index -> its answer, by exact number, then as the same number written
    otherwise, then by order among whatever is left when as many lines as recipients remain."""
    found, left = match_rows(recipients, lines, (
        lambda r, line: r.digits == line[0],
        lambda r, line: same_number(r.digits, line[0]),
    ))
    answers = {index: line[1] for index, line in found.items()}
    missing = [i for i in range(len(recipients)) if i not in found]
    if missing and len(missing) == len(left):
        answers.update({i: line[1] for i, line in zip(missing, left, strict=True)})
    return answers


def parse_send(answer: str, recipients: Sequence[Recipient]) -> list[Receipt]:
    """Receipts from a send's answer; raise for a whole-submission failure or garbage."""
    lines = [line.strip() for line in answer.splitlines() if line.strip()]
    if len(lines) == 1 and (single := _SINGLE.match(lines[0])):
        message_id, err = _result(single.group(1))
        if err is not None:
            raise err
        return [Receipt(r, message_id=message_id) for r in recipients]
    parsed = [_LINE.match(line) for line in lines]
    if not parsed or not all(parsed):
        raise unexpected(PROVIDER.name, answer)
    answers = _match(recipients, [(m.group(1), m.group(2)) for m in parsed if m])
    submission_id = next((a[3:] for a in answers.values() if a.startswith("ID:")), None)
    receipts = []
    for index, recipient in enumerate(recipients):
        if index in answers:
            message_id, err = _result(answers[index])
            receipts.append(Receipt(recipient, message_id=message_id, error=err))
        elif submission_id is not None:
            receipts.append(Receipt(recipient, message_id=submission_id))
        else:  # the gateway acted on the request; for this number, it does not say
            receipts.append(Receipt(recipient, error=ProviderError(
                Category.UNAVAILABLE, f"the answer does not name this number: {snippet(answer)}",
                provider=PROVIDER.name, unknown_outcome=True,
            )))
    return receipts


def parse_balance(answer: str) -> Balance:
    match = _BALANCE.match(answer)
    if match:
        return Balance(float(match.group(1)))
    single = _SINGLE.match(answer)
    if single and single.group(1).startswith("ERR:"):
        raise error(single.group(1)[4:])
    raise unexpected(PROVIDER.name, answer)


@hookimpl
def sms_notify_register_providers(register: Callable[[Provider], None]) -> None:
    register(PROVIDER)


@hookimpl
def sms_notify_send(account: Account, submission: Submission) -> list[Receipt]:
    answer = _post(account, SEND_PATH, send_params(submission))
    return parse_send(answer, submission.recipients)


@hookimpl
def sms_notify_balance(account: Account) -> Balance:
    return parse_balance(_post(account, BALANCE_PATH, {}))


@hookimpl
def sms_notify_check_login(account: Account) -> bool:
    """getbalance.aspx is the only call that checks credentials without sending."""
    parse_balance(_post(account, BALANCE_PATH, {}))
    return True


@hookimpl
def sms_notify_register_simulators(
    register: Callable[[str, type[Simulator[Any]]], None],
) -> None:
    from sms_notify.sandbox.simulators.intellisms import IntelliSms

    register(SCHEME, IntelliSms)
