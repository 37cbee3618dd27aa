"""What gateways send back to `serve` (docs/design.md, Decision 15): delivery reports pushed to
`GET|POST /receipts/{account}` and replies forwarded to `GET|POST /inbound/{account}`.

Both are refused unless `server.inbound_secret` is set, and a request must carry it as its
`auth` argument (FastSMS's passthrough for forwarded replies, and what the notification URLs
`serve` gives server2sms carry), compared in constant time: else 401. Requests are rate limited
per client address before anything else (429). A refusal is logged once a minute per client,
endpoint and status (a flood must not flood the log); /metrics counts every one. The gateway plugin reads the request; the core
records reports (sms_notify.receipts) and acts on replies in the loop's thread
(sms_notify.acks), so a forwarded reply is answered without waiting for Alertmanager. Neither
the secret nor any argument is logged.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sms_notify.config import Config
from sms_notify.errors import ProviderError
from sms_notify.logs import event
from sms_notify.manager import gateway, provider_for
from sms_notify.model import Push
from sms_notify.outbox import OutboxError

if TYPE_CHECKING:
    from sms_notify.loop import Loop
    from sms_notify.outbox import Outbox

    from .metrics import Metrics
    from .server import CompiledRoute, Delivery

log = logging.getLogger("sms_notify.alertmanager")

PER_CLIENT = "50/second"  # requests from one address
REFUSAL_LOG_EVERY = 60.0  # seconds between log lines for the same refusal of one client
MAX_BODY = 64 * 1024  # a report or a reply is a few hundred bytes
RECEIPTS, REPLIES = "receipts", "inbound"


def closing_loop(config: Config, outbox: Outbox, dispatcher: Delivery, metrics: Metrics,
                 routes: Mapping[str, CompiledRoute]) -> Loop | None:
    """The loop of a receiver whose dispatcher records receipts; acks when the config names an
    Alertmanager. None for a dispatcher without receipts. A delivery process asks the gateways
    about receipts itself (sms_notify.deliverer)."""
    from sms_notify.dispatch import Dispatcher
    from sms_notify.loop import Loop

    receipts = dispatcher.receipts
    if receipts is None:
        return None
    acks = None
    if config.alertmanager is not None:
        from sms_notify.acks import Acks

        numbers: dict[str, str] = {}
        for name, route in routes.items():
            escalation = config.routes[name].escalate if name in config.routes else None
            for number in (*route.recipients, *(escalation.to if escalation else ())):
                numbers.setdefault(number, name)
        acks = Acks(outbox, config.alertmanager, config.acks,
                    {name: route.via for name, route in routes.items()}, numbers,
                    region=config.region, on_reply=metrics.reply, on_confirm=dispatcher.wake)
    return Loop(outbox, receipts.accounts, config.routes, receipts, acks,
                asks=isinstance(dispatcher, Dispatcher), on_escalation=metrics.escalated,
                wake=dispatcher.wake)


class Inbound:
    """The two endpoints, for one receiver."""

    def __init__(self, config: Config, loop: Loop | None, metrics: Metrics) -> None:
        from limits import parse, storage, strategies

        self.secret = (config.server.inbound_secret or "").encode()
        self.accounts = config.accounts
        self.loop = loop
        self.metrics = metrics
        self._limit = parse(PER_CLIENT)
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._refusals_logged: dict[tuple[str, str, int], float] = {}

    @staticmethod
    async def _body(request: Request) -> bytes | None:
        """The body, or None past MAX_BODY (by Content-Length, else as it streams in)."""
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY:
            return None
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return None
        return body

    async def receipts(self, request: Request) -> Response:
        return await self._handle(request, RECEIPTS)

    async def replies(self, request: Request) -> Response:
        return await self._handle(request, REPLIES)

    async def _handle(self, request: Request, endpoint: str) -> Response:
        name = str(request.path_params.get("account", ""))
        client = request.client.host if request.client else "-"
        status, answer = await self._answer(request, endpoint, name, client)
        self.metrics.inbound(endpoint, status)
        fields = {k: v for k, v in answer.items() if k != "status"}
        if status < 400:
            log.info(event(endpoint, account=name[:100], code=status, **fields))
        elif self._first_in_a_while(client, endpoint, status):
            fields["error"] = f"{fields.get('error', '')}; more are logged once a minute"
            log.warning(event(endpoint, account=name[:100], code=status, client=client,
                              **fields))
        headers = {"Retry-After": "1"} if status == 429 else None
        return JSONResponse(answer, status_code=status, headers=headers)

    def _first_in_a_while(self, client: str, endpoint: str, status: int) -> bool:
        """Whether to log this refusal: the first of its kind from the client in
        REFUSAL_LOG_EVERY seconds."""
        now, key = time.monotonic(), (client, endpoint, status)
        if now - self._refusals_logged.get(key, -REFUSAL_LOG_EVERY) < REFUSAL_LOG_EVERY:
            return False
        if len(self._refusals_logged) > 10_000:  # many addresses: forget the old ones
            self._refusals_logged = {k: t for k, t in self._refusals_logged.items()
                                     if now - t < REFUSAL_LOG_EVERY}
        self._refusals_logged[key] = now
        return True

    async def _answer(self, request: Request, endpoint: str, name: str, client: str
                      ) -> tuple[int, dict[str, Any]]:
        if not self._limiter.hit(self._limit, client):
            return 429, {"error": f"too many requests (at most {PER_CLIENT} from one address)"}
        if not self.secret or self.loop is None:
            return 404, {"error": "reports and replies are off: set server.inbound_secret"}
        body = await self._body(request)
        if body is None:
            return 413, {"error": f"body: larger than {MAX_BODY} bytes"}
        params = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        if body and "application/x-www-form-urlencoded" in content_type:
            params.update(parse_qsl(body.decode("utf-8", errors="replace"),
                                    keep_blank_values=True))
        given = params.pop("auth", "").encode()
        if not hmac.compare_digest(given, self.secret):
            return 401, {"error": "unauthorized: " + ("wrong" if given else "missing") +
                         " auth (server.inbound_secret)"}
        # the config's accounts are told only to who knows the secret
        account = self.accounts.get(name)
        if account is None:
            return 404, {"error": f"no account named {name[:100]!r} in the config"}
        capability = "receipt_push" if endpoint == RECEIPTS else "reply_push"
        provider = provider_for(account.scheme)
        if capability not in provider.capabilities:
            what = "delivery reports" if endpoint == RECEIPTS else "replies"
            return 404, {"error": f"{provider.name} pushes no {what} (account {name!r})"}
        push = Push(request.method, params, body, content_type)
        try:
            if endpoint == RECEIPTS:
                recorded = await run_in_threadpool(self.loop.receipts.pushed, name, push)
                return 200, {"status": "recorded", "reports": recorded}
            replies = await run_in_threadpool(gateway(account.scheme).reply_push, account, push)
        except ProviderError as exc:
            return 400, {"error": exc.describe()}
        except OutboxError as exc:
            log.error(event("outbox_error", endpoint=endpoint, error=str(exc)))
            return 503, {"error": "the outbox cannot record it now; retry later"}
        if self.loop.acks is None:
            return 200, {"status": "ignored", "replies": len(replies),
                         "reason": "acks are off: the config names no alertmanager"}
        self.loop.hand_over(name, replies)
        return 200, {"status": "accepted", "replies": len(replies)}
