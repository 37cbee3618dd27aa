"""The client on the wire: what each hook sends, and what the gateway's answers become.

Written with sms_notify.testing: `account` parses a URL as the CLI does, `json_body` reads what
the mocked gateway received, `ManualClock` lets the core's retries run without waiting."""

from __future__ import annotations

import pytest
import responses

from sms_notify.delivery import balance, deliver, status
from sms_notify.errors import ProviderError
from sms_notify.testing import ManualClock, account, json_body

API = "http://127.0.0.1:8025"
URL = f"example://T0KEN@?from=Alerts&endpoint={API}"
TO = ["+447700900123", "+447700900124"]


def test_a_send_posts_json_with_the_token_and_reads_one_result_per_number(
        gateway: responses.RequestsMock, clock: ManualClock) -> None:
    gateway.post(f"{API}/v1/messages", json={"messages": [
        {"to": TO[0], "id": "ex-1"},
        {"to": TO[1], "error": {"code": "invalid_number", "message": "not reachable"}},
    ]})
    receipts = deliver([account(URL)], "DISK FULL", TO, clock=clock)
    sent = json_body(gateway.calls[0])
    assert sent == {"from": "Alerts", "to": TO, "text": "DISK FULL",
                    "reference": receipts[0].recipient.reference}
    assert gateway.calls[0].request.headers["Authorization"] == "Bearer T0KEN"
    assert receipts[0].message_id == "ex-1"
    assert receipts[1].error is not None and receipts[1].error.describe() == \
        "recipient: invalid_number not reachable"


@pytest.mark.parametrize("status_code, code, category", [
    (401, "unauthorized", "auth"), (402, "insufficient_credit", "credit"),
    (400, "invalid_sender", "request"), (400, "something_new", "request"),
])
def test_a_refused_request_is_its_category_never_a_success(
        gateway: responses.RequestsMock, clock: ManualClock, status_code: int, code: str,
        category: str) -> None:
    gateway.post(f"{API}/v1/messages", status=status_code,
                 json={"error": {"code": code, "message": "no"}})
    (receipt,) = deliver([account(URL)], "x", TO[:1], clock=clock)
    assert receipt.error is not None and receipt.error.category == category
    assert receipt.error.code == code


def test_a_5xx_is_retried_by_the_core(gateway: responses.RequestsMock, clock: ManualClock
                                      ) -> None:
    gateway.post(f"{API}/v1/messages", status=503, body="busy")
    gateway.post(f"{API}/v1/messages", json={"messages": [{"to": TO[0], "id": "ex-2"}]})
    (receipt,) = deliver([account(URL)], "x", TO[:1], clock=clock)
    assert receipt.message_id == "ex-2" and len(clock.slept) == 1


def test_an_answer_that_is_not_json_says_what_came_back(gateway: responses.RequestsMock,
                                                        clock: ManualClock) -> None:
    gateway.post(f"{API}/v1/messages", body="<html>proxy error</html>")
    (receipt,) = deliver([account(URL)], "x", TO[:1], clock=clock)
    assert receipt.error is not None and "proxy error" in receipt.error.text
    # a 2xx the plugin cannot read may have been sent: not sent again (the gateway cannot be
    # asked), so it is unconfirmed after the one request
    assert receipt.unconfirmed and len(gateway.calls) == 1


def test_balance_and_status(gateway: responses.RequestsMock, clock: ManualClock) -> None:
    gateway.get(f"{API}/v1/balance", json={"credits": 12.5})
    gateway.get(f"{API}/v1/messages/ex-1", json={"id": "ex-1", "status": "delivered"})
    gateway.get(f"{API}/v1/messages/nope", status=404,
                json={"error": {"code": "not_found", "message": "no message nope"}})
    assert balance(account(URL), clock=clock).credits == 12.5
    found = status(account(URL), "ex-1", clock=clock)
    assert (found.state, found.final) == ("delivered", True)
    with pytest.raises(ProviderError, match="no message nope"):
        status(account(URL), "nope", clock=clock)
