"""The Alertmanager webhook payload: real captures accepted, every bad shape refused with a
message that names the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sms_notify.integrations.alertmanager.demo import FIRING, resolved
from sms_notify.integrations.alertmanager.payload import (
    PayloadError,
    parse,
    unescape_receiver,
    validate,
)

SHARED = Path(__file__).parent / "fixtures" / "alertmanager"  # real captures
FIXTURES = ["am-0.25-firing", "am-0.25-resolved", "am-0.25-grouped",
            "openshift-4.18-firing", "openshift-4.18-resolved"]


def body(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(FIRING)
    data.update(changes)
    return data


@pytest.mark.parametrize("name", FIXTURES)
def test_real_captures_are_accepted(name: str) -> None:
    raw = (SHARED / f"{name}.json").read_bytes()
    n = parse(raw)
    data = json.loads(raw)
    assert n.receiver == data["receiver"]
    assert n.status == data["status"]
    assert n.group_key == data["groupKey"]
    assert n.fingerprints == sorted(a["fingerprint"] for a in data["alerts"])


def test_embedded_demo_payloads_are_the_real_ones() -> None:
    assert FIRING == json.loads((SHARED / "am-0.25-firing.json").read_bytes())
    assert resolved(FIRING) == json.loads((SHARED / "am-0.25-resolved.json").read_bytes())


def test_receiver_is_unescaped_like_quotemeta() -> None:
    assert unescape_receiver(r"web\.hook") == "web.hook"
    assert unescape_receiver(r"a\+b \(c\)/d") == "a+b (c)/d"
    assert unescape_receiver("plain name") == "plain name"


def test_optional_fields_of_older_alertmanagers_get_defaults() -> None:
    data = body()
    for key in ("truncatedAlerts", "groupKey", "version", "externalURL", "commonAnnotations"):
        del data[key]
    del data["alerts"][0]["fingerprint"]
    del data["alerts"][0]["status"]
    n = validate(data)
    assert n.truncated == 0
    assert n.group_key  # derived from groupLabels: stable, so dedup still works
    assert n.group_key == validate(copy.deepcopy(data)).group_key
    assert len(n.alerts[0]["fingerprint"]) == 16
    assert n.alerts[0]["status"] == "firing"  # inherits the group's status


def test_unknown_fields_are_ignored() -> None:
    n = validate(body(notification_reason="first notification", routeLabels={"a": "b"}, x=[1]))
    assert n.status == "firing"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("status"), "status: missing"),
        (lambda d: d.update(status="FIRING"), 'status: must be "firing" or "resolved"'),
        (lambda d: d.update(status=1), 'status: must be "firing" or "resolved", not a number'),
        (lambda d: d.pop("alerts"), "alerts: missing"),
        (lambda d: d.update(alerts={}), "alerts: must be an array, not an object"),
        (lambda d: d.update(alerts=[]), "alerts: must not be empty"),
        (lambda d: d.pop("receiver"), "receiver: missing"),
        (lambda d: d.update(receiver=["a"]), "receiver: must be a string, not an array"),
        (lambda d: d["alerts"].append(3), "alerts[1]: must be an object, not a number"),
        (lambda d: d["alerts"][0].pop("labels"), "alerts[0].labels: missing"),
        (lambda d: d["alerts"][0].update(labels=[]), "alerts[0].labels: must be an object"),
        (lambda d: d["alerts"][0]["labels"].update(severity=2),
         "alerts[0].labels.severity: must be a string, not a number"),
        (lambda d: d["alerts"][0]["labels"].update({"odd key": None}),
         'alerts[0].labels["odd key"]: must be a string, not null'),
        (lambda d: d["alerts"][0].update(annotations="x"),
         "alerts[0].annotations: must be an object, not a string"),
        (lambda d: d["alerts"][0].update(status="ok"), "alerts[0].status: must be"),
        (lambda d: d["alerts"][0].update(fingerprint=5), "alerts[0].fingerprint: must be a string"),
        (lambda d: d["alerts"][0].update(startsAt=True), "alerts[0].startsAt: must be a string, "
                                                         "not a boolean"),
        (lambda d: d.update(commonLabels=None, groupLabels=[]), "groupLabels: must be an object"),
        (lambda d: d.update(truncatedAlerts=-1), "truncatedAlerts: must be a whole number"),
        (lambda d: d.update(truncatedAlerts="3"), "truncatedAlerts: must be a whole number"),
        (lambda d: d.update(groupKey={}), "groupKey: must be a string, not an object"),
    ],
)
def test_wrong_shapes_name_the_field(change: Any, message: str) -> None:
    data = body()
    data["alerts"] = [copy.deepcopy(FIRING["alerts"][0])]
    change(data)
    with pytest.raises(PayloadError) as info:
        validate(data)
    assert info.value.status == 422
    assert str(info.value).startswith(message), str(info.value)


def test_the_third_alert_is_named_by_its_index() -> None:
    data = body()
    data["alerts"] = [copy.deepcopy(FIRING["alerts"][0]) for _ in range(3)]
    data["alerts"][2]["labels"] = "db1"
    with pytest.raises(PayloadError, match=r"^alerts\[2\]\.labels: must be an object"):
        validate(data)


def test_receiver_is_optional_when_the_route_is_in_the_path() -> None:
    data = body()
    del data["receiver"]
    assert validate(data, receiver_required=False).receiver == ""


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "body: not valid JSON"),
        (b"{", "body: not valid JSON"),
        (b"\xff\xfe\x00garbage", "body: not"),
        (b"\xc3\x28", "body: not UTF-8"),
        # a lone surrogate encoded in UTF-8 is not UTF-8 either (json.loads on bytes took it)
        (b'{"receiver": "r\xed\xa0\x80"}', "body: not UTF-8"),
        (b"[" * 200_000, "body: not usable JSON"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "body: not usable JSON"),
    ],
)
def test_what_is_not_json_is_a_400(raw: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse(raw)
    assert info.value.status == 400
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize("raw", [b"[]", b"null", b"3", b'"firing"'])
def test_json_that_is_not_an_object_is_a_422(raw: bytes) -> None:
    with pytest.raises(PayloadError, match="body: must be a JSON object") as info:
        parse(raw)
    assert info.value.status == 422


def test_a_utf8_bom_is_allowed() -> None:
    assert parse(b"\xef\xbb\xbf" + json.dumps(body()).encode()).receiver == body()["receiver"]


def test_lone_surrogates_become_question_marks() -> None:
    data = json.dumps(body()).replace("db1:9100", "db1\\ud800").encode()
    n = parse(data)
    assert n.alerts[0]["labels"]["instance"] == "db1?"
    n.alerts[0]["labels"]["instance"].encode("utf-8")  # storable and sendable
