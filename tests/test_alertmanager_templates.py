"""Alert texts: compact, in budget, GSM-7 where possible, never lost to a template bug."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sms_notify.integrations.alertmanager.demo import FIRING, resolved
from sms_notify.integrations.alertmanager.payload import validate
from sms_notify.integrations.alertmanager.templates import Renderer
from sms_notify.text import count_parts, is_gsm


def data(payload: dict[str, Any]) -> dict[str, Any]:
    return validate(copy.deepcopy(payload)).data


def group(n: int, truncated: int = 0, status: str = "firing", **labels: str) -> dict[str, Any]:
    alerts = [
        {"status": status,
         "labels": {"alertname": "NodeDown", "instance": f"web{i}.example.com:9100",
                    "severity": "critical", **labels},
         "annotations": {"summary": f"web{i} is down"}, "fingerprint": f"{i:016x}"}
        for i in range(n)
    ]
    return {"receiver": "r", "status": status, "alerts": alerts,
            "groupLabels": {"alertname": "NodeDown"},
            "commonLabels": {"alertname": "NodeDown", "severity": "critical", **labels},
            "truncatedAlerts": truncated}


def test_firing_and_resolved_texts_of_the_real_payload() -> None:
    assert Renderer().render(data(FIRING)) == (
        "FIRING DiskFull1 critical\ndb1:9100: DiskFull1 is down")
    assert Renderer().render(data(resolved(FIRING))) == (
        "RESOLVED DiskFull1 critical\ndb1:9100: DiskFull1 is down")


def test_description_when_there_is_no_summary() -> None:
    payload = copy.deepcopy(FIRING)
    del payload["alerts"][0]["annotations"]["summary"]
    assert Renderer().render(data(payload)).endswith("db1:9100: Host db1 unreachable")


def test_a_group_lists_what_tells_its_alerts_apart_and_counts() -> None:
    text = Renderer().render(data(group(2)))
    assert text == ("FIRING:2 NodeDown critical\nweb0.example.com:9100: web0 is down\n"
                    "web1.example.com:9100: web1 is down")


@pytest.mark.parametrize("segments", [1, 2, 3])
def test_a_big_group_fits_its_parts_and_counts_the_rest(segments: int) -> None:
    text = Renderer(max_segments=segments).render(data(group(300, truncated=5)))
    assert count_parts(text).parts <= segments
    first, *lines, last = text.splitlines()
    assert first == "FIRING:305 NodeDown critical"  # truncatedAlerts counted
    assert last == f"+{305 - len(lines)} more"
    assert lines and all(line.endswith("is down") for line in lines)  # no line cut in half
    if segments > 1:
        assert len(lines) > 2


def test_truncated_alerts_alone_are_counted() -> None:
    text = Renderer().render(data(group(1, truncated=4)))
    assert text.startswith("FIRING:5 NodeDown critical\n")
    assert text.endswith("\n+4 more")


def test_a_firing_group_counts_its_resolved_alerts_apart() -> None:
    payload = group(3)
    payload["alerts"][2]["status"] = "resolved"
    text = Renderer().render(data(payload))
    assert text.startswith("FIRING:2 NodeDown critical (1 resolved)\n")
    assert "web2" not in text


def test_unicode_punctuation_becomes_gsm7() -> None:
    payload = copy.deepcopy(FIRING)
    payload["alerts"][0]["annotations"]["summary"] = "disk \u201cdata\u201d full \u2014 95\u2026"
    text = Renderer().render(data(payload))
    assert text.endswith('db1:9100: disk "data" full - 95...')
    assert is_gsm(text)


def test_multi_line_annotations_stay_on_one_line() -> None:
    payload = copy.deepcopy(FIRING)
    payload["alerts"][0]["annotations"]["summary"] = "line one\n\n  line two\t"
    assert Renderer().render(data(payload)).endswith("db1:9100: line one line two")


def test_a_long_single_alert_is_shortened_to_the_route_budget() -> None:
    payload = copy.deepcopy(FIRING)
    payload["alerts"][0]["annotations"]["summary"] = "x" * 1000
    for segments in (1, 2):
        text = Renderer(max_segments=segments).render(data(payload))
        assert count_parts(text).parts == segments
        assert text.startswith("FIRING DiskFull1 critical\n") and text.endswith("...")


def test_route_template_over_the_payload() -> None:
    source = ("{{ status|upper }} {{ commonLabels.alertname }} on "
              "{% for a in alerts %}{{ a.labels.instance }}{% endfor %} ({{ count }})")
    assert Renderer(source).render(data(FIRING)) == "FIRING DiskFull1 on db1:9100 (1)"


def test_route_template_missing_keys_render_empty() -> None:
    source = "{{ status }}|{{ commonLabels.nope.deeper }}|"
    assert Renderer(source).render(data(FIRING)) == "firing||"


def test_route_template_is_sandboxed() -> None:
    source = "{{ ''.__class__.__mro__[1].__subclasses__() }}x"
    text = Renderer(source).render(data(FIRING))
    assert "class" not in text  # no way out: the sandbox refuses, the default text goes out
    assert "DiskFull1" in text or text == "x"


@pytest.mark.parametrize("source", ["{{ 1/0 }}", "{{ alerts[5].labels }}", "   ",
                                    "{{ status.nope() }}"])
def test_a_failing_route_template_falls_back_to_the_default(source: str) -> None:
    assert Renderer(source).render(data(FIRING)) == Renderer().render(data(FIRING))


def test_route_template_output_is_shortened() -> None:
    text = Renderer("{{ 'A' * 500 }}", max_segments=2).render(data(FIRING))
    assert count_parts(text).parts == 2 and text.endswith("...")


def test_labels_outside_gsm7_keep_their_text() -> None:
    payload = copy.deepcopy(FIRING)
    payload["alerts"][0]["annotations"]["summary"] = "Диск заполнен"
    text = Renderer().render(data(payload))
    assert text.endswith("Диск заполнен") and count_parts(text).encoding == "ucs2"


def test_the_config_check_and_the_receiver_share_one_environment() -> None:
    """check-config compiles route templates as serve does: same sandbox, same filter names."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from sms_notify.config import TEMPLATE_FILTERS, loads, template_environment

    env = Renderer._env
    assert isinstance(env, ImmutableSandboxedEnvironment)
    extra = set(env.filters) - set(template_environment().filters)
    assert extra == set() and set(TEMPLATE_FILTERS) <= set(env.filters)
    source = "{% for a in alerts %}{{ a | where }}: {{ a | what }}{% endfor %}"
    config = loads("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {via: p, template: '%s'}}" % source)
    assert Renderer(config.routes["r"].template).render(data(group(1))) == "web0.example.com:9100: web0 is down"


@pytest.mark.parametrize(("source", "event"), [
    ("{{ 'x' * 10**8 }}", "template_error"),  # blocked the receiver 4.7 s, 100 MB
    ("{{ (['x'] * 10**7) | length }}", "template_error"),
    ("{{ 7 ** 1000000 }}", "template_error"),
    ("{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}x",
     "template_timeout"),  # 10**10 empty turns: hours
    ("{% for a in alerts %}{% for b in range(99999) %}{% for c in shown %}{% for d in range(99999)"
     " %}{{ c.labels.x }}{% endfor %}{% endfor %}{% endfor %}{% endfor %}x", "template_timeout"),
    ("{% for k, v in alerts[0].labels.items() %}{% for b in range(99999) %}{% for c in "
     "range(99999) %}{% endfor %}{% endfor %}{% endfor %}x", "template_timeout"),
])
def test_a_runaway_template_ends_at_its_budget_with_the_default_text(
        source: str, event: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", "sms_notify.alertmanager")
    assert Renderer(source).render(data(FIRING)) == Renderer().render(data(FIRING))
    assert [m for m in caplog.messages if f"event={event}" in m], caplog.messages
    assert len(caplog.messages) == 1, caplog.messages


def test_huge_labels_and_annotations_make_the_usual_short_text() -> None:
    payload = copy.deepcopy(FIRING)
    payload["alerts"][0]["labels"]["instance"] = "db" * 1_000_000
    payload["alerts"][0]["annotations"]["summary"] = "disk  full " * 500_000
    payload["commonLabels"]["alertname"] = "A" * 1_000_000
    text = Renderer(max_segments=2).render(data(payload))
    assert count_parts(text).parts <= 2 and text.startswith("FIRING AAAA")


def test_an_alert_with_nothing_to_show_adds_no_line() -> None:
    """An alert without annotations (and no instance-like label: Watchdog, InfoInhibitor)
    rendered a line holding only `-`."""
    payload = copy.deepcopy(FIRING)
    payload["alerts"][0]["annotations"] = {}
    payload["alerts"][0]["labels"] = {"alertname": "Watchdog", "severity": "none"}
    payload["commonLabels"] = {"alertname": "Watchdog", "severity": "none"}
    assert Renderer().render(data(payload)) == "FIRING Watchdog none"
    several = group(3)
    for alert in several["alerts"]:
        del alert["labels"]["instance"]
        alert["annotations"] = {}
    several["alerts"][1]["annotations"] = {"summary": "the one that says something"}
    assert Renderer().render(data(several)) == (
        "FIRING:3 NodeDown critical\nthe one that says something")
