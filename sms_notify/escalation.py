"""Escalation (docs/design.md, Decision 15): a route's `escalate: {after: 10m, to: [...]}`.

A group that starts firing on such a route opens a page whose escalate_at is `after` later
(outbox.open_pages). A page still firing then, neither acknowledged by a reply nor resolved, is
texted to the escalation numbers too, through the route's accounts, once: marking the page
escalated and adding those texts is one transaction of the outbox, so a restart between the
page and `after` neither loses the escalation nor sends it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from .config import Route
from .logs import event
from .outbox import Job, Outbox, Page

log = logging.getLogger("sms_notify.escalation")

PREFIX = "ESCALATED: "


def escalate(outbox: Outbox, routes: Mapping[str, Route], now: float) -> list[Job]:
    """Escalate every page whose time has come; the texts added."""
    added: list[Job] = []
    for page in outbox.escalations_due(now):
        route = routes.get(page.route)
        jobs = texts(page, route) if route is not None else []
        if not outbox.escalate(page, jobs):
            continue  # another pass (or receiver) took it
        log.warning(event("escalated", route=page.route, page=page.id,
                          to=",".join(j.recipient for j in jobs) or "-",
                          after=f"{now - page.fired:.0f}s",
                          reason="neither acknowledged nor resolved"))
        added.extend(jobs)
    return added


def texts(page: Page, route: Route) -> list[Job]:
    """The page's latest text to each escalation number, marked as escalated."""
    if route.escalate is None:
        return []
    name = page.matchers.get("alertname") or route.name
    return [Job(route.name, number, PREFIX + page.text, tuple(route.via), route.max_segments,
                summary_key=name, page=page.id) for number in route.escalate.to]
