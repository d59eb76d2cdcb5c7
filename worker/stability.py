"""The re-share stability task: re-judge an image under ml.reshare.stability_set with the active
model, in one batch, and record which re-shares flip its verdict."""

from __future__ import annotations

import logging
import time
import uuid

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from ml.errors import MLError
from ml.stability import judge_reshares
from verification import selectors, services
from verification.errors import VerityError

from . import model_cache

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="worker.tasks.reshare_stability", acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=5)
def reshare_stability(self, check_id: int) -> str:  # type: ignore[no-untyped-def]
    """Run one stability check. Safe to deliver twice: only a queued check (or this task's own
    claim) is run."""
    claimant = self.request.id or f"local-{uuid.uuid4()}"
    check = services.stability_begin(check_id=check_id, claimant=claimant)
    if check is None:
        return "not queued"
    try:
        version, predictor = model_cache.active_predictor()
        started = time.perf_counter()
        outcome = judge_reshares(predictor, selectors.image_bytes(check.image),
                                 max_pixels=settings.VERITY_MAX_IMAGE_PIXELS)
        cost_ms = (time.perf_counter() - started) * 1e3
    except (MLError, VerityError, OSError) as exc:
        services.stability_fail(check_id=check_id, reason=f"The stability check could not run: {exc}")
        return "failed"
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:  # noqa: BLE001 - anything else must still leave a readable failure
        logger.exception("stability check %s failed", check_id)
        services.stability_fail(check_id=check_id, reason=f"Internal error: {type(exc).__name__}: {exc}")
        return "failed"
    services.stability_finish(check_id=check_id, model_version_id=version.pk, label=outcome.label,
                              probability_ai=outcome.probability_ai, results=outcome.results,
                              cost_ms=round(cost_ms, 1))
    return "done"
