# mypy: disable-error-code="empty-body"
# (a spec is a signature and a docstring: pluggy never calls its body)
"""Every hook of sms-notify, in one place.

A provider plugin is a module (or object) with ``@sms_notify.hookimpl`` functions, listed under
the ``sms_notify`` entry-point group. It registers its gateways with
`sms_notify_register_providers` and answers the send, balance, status, lookup and login hooks,
and where its gateway reports what became of a text or passes replies on, the receipt and
reply hooks (docs/design.md, Decision 15).
The core calls those only for accounts of a scheme the plugin registered (manager.Gateway), so
an implementation needs no check of ``account.scheme`` unless it registers several schemes.
A provider speaks its wire protocol only: batching, retries, failover and dedup are the core's.
docs/plugins.md is the guide, with every hook below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .model import (
        Account, Balance, DeliveryReport, DeliveryStatus, Feed, Provider, Push, Receipt, Reply,
        Submission,
    )
    from .sandbox import Simulator

PROJECT = "sms_notify"
_spec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@_spec
def sms_notify_register_providers(register: Callable[[Provider], None]) -> None:
    """Declare the gateways this plugin speaks to.

    Called once, when plugins load. Call ``register(Provider(...))`` for each URL scheme; the
    Provider carries the limits the core's policy needs (recipients per request, parts, sender
    rules, options). A scheme registered twice keeps the first and warns.
    """


@_spec(firstresult=True)
def sms_notify_send(account: Account, submission: Submission) -> Sequence[Receipt]:
    """Deliver one request's worth of text through the gateway: the notify hook.

    :param account: the account, of a scheme this plugin registered.
    :param submission: one text for at most ``Provider.max_recipients`` recipients, already
        normalised (E.164), shortened and checked against the sender rules.
    :return: one Receipt per recipient, with the gateway's message id or a per-recipient
        ProviderError.
    :raises ProviderError: when the whole request failed and nothing was sent (credentials,
        credit, 5xx, a refused connection), with the gateway's own code and text; with
        `unknown_outcome` when the gateway may have sent it (no answer, an answer that cannot
        be read), which is never sent again blindly.
    """


@_spec(firstresult=True)
def sms_notify_balance(account: Account) -> Balance:
    """Ask the gateway for the account's credit.

    Only called for providers that declare the "balance" capability.
    :raises ProviderError: as for sms_notify_send.
    """


@_spec(firstresult=True)
def sms_notify_status(account: Account, message_id: str, feed: Feed) -> DeliveryStatus:
    """Look up a message's delivery state by what `send` printed.

    Only called for providers that declare the "status" capability.
    :param feed: where the account's change feed was read to, for a gateway that answers
        status by a feed of changes (MyMobileAPI's CHANGEID): read on from it, and advance it.
    :raises ProviderError: unknown id (category request), or as for sms_notify_send.
    """


@_spec(firstresult=True)
def sms_notify_lookup(
    account: Account, references: Sequence[str], feed: Feed
) -> dict[str, bool]:
    """Tell which of our references the gateway has accepted: after a send whose outcome is
    unknown (no answer, an answer that cannot be read), and after a crash left them in doubt.

    Only called for providers that declare the "lookup" capability (a gateway that keeps our
    reference: server2sms transaction reference, MyMobileAPI customerid, 24x UserField).
    :param feed: as for sms_notify_status.
    :return: reference -> True when the gateway has a trace of it. Raise rather than answer
        False when the gateway could not tell (a False sends the text again).
    """


@_spec(firstresult=True)
def sms_notify_check_login(account: Account) -> bool:
    """Check the credentials online without sending (providers with the "login" capability).

    :return: True when the gateway accepts them; raise ProviderError(auth) with its text if not.
    """


@_spec(firstresult=True)
def sms_notify_receipts(
    account: Account, texts: Sequence[Receipt], feed: Feed
) -> Sequence[DeliveryReport]:
    """Ask the gateway what became of texts it took (providers with the "receipts" capability).

    `serve` calls it a few seconds after a send, and again later while no report is final.
    :param texts: what the sends returned, for texts with no final report yet: the gateway's
        `message_id`, our `recipient.reference` and the request's `request_ref`.
    :param feed: as for sms_notify_status.
    :return: a DeliveryReport for each text whose fate is final, naming it by `reference` or
        `message_id`; leave out those still on their way.
    :raises ProviderError: as for sms_notify_status; the texts are asked about again later.
    """


@_spec(firstresult=True)
def sms_notify_receipt_push(account: Account, push: Push) -> Sequence[DeliveryReport]:
    """Read a delivery report the gateway pushed to `serve` at ``/receipts/ACCOUNT``
    (providers with the "receipt_push" capability, which send `Submission.receipt_url` with
    each text). The core has checked the request's secret.

    :return: the final reports it carries; none for a report that is not final (buffered).
    :raises ProviderError: category request, for a request that is not such a report.
    """


@_spec(firstresult=True)
def sms_notify_replies(account: Account, feed: Feed) -> Sequence[Reply]:
    """Read the replies that came in since the last call (providers with the "replies"
    capability), from the gateway's feed of them, read on from ``feed.position``.

    :param feed: this account's replies feed (not the one of sms_notify_status).
    :return: the replies, oldest first, each with the feed's position after it as `cursor`.
        Do not advance the feed: the core does once it has recorded them, so a reply read
        twice acts once and none is lost to a crash.
    :raises ProviderError: as for sms_notify_status; asked again at the next poll.
    """


@_spec(firstresult=True)
def sms_notify_reply_push(account: Account, push: Push) -> Sequence[Reply]:
    """Read a reply the gateway forwarded to `serve` at ``/inbound/ACCOUNT`` (providers with the
    "reply_push" capability). The core has checked the request's secret.

    :return: the replies it carries.
    :raises ProviderError: category request, for a request that is not a forwarded reply.
    """


@_spec
def sms_notify_register_simulators(register: Callable[[str, type[Simulator[Any]]], None]) -> None:
    """Bring a simulator of your gateway to ``sms-notify sandbox``.

    Called once when the sandbox starts, never by the other commands. Call
    ``register(scheme, SimulatorClass)`` with a subclass of ``sms_notify.sandbox.Simulator``:
    one method per operation of the gateway's API, answering in its real wire format at its
    documented paths (docs/sandbox.md). Import it inside this function: only the sandbox
    needs it.
    """
