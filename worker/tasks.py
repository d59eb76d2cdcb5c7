"""Worker tasks. Each takes an id, is safe to run twice, and records its outcome through services."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from ml.errors import MLError
from ml.explain import heatmap_image, png_bytes, render_overlay
from verification import selectors, services, webhooks
from verification.errors import VerityError

from . import model_cache

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="worker.tasks.analyse_image", acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=5)
def analyse_image(self, analysis_id: int) -> str:  # type: ignore[no-untyped-def]
    analysis = services.analysis_start(analysis_id=analysis_id)
    if analysis is None:
        return "already finished"
    try:
        version, predictor = model_cache.active_predictor()
        data = selectors.image_bytes(analysis.image)
        prediction = predictor.predict_bytes([data], explain=True,
                                             max_pixels=settings.VERITY_MAX_IMAGE_PIXELS)[0]
        assert prediction.heatmap is not None and prediction.crop_image is not None
        outcome = services.AnalysisOutcome(
            label=prediction.label,
            probability_ai=prediction.probability_ai,
            confidence=prediction.confidence,
            threshold=prediction.threshold,
            crop_box={"left": prediction.crop.left, "top": prediction.crop.top,
                      "width": prediction.crop.width, "height": prediction.crop.height},
            timings_ms={k: round(v, 2) for k, v in prediction.timings_ms.items()},
            heatmap_png=png_bytes(heatmap_image(prediction.heatmap)),
            overlay_png=png_bytes(render_overlay(prediction.crop_image, prediction.heatmap)),
        )
        services.analysis_record(analysis_id=analysis_id, model_version_id=version.pk, outcome=outcome)
        return prediction.label
    except SoftTimeLimitExceeded:
        services.analysis_fail(analysis_id=analysis_id, reason=(
            f"The analysis took longer than {settings.CELERY_TASK_SOFT_TIME_LIMIT} s and was stopped. "
            "Try again; if it keeps happening, the image may be too large for this worker."))
        return "failed"
    except (MLError, VerityError) as exc:
        services.analysis_fail(analysis_id=analysis_id, reason=str(exc))
        return "failed"
    except (OperationalError, InterfaceError):
        raise  # transient database trouble: Celery retries with back-off
    except Exception as exc:  # noqa: BLE001 - anything else must still leave a readable failure
        logger.exception("analysis %s failed", analysis_id)
        services.analysis_fail(analysis_id=analysis_id,
                               reason=f"Internal error while analysing: {type(exc).__name__}: {exc}")
        return "failed"


@shared_task(bind=True, name="worker.tasks.deliver_webhook", acks_late=True, max_retries=None,
             autoretry_for=(OperationalError, InterfaceError), retry_backoff=True,
             retry_kwargs={"max_retries": 10})  # database trouble: bounded; receiver trouble: see below
def deliver_webhook(self, delivery_id: int) -> str:  # type: ignore[no-untyped-def]
    """One attempt at a webhook delivery; retried with growing delays until it succeeds or the
    delivery gives up (VERITY_WEBHOOK_MAX_ATTEMPTS, counted on the row, not by Celery)."""
    attempt = webhooks.deliver(delivery_id)
    if attempt.retry:
        raise self.retry(countdown=webhooks.backoff_seconds(attempt.attempts))
    return attempt.status
