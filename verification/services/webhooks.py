"""Webhook delivery records: queued when an analysis finishes (or an archive flag is raised) for
a case submitted with a token that has a webhook, and updated after each attempt to send one.

The sending itself (address checks, signing, the HTTPS POST) is in ``verification.webhooks`` and
writes nothing; this module writes the rows."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import webhooks
from ..models import Analysis, AnalysisStatus, ApiSubmission, ApiToken, DeliveryStatus, WebhookDelivery

_EVENTS = {AnalysisStatus.DONE: "analysis.done", AnalysisStatus.FAILED: "analysis.failed"}


def _live_hook(token: ApiToken) -> bool:
    return bool(token.webhook_url) and token.revoked_at is None


def webhook_delivery_queue(*, token: ApiToken, event: str, payload: dict[str, Any],
                           analysis: Analysis | None = None) -> WebhookDelivery | None:
    """Write a pending delivery of ``event`` to ``token``'s webhook and send it once the caller's
    transaction commits (a rolled-back change never produces an event). None when this event was
    already queued for this token (the unique constraint on token, analysis and event)."""
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(token=token, analysis=analysis, event=event,
                                                      url=token.webhook_url, payload=payload)
    except IntegrityError:
        return None
    delivery_id = delivery.pk
    transaction.on_commit(lambda: webhooks.enqueue_delivery(delivery_id))
    return delivery


def webhook_deliveries_for_analyses(analyses: list[Analysis]) -> None:
    """Queue a delivery per finished analysis of a case submitted with a webhook token. Call inside
    the recording transaction; one query for the submitting tokens."""
    case_ids = {a.image.case_id for a in analyses}
    submissions = {s.case_id: s for s in ApiSubmission.objects.select_related("token").filter(case_id__in=case_ids)}
    for analysis in analyses:
        event = _EVENTS.get(AnalysisStatus(analysis.status))
        submission = submissions.get(analysis.image.case_id)
        if event is None or submission is None or not _live_hook(submission.token):
            continue
        webhook_delivery_queue(token=submission.token, analysis=analysis, event=event,
                               payload=webhooks.analysis_payload(analysis, event))


def webhook_delivery_for_case(*, case_id: int, event: str, payload: dict[str, Any]) -> WebhookDelivery | None:
    """Queue ``event`` (not about one analysis) to the webhook of the token that submitted the case."""
    submission = ApiSubmission.objects.select_related("token").filter(case_id=case_id).first()
    if submission is None or not _live_hook(submission.token):
        return None
    return webhook_delivery_queue(token=submission.token, event=event, payload=payload)


def webhook_deliver(delivery_id: int) -> webhooks.Attempt:
    """Make one attempt at a pending delivery and record its outcome. Safe to call twice: only a
    pending row is sent, and the outcome is written by a conditional update on that status."""
    delivery = WebhookDelivery.objects.select_related("token").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return webhooks.Attempt(status=delivery.status if delivery else DeliveryStatus.FAILED, retry=False)
    result = webhooks.attempt(delivery)
    attempts = delivery.attempts + 1
    if result.retry and attempts >= settings.VERITY_WEBHOOK_MAX_ATTEMPTS:
        result = webhooks.Attempt(status=DeliveryStatus.FAILED, retry=False, response_status=result.response_status,
                                  error=f"{result.error} (gave up after {attempts} attempts)")
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
        status=result.status, attempts=attempts, response_status=result.response_status,
        error=result.error[:2000], last_attempt_at=now,
        delivered_at=now if result.status == DeliveryStatus.SUCCEEDED else None)
    result.attempts = attempts
    if result.status != DeliveryStatus.SUCCEEDED:
        webhooks.logger.info("webhook delivery %s attempt %s: %s", delivery.pk, attempts, result.error)
    return result
