"""Example SMS: the client, as an sms-notify provider plugin (the gateway's API: README.md).

A provider module knows its wire protocol and nothing else: the request, the answer, the
gateway's error codes in the core's categories, its limits. Batching, retries, failover and
dedup are sms-notify's. The core calls these hooks only for accounts of the scheme this plugin
registered, so none of them checks `account.scheme`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sms_notify import hookimpl
from sms_notify.errors import Category, ProviderError
from sms_notify.http import request, unexpected
from sms_notify.model import Account, Balance, DeliveryStatus, Provider, Receipt, Submission

if TYPE_CHECKING:
    import requests

    from sms_notify.sandbox import Simulator

SCHEME = "example"
PROVIDER = Provider(
    scheme=SCHEME,
    name="Example SMS",
    base_url="https://api.example-sms.invalid",
    credentials=("token",),  # example://TOKEN@...
    max_recipients=50,
    max_segments=3,
    unicode=True,
    capabilities=frozenset({"balance", "status"}),
    summary="a made-up JSON gateway: the example third-party plugin",
)

# The gateway's error codes in the core's categories.
ERRORS: dict[str, Category] = {
    "unauthorized": Category.AUTH,
    "insufficient_credit": Category.CREDIT,
    "invalid_number": Category.RECIPIENT,
    "invalid_sender": Category.REQUEST,
    "invalid_request": Category.REQUEST,
    "not_found": Category.REQUEST,
}
STATES: dict[str, tuple[str, bool]] = {  # status -> (the core's state, final)
    "queued": ("queued", False),
    "sent": ("sent", False),
    "delivered": ("delivered", True),
    "failed": ("failed", True),
}


def error(answer: Any) -> ProviderError:
    """`{"code": ..., "message": ...}` as a ProviderError with the gateway's code and text."""
    code = str(answer.get("code", "")) if isinstance(answer, dict) else ""
    message = str(answer.get("message", "")) if isinstance(answer, dict) else ""
    return ProviderError(ERRORS.get(code, Category.REQUEST), message or code or "refused",
                         code=code or None, provider=PROVIDER.name)


def call(account: Account, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One API call: its JSON answer; a refusal (4xx) or an answer we cannot read raised.
    Transport failures, 429 and 5xx are raised by sms_notify.http in the core's terms."""
    response: requests.Response = request(
        method, account.url(PROVIDER, path), json=body, provider=PROVIDER.name,
        timeout=account.timeout, headers={"Authorization": f"Bearer {account.user}"},
        refusals=True,  # this gateway says why it refused in a 4xx answer's JSON
    )
    try:
        answer = response.json()
    except ValueError:
        raise unexpected(PROVIDER.name, response.text) from None
    if response.status_code >= 400:  # never read a refusal as a success
        raise error(answer.get("error") if isinstance(answer, dict) else None)
    if not isinstance(answer, dict):
        raise unexpected(PROVIDER.name, response.text)
    return answer


@hookimpl
def sms_notify_register_providers(register: Callable[[Provider], None]) -> None:
    register(PROVIDER)


@hookimpl
def sms_notify_send(account: Account, submission: Submission) -> list[Receipt]:
    answer = call(account, "POST", "/v1/messages", {
        "from": submission.sender or "",
        "to": [r.address for r in submission.recipients],
        "text": submission.text,
        "reference": submission.reference,
    })
    results = answer.get("messages")
    if not isinstance(results, list) or len(results) != len(submission.recipients):
        raise unexpected(PROVIDER.name, str(answer))
    return [
        Receipt(r, message_id=str(m["id"])) if isinstance(m, dict) and m.get("id")
        else Receipt(r, error=error(m.get("error") if isinstance(m, dict) else None))
        for r, m in zip(submission.recipients, results, strict=True)
    ]


@hookimpl
def sms_notify_balance(account: Account) -> Balance:
    credits = call(account, "GET", "/v1/balance").get("credits")
    if not isinstance(credits, (int, float)):
        raise unexpected(PROVIDER.name, f"credits: {credits!r}")
    return Balance(float(credits))


@hookimpl
def sms_notify_status(account: Account, message_id: str) -> DeliveryStatus:
    answer = call(account, "GET", f"/v1/messages/{quote(message_id, safe='')}")
    status = str(answer.get("status", ""))
    state, final = STATES.get(status, ("unknown", False))
    return DeliveryStatus(message_id, state, final, detail=status)


@hookimpl
def sms_notify_register_simulators(
    register: Callable[[str, type[Simulator[Any]]], None],
) -> None:
    from .simulator import ExampleSms  # only the sandbox needs it

    register(SCHEME, ExampleSms)
