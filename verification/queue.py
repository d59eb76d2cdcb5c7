"""Handing work to the Celery workers, by task name so this app never imports the worker package."""

from __future__ import annotations

import logging

from collections.abc import Sequence
from typing import Any

from celery import current_app
from django.conf import settings

logger = logging.getLogger(__name__)

ANALYSE_TASK = "worker.tasks.analyse_image"


def _send(task: str, object_id: int, queue: str, what: str, kwargs: dict[str, Any] | None = None) -> bool:
    """Send ``task`` for one row. Never raises: a broker outage is logged and reported as False,
    and the row stays in the database for a retry."""
    try:
        current_app.send_task(task, args=[object_id], kwargs=kwargs or {}, queue=queue)
    except Exception:  # noqa: BLE001 - kombu raises several types for an unreachable broker
        logger.warning("could not enqueue %s %s", what, object_id, exc_info=True)
        return False
    logger.info("enqueued %s %s", what, object_id)
    return True


def enqueue_analysis(analysis_id: int) -> bool:
    """Send the analysis task. If the broker is unreachable the analysis stays queued in the
    database, and the periodic sweeper (worker.tasks.requeue_stuck) sends it again once the broker
    is back. The submission that called this has already been committed."""
    return _send(ANALYSE_TASK, analysis_id, "inference", "analysis")


def enqueue_analyses(analysis_ids: Sequence[int]) -> int:
    """Send the analyses of one submission: one message per ``VERITY_BATCH_SIZE`` of them, each
    naming its batch, so a worker runs a batch per message instead of finding most messages' work
    already done by an earlier batch. Returns how many analyses were handed over; the others stay
    queued in the database for the sweeper, as with :func:`enqueue_analysis`."""
    ids = list(analysis_ids)
    size = max(1, settings.VERITY_BATCH_SIZE)
    sent = 0
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        if _send(ANALYSE_TASK, chunk[0], "inference", "analysis",
                 kwargs={"batch_ids": chunk[1:]} if len(chunk) > 1 else None):
            sent += len(chunk)
    return sent


TRAIN_TASK = "worker.tasks.train_model"


def enqueue_training(run_id: int) -> bool:
    """Send the training task to the training queue. On a broker outage the run stays queued and
    an admin can cancel it and start another."""
    return _send(TRAIN_TASK, run_id, "training", "training run")


EVALUATE_TASK = "worker.tasks.evaluate_model"


def enqueue_evaluation(evaluation_id: int) -> bool:
    """Send the evaluation task to the training queue (it reads a whole dataset or every reviewed
    image, so it must not wait in front of analyses). On a broker outage the evaluation stays
    queued; an admin can request another."""
    return _send(EVALUATE_TASK, evaluation_id, "training", "evaluation")


SCAN_TASK = "worker.tasks.scan_dataset"


def enqueue_dataset_scan(dataset_id: int) -> bool:
    """Send a dataset's scan to the training queue (it reads every image of the dataset). On a
    broker outage the dataset stays pending and the sweeper sends it again."""
    return _send(SCAN_TASK, dataset_id, "training", "dataset scan")


STABILITY_TASK = "worker.tasks.reshare_stability"


def enqueue_stability(check_id: int) -> bool:
    """Send a re-share stability check to the inference queue (it runs the model, like an analysis).
    On a broker outage the check stays queued; the reviewer can ask again once it is back."""
    return _send(STABILITY_TASK, check_id, "inference", "stability check")
