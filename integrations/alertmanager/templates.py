"""Alert texts: a compact default template, route templates, and fitting to max_segments.

Every part costs money and a pager screen is small, so the default says what matters first:

    FIRING DiskFull1 critical
    db1:9100: DiskFull1 is down

Status (with the count when a group holds several alerts), alertname, severity; then one line
per alert (where: instance or pod or host...; what: the summary annotation, else description);
then "+N more" for what did not fit, Alertmanager's truncatedAlerts included. The default lists
as many alerts as fit in the route's max_segments rather than cutting the last line in half.

Templates are Jinja2, rendered in a sandbox (a config file is not a licence to run code); the
context is the webhook payload (receiver, status, alerts, groupLabels, commonLabels,
commonAnnotations, externalURL, groupKey, truncatedAlerts) plus `firing`, `resolved`, `shown`,
`more` and `count`. Unicode punctuation with a GSM-7 look-alike is replaced (one curly quote
would halve what a part holds), and the text is shortened to max_segments.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import TemplateError

from sms_notify.config import template_environment
from sms_notify.text import count_parts, gsm_friendly, shorten

log = logging.getLogger("sms_notify.alertmanager")

# Labels that say where an alert is, most telling first.
WHERE_LABELS = ("instance", "pod", "host", "hostname", "node", "device", "service", "job",
                "namespace", "cluster")
# Annotations that say what is wrong, most telling first.
WHAT_ANNOTATIONS = ("summary", "description", "message")



def default_text(head: str, lines: Sequence[str], more: int) -> str:
    """The built-in text: a head line, one line per alert shown, "+N more". Plain Python, not a
    Jinja2 template: it renders several times per webhook while fitting, on the event loop."""
    tail = [f"+{more} more"] if more else []
    return gsm_friendly("\n".join([head, *lines, *tail])).strip()


def _where(alert: Mapping[str, Any], common: Mapping[str, str] | None = None) -> str:
    """Where an alert is: the first telling label, preferring one its group does not share."""
    labels = alert.get("labels") or {}
    for key in WHERE_LABELS:
        if labels.get(key) and (common is None or key not in common):
            return str(labels[key])
    if common is not None:
        name = labels.get("alertname")
        if name and "alertname" not in common:
            return str(name)
        return _where(alert)
    return ""


def _what(alert: Mapping[str, Any]) -> str:
    """What is wrong: the summary annotation, else the description, on one line."""
    annotations = alert.get("annotations") or {}
    for key in WHAT_ANNOTATIONS:
        if annotations.get(key):
            return " ".join(str(annotations[key]).split())
    return ""


class Renderer:
    """Renders one route's texts: its own template, or the default fitted to max_segments."""

    # The config check compiles route templates in the same environment (check-config must
    # refuse what serve cannot compile).
    _env = template_environment({"where": _where, "what": _what})

    def __init__(self, source: str | None = None, max_segments: int = 1) -> None:
        self.max_segments = max(1, max_segments)
        self._custom = self._env.from_string(source) if source is not None else None

    def render(self, data: Mapping[str, Any]) -> str:
        """The text for one notification; a route template that fails falls back to the
        default (an alert is never lost to a template bug)."""
        if self._custom is not None:
            try:
                text = self._custom.render(_context(data))
                lines = [line.rstrip() for line in gsm_friendly(text).strip().splitlines()]
                if any(lines):
                    return _utf8(shorten("\n".join(lines), self.max_segments))
                log.warning("event=template_empty; using the default template")
            except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError,
                    AttributeError, RecursionError) as exc:
                log.warning("event=template_error error=%s; using the default template",
                            json.dumps(str(exc)[:200]))
        return _utf8(self._fit(data))

    def _fit(self, data: Mapping[str, Any]) -> str:
        """The default template with as many alerts listed as fit (binary search on the count
        shown: each listed alert makes the text longer)."""
        listed = _listed(data)
        common = data.get("commonLabels") or {}
        group_common = common if len(listed) > 1 else None
        lines = []
        for alert in listed[: 160 * self.max_segments // 4]:  # a line takes at least 4 characters
            where, what = _where(alert, group_common), _what(alert)
            lines.append(f"{where}: {what}" if where and what else where or what or "-")
        names = {(a.get("labels") or {}).get("alertname") for a in listed}
        # A group of different alerts (grouped by another label, or Grafana's contact point)
        # has no one name: each line names its alert instead.
        name = alertname(data) if len(names) <= 1 or common.get("alertname") else ""
        count = len(listed) + int(data.get("truncatedAlerts") or 0)
        resolved = sum(a.get("status") != "firing" for a in data.get("alerts") or [])
        head = str(data.get("status") or "").upper() + (f":{count}" if count > 1 else "")
        head += (f" {name}" if name else "") + (
            f" {common['severity']}" if common.get("severity") else "")
        if data.get("status") == "firing" and resolved:
            head += f" ({resolved} resolved)"

        def draw(shown: int) -> str:
            return default_text(head, lines[:shown], count - shown)

        fits = lambda text: count_parts(text).parts <= self.max_segments  # noqa: E731
        if not lines:
            return shorten(draw(0), self.max_segments)
        if fits(text := draw(len(lines))):  # the usual case: everything fits
            return text
        if not fits(text := draw(1)):
            return shorten(text, self.max_segments)  # one alert, cut: better than "+1 more"
        best, lo, hi = text, 2, len(lines) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            if fits(text := draw(mid)):
                best, lo = text, mid + 1
            else:
                hi = mid - 1
        return best


def alertname(data: Mapping[str, Any]) -> str:
    """The group's alert name: common to its alerts, its group label, else the first alert's."""
    first = (_listed(data) or data.get("alerts") or [{}])[0]
    return str((data.get("commonLabels") or {}).get("alertname")
               or (data.get("groupLabels") or {}).get("alertname")
               or (first.get("labels") or {}).get("alertname", ""))


def _listed(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The alerts the text lists: a firing group lists its firing alerts, a resolved one all."""
    alerts = data.get("alerts") or []
    if data.get("status") == "firing":
        return [a for a in alerts if a.get("status") == "firing"]
    return list(alerts)


def _context(data: Mapping[str, Any]) -> dict[str, Any]:
    """A route template's context: the payload, plus what the default text is made of."""
    alerts = data.get("alerts") or []
    listed = _listed(data)
    truncated = int(data.get("truncatedAlerts") or 0)
    return {**data, "firing": [a for a in alerts if a.get("status") == "firing"],
            "resolved": [a for a in alerts if a.get("status") != "firing"], "shown": listed,
            "more": truncated, "count": len(listed) + truncated}


def _utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")
