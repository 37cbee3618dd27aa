"""The Alertmanager API client on the wire: the silence a reply ACK creates (API v2)."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from sms_notify.silences import AlertmanagerApi, SilenceError

AM = "http://127.0.0.1:9093"
SILENCES = f"{AM}/api/v2/silences"


def client(**kwargs: object) -> tuple[AlertmanagerApi, list[float]]:
    pauses: list[float] = []
    api = AlertmanagerApi(AM + "/", sleep=pauses.append, **kwargs)  # type: ignore[arg-type]
    return api, pauses


def test_a_silence_of_equality_matchers_by_sms_notify(gateway: responses.RequestsMock) -> None:
    gateway.post(SILENCES, json={"silenceID": "4fd7c2a0"})
    api, _ = client(bearer_token="t0k/en")
    assert api.silence({"alertname": "DiskFull", "instance": "db1:9100"}, 1_700_000_000.0,
                       1_700_001_800.5, "acknowledged by SMS from +447700900123") == "4fd7c2a0"
    call = gateway.calls[0]
    assert json.loads(call.request.body) == {
        "matchers": [{"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True},
                     {"name": "instance", "value": "db1:9100", "isRegex": False,
                      "isEqual": True}],
        "startsAt": "2023-11-14T22:13:20.000Z", "endsAt": "2023-11-14T22:43:20.500Z",
        "createdBy": "sms-notify", "comment": "acknowledged by SMS from +447700900123"}
    assert call.request.headers["Authorization"] == "Bearer t0k/en"


def test_basic_auth(gateway: responses.RequestsMock) -> None:
    gateway.post(SILENCES, json={"silenceID": "x"})
    client(basic_auth=("am", "pa:ss"))[0].silence({"a": "b"}, 0, 60, "c")
    assert gateway.calls[0].request.headers["Authorization"] == "Basic YW06cGE6c3M="


def test_a_passing_failure_is_tried_again(gateway: responses.RequestsMock) -> None:
    gateway.post(SILENCES, status=503, body="busy")
    gateway.post(SILENCES, body=requests.ConnectionError("refused"))
    gateway.post(SILENCES, json={"silenceID": "x"})
    api, pauses = client()
    assert api.silence({"a": "b"}, 0, 60, "c") == "x"
    assert pauses == [1.0, 2.0]


def test_a_refusal_is_final_and_names_alertmanager_without_its_credentials(
        gateway: responses.RequestsMock) -> None:
    gateway.post(SILENCES, status=400, body='{"message":"invalid silence: at least one matcher"}')
    api, pauses = client(bearer_token="s3cret")
    with pytest.raises(SilenceError) as error:
        api.silence({}, 0, 60, "c")
    assert str(error.value) == ("Alertmanager at http://127.0.0.1:9093 did not create the "
                                "silence: HTTP 400: '{\"message\":\"invalid silence: at least "
                                "one matcher\"}'")
    assert pauses == [] and "s3cret" not in repr(api)


def test_no_answer_at_all(gateway: responses.RequestsMock) -> None:
    for _ in range(3):
        gateway.post(SILENCES, body=requests.ConnectionError("refused"))
    with pytest.raises(SilenceError, match=r"no answer \(ConnectionError\)"):
        client()[0].silence({"a": "b"}, 0, 60, "c")


def test_a_redirect_is_not_followed_and_names_where_it_led(
        gateway: responses.RequestsMock) -> None:
    """requests would follow it as a GET (the list of silences, 200 without a silenceID), the
    bearer token dropped or sent to another host: the address to configure is the answer."""
    gateway.post(SILENCES, status=307, headers={"Location": "/am/api/v2/silences"})
    api, _ = client(bearer_token="t0k/en")
    with pytest.raises(SilenceError, match=r"did not create the silence: HTTP 307 to "
                                           r"http://127.0.0.1:9093/am/api/v2/silences \(set "
                                           r"alertmanager.url to where it leads\)"):
        api.silence({"a": "b"}, 0, 60, "c")
    assert len(gateway.calls) == 1
