"""The dataset scan task's body (worker.tasks.scan_dataset): claim the scan, read the dataset while
beating, record the outcome. The claim, the beat and the outcome are services.dataset_scans."""

from __future__ import annotations

import logging

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from ml.errors import MLError
from verification import services
from verification.errors import VerityError

from .heartbeat import beating

logger = logging.getLogger(__name__)


def run_scan(dataset_id: int, *, claimant: str) -> str:
    """Scan the dataset if it is pending; "not pending" when there is nothing to do (a duplicate
    message, or a scan a live task holds). Every failure is recorded with a readable reason."""
    dataset = services.dataset_scan_begin(dataset_id=dataset_id, claimant=claimant)
    if dataset is None:
        return "not pending"
    reason = ""
    try:
        # The beat covers phases without progress (unpacking, listing, fingerprinting): if this
        # worker is killed, the sweeper sees the silence and sends the scan again.
        with beating(lambda: services.dataset_scan_heartbeat(dataset_id=dataset_id, claimant=claimant),
                     every_s=settings.VERITY_CLAIM_HEARTBEAT_S, name=f"scan-heartbeat-{dataset_id}"):
            root, analysis, digest = services.dataset_scan_read(
                dataset, on_progress=services.progress_reporter(dataset_id=dataset_id, claimant=claimant))
    except SoftTimeLimitExceeded:
        reason = (f"Scanning took longer than {settings.VERITY_TRAINING_SOFT_TIME_LIMIT} s and was stopped. "
                  "Register a smaller dataset, or raise VERITY_TRAINING_SOFT_TIME_LIMIT.")
    except (MLError, VerityError) as exc:
        reason = getattr(exc, "message", None) or str(exc)
    except Exception as exc:  # noqa: BLE001 - anything else must still leave a readable failure
        logger.exception("scan of dataset %s failed", dataset_id)
        reason = f"Internal error while scanning: {type(exc).__name__}: {exc}"
    if reason:
        services.dataset_scan_fail(dataset_id=dataset_id, claimant=claimant, reason=reason)
        return "failed"
    if services.dataset_scan_finish(dataset_id=dataset_id, claimant=claimant, root=root, analysis=analysis,
                                    digest=digest) is None:
        return "taken back"
    return "ready"
