"""What serve's delivery process sends back for serve's metrics and account health: every field
on_result and on_report read survives the trip (pickled, as over the control connection)."""

from __future__ import annotations

import pickle

from sms_notify.deliverer import pack, pack_report, unpack, unpack_report
from sms_notify.errors import Category, ProviderError
from sms_notify.model import DeliveryReport, Receipt, Recipient
from sms_notify.outbox import Job


def trip(job: Job, receipt: Receipt | None) -> tuple[Job, Receipt | None, float]:
    return unpack(*pickle.loads(pickle.dumps(pack(job, receipt, 0.25))))


def test_a_sent_job_keeps_what_metrics_and_health_read() -> None:
    job = Job("oncall", "+447700900123", "FIRING x", ("primary",), id=7, state="sent",
              account="primary", message_id="m-1")
    receipt = Receipt(Recipient("+447700900123", "ref"), "m-1", parts=2, account="primary",
                      request_ref="ref")
    got, back, seconds = trip(job, receipt)
    assert (got.id, got.route, got.state, got.account, got.message_id) == (
        7, "oncall", "sent", "primary", "m-1")
    assert back is not None and (back.account, back.message_id, back.parts, back.error,
                                 back.request_ref) == ("primary", "m-1", 2, None, "ref")
    assert seconds == 0.25


def test_an_error_keeps_its_category_code_and_unknown_outcome() -> None:
    error = ProviderError(Category.UNAVAILABLE, "gw answered HTTP 503", code=503,
                          provider="FastSMS", unknown_outcome=True)
    job = Job("oncall", "+447700900123", "x", ("primary",), id=3, state="pending",
              error=error.describe())
    _, back, _ = trip(job, Receipt(Recipient("+447700900123"), error=error, account="primary"))
    assert back is not None and back.error is not None
    assert back.error.describe() == "unavailable: 503 gw answered HTTP 503"
    assert (back.error.category, back.error.provider, back.error.unknown_outcome) == (
        Category.UNAVAILABLE, "FastSMS", True)


def test_a_job_ended_without_a_request() -> None:
    job = Job("oncall", "+447700900123", "x", ("primary",), id=4, state="dead",
              error="expired after max_age (6h): never sent")
    got, back, _ = trip(job, None)
    assert back is None and (got.state, got.error) == ("dead", job.error)


def test_a_delivery_report_keeps_what_metrics_read() -> None:
    """The job's account is the one that took the text (the route's second here)."""
    job = Job("oncall", "+447700900123", "x", ("primary", "backup"), id=9, state="sent",
              account_index=1, message_id="m-9")
    report = DeliveryReport("delivered", "m-9", "ref-9", at=1000.0)
    got, back, seconds = unpack_report(*pickle.loads(pickle.dumps(
        pack_report(job, report, 4.5))))
    assert (got.id, got.route, got.account_name) == (9, "oncall", "backup")
    assert (back.state, back.message_id, back.reference, seconds) == (
        "delivered", "m-9", "ref-9", 4.5)
