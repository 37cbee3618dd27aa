"""The simulator without HTTP: a State with it, its operations called with Calls."""

from __future__ import annotations

from typing import Any

import pytest

from sms_notify.sandbox import Call, State
from sms_notify_example.simulator import ExampleSms


@pytest.fixture
def sim() -> ExampleSms:
    return State({"example": ExampleSms}).simulators["example"]  # type: ignore[return-value]


def send(sim: ExampleSms, **body: Any) -> tuple[int, dict[str, Any]]:
    return sim.answer(Call("send", {"token": "sandbox", "from": "Alerts", **body}))


def test_a_send_answers_per_number_and_lands_in_the_inbox(sim: ExampleSms) -> None:
    status, body = send(sim, to=["+447700900123", "+447700900000"], text="hi", reference="r1")
    assert status == 200
    assert body["messages"][0] == {"to": "+447700900123", "id": "ex-1"}
    assert body["messages"][1]["error"]["code"] == "invalid_number"
    assert [(m.to, m.text, m.reference) for m in sim.state.inbox] == [
        ("+447700900123", "hi", "r1")]
    assert sim.answer(Call("status", {"token": "sandbox", "id": "ex-1"}))[1]["status"] == "sent"
    assert sim.answer(Call("balance", {"token": "sandbox"})) == (200, {"credits": 999.0})


@pytest.mark.parametrize("body, status, code", [
    ({"to": ["+447700900123"], "text": ""}, 400, "invalid_request"),
    ({"to": [], "text": "hi"}, 400, "invalid_request"),
    ({"to": ["+447700900123"], "text": "hi", "from": "Much Too Long"}, 400, "invalid_sender"),
    ({"to": ["+447700900123"], "text": "hi", "token": "wrong"}, 401, "unauthorized"),
])
def test_refusals(sim: ExampleSms, body: dict[str, Any], status: int, code: str) -> None:
    answer = send(sim, **body)
    assert answer[0] == status and answer[1]["error"]["code"] == code
    assert sim.state.inbox == []


def test_an_injected_error_code_by_category(sim: ExampleSms) -> None:
    code = ExampleSms.error_codes["unavailable"]
    assert sim.answer(Call("balance", {"token": "sandbox"}, injected=code))[0] == 503
