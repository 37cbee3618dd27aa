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

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from jinja2 import TemplateError, TemplateRuntimeError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from sms_notify.config import template_environment
from sms_notify.text import count_parts, gsm_friendly, shorten

log = logging.getLogger("sms_notify.alertmanager")

BUDGET = 1.0  # seconds a route template may take; then the default text goes out
GRACE = 0.5  # seconds more the answer waits for a render that stops itself at BUDGET
MAX_PRODUCT = 100_000  # items or characters a `*` in a template may make
_render = threading.local()  # this thread's render deadline (time.monotonic())

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


def _what(alert: Mapping[str, Any], longest: int | None = None) -> str:
    """What is wrong: the summary annotation, else the description, on one line (of at most
    `longest` characters: a 10 MB annotation is not split whole to show its start)."""
    annotations = alert.get("annotations") or {}
    for key in WHAT_ANNOTATIONS:
        if annotations.get(key):
            text = str(annotations[key])
            if longest is not None:
                text = text[: 2 * longest]  # room for the whitespace split() drops
            return " ".join(text.split())[:longest]
    return ""


class OverBudget(TemplateRuntimeError):
    """A route template ran past its time budget."""


def _check() -> None:
    deadline = getattr(_render, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise OverBudget(f"took longer than {BUDGET:g}s")


class _Checked(list):  # type: ignore[type-arg]
    """A list whose iteration checks the render deadline: a template's loops (nested ones
    over the payload's alerts included) stop at the budget instead of running on."""

    def __iter__(self) -> Iterator[Any]:
        for i, item in enumerate(super().__iter__()):
            if not i % 256:
                _check()
            yield item


def _checked(value: Any) -> Any:
    if isinstance(value, (list, tuple, range)) or type(value).__name__.startswith("dict_"):
        return _Checked(value)
    return value


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """The route templates' sandbox with run-time limits: every attribute, item, call and
    filter checks the render's deadline, sequences check it as they are iterated, and `*`
    and `**` refuse results past MAX_PRODUCT (`'x' * 10**8` blocked the receiver 4.7 s)."""

    intercepted_binops = frozenset(["*", "**"])

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check()
        return _checked(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check()
        return _checked(super().getitem(obj, argument))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _check()
        return _checked(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check()
        if operator == "*":
            size = next((len(a) * b for a, b in ((left, right), (right, left))
                         if isinstance(a, (str, list, tuple)) and isinstance(b, int)), 0)
            if size > MAX_PRODUCT:
                raise TemplateRuntimeError(f"'*' would make {size} items (at most "
                                           f"{MAX_PRODUCT})")
        if operator == "**" and isinstance(right, int) and abs(right) > 64 and (
                not isinstance(left, (int, float)) or abs(left) > 1):
            raise TemplateRuntimeError(f"'**' with an exponent of {right} (at most 64)")
        return super().call_binop(context, operator, left, right)


class Renderer:
    """Renders one route's texts: its own template, or the default fitted to max_segments."""

    # The config check compiles route templates in the same environment (check-config must
    # refuse what serve cannot compile).
    _env = template_environment({"where": _where, "what": _what}, BudgetedSandbox)

    def __init__(self, source: str | None = None, max_segments: int = 1) -> None:
        self.max_segments = max(1, max_segments)
        self._custom = self._env.from_string(source) if source is not None else None
        self._overrunning = 0  # renders still going past their budget

    def render(self, data: Mapping[str, Any]) -> str:
        """The text for one notification; a route template that fails or runs past BUDGET
        falls back to the default (an alert is never lost to a template bug)."""
        if self._custom is not None:
            _render.deadline = time.monotonic() + BUDGET
            try:
                text = self._custom.render(_context(data))
                lines = [line.rstrip() for line in gsm_friendly(text).strip().splitlines()]
                if any(lines):
                    return _utf8(shorten("\n".join(lines), self.max_segments))
                log.warning("event=template_empty; using the default template")
            except OverBudget as exc:
                log.warning("event=template_timeout error=%s; using the default template",
                            json.dumps(str(exc)))
            except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError,
                    AttributeError, RecursionError, MemoryError) as exc:
                log.warning("event=template_error error=%s; using the default template",
                            json.dumps(str(exc)[:200]))
            finally:
                _render.deadline = None
        return _utf8(self._fit(data))

    async def render_off_loop(self, data: Mapping[str, Any], heavy: bool = False) -> str:
        """render() for the event loop: a route template (or, when `heavy`, the default over a
        big payload) renders in a thread, and the answer never waits past its budget. A render
        that runs on regardless keeps this route on the default text until it ends, so a
        runaway template holds one thread, not one per webhook."""
        if self._custom is None and not heavy:
            return self.render(data)
        loop = asyncio.get_running_loop()
        if self._custom is None or self._overrunning:
            return await loop.run_in_executor(None, self._default, data)
        future = loop.run_in_executor(None, self.render, data)
        done, _ = await asyncio.wait({future}, timeout=BUDGET + GRACE)
        if done:
            return future.result()
        self._overrunning += 1
        future.add_done_callback(lambda _: self._done_overrunning())
        log.warning("event=template_timeout error=%s; using the default template",
                    json.dumps(f"took longer than {BUDGET + GRACE:g}s and runs on"))
        return await loop.run_in_executor(None, self._default, data)

    def _done_overrunning(self) -> None:
        self._overrunning -= 1

    def _default(self, data: Mapping[str, Any]) -> str:
        return _utf8(self._fit(data))

    def _fit(self, data: Mapping[str, Any]) -> str:
        """The default template with as many alerts listed as fit (binary search on the count
        shown: each listed alert makes the text longer)."""
        listed = _listed(data)
        common = data.get("commonLabels") or {}
        group_common = common if len(listed) > 1 else None
        lines = []
        longest = 160 * self.max_segments  # more of a label than the text can hold is cut now
        for alert in listed[: 160 * self.max_segments // 4]:  # a line takes at least 4 characters
            where, what = _where(alert, group_common)[:longest], _what(alert, longest)
            lines.append(f"{where}: {what}" if where and what else where or what)
        names = {(a.get("labels") or {}).get("alertname") for a in listed}
        # A group of different alerts (grouped by another label, or Grafana's contact point)
        # has no one name: each line names its alert instead.
        name = alertname(data)[:longest] if len(names) <= 1 or common.get("alertname") else ""
        count = len(listed) + int(data.get("truncatedAlerts") or 0)
        resolved = sum(a.get("status") != "firing" for a in data.get("alerts") or [])
        head = str(data.get("status") or "").upper() + (f":{count}" if count > 1 else "")
        head += (f" {name}" if name else "") + (
            f" {common['severity']}" if common.get("severity") else "")
        if data.get("status") == "firing" and resolved:
            head += f" ({resolved} resolved)"

        def draw(shown: int) -> str:  # an alert with nothing to say is counted, not a line
            return default_text(head, [line for line in lines[:shown] if line], count - shown)

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
    """A route template's context: the payload, plus what the default text is made of; its
    lists check the render's deadline as a loop goes over them."""
    alerts = data.get("alerts") or []
    listed = _listed(data)
    truncated = int(data.get("truncatedAlerts") or 0)
    context = {**data, "firing": [a for a in alerts if a.get("status") == "firing"],
               "resolved": [a for a in alerts if a.get("status") != "firing"], "shown": listed,
               "more": truncated, "count": len(listed) + truncated}
    return {key: _checked(value) for key, value in context.items()}


def _utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")
