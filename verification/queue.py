"""Handing work to the Celery workers, by task name so this app never imports the worker package."""

from __future__ import annotations

import logging

from celery import current_app

logger = logging.getLogger(__name__)

ANALYSE_TASK = "worker.tasks.analyse_image"


def enqueue_analysis(analysis_id: int) -> bool:
    """Send the analysis task. Never raises: if the broker is unreachable the analysis stays
    queued in the database, and the periodic sweeper (worker.tasks.requeue_stuck) sends it again
    once the broker is back. The submission that called this has already been committed."""
    try:
        current_app.send_task(ANALYSE_TASK, args=[analysis_id], queue="inference")
    except Exception:  # noqa: BLE001 - kombu raises several types for an unreachable broker
        logger.warning("could not enqueue analysis %s; the sweeper will retry", analysis_id, exc_info=True)
        return False
    logger.info("enqueued analysis %s", analysis_id)
    return True


TRAIN_TASK = "worker.tasks.train_model"


def enqueue_training(run_id: int) -> bool:
    """Send the training task to the training queue. Never raises: on a broker outage the run
    stays queued and an admin can cancel it and start another."""
    try:
        current_app.send_task(TRAIN_TASK, args=[run_id], queue="training")
    except Exception:  # noqa: BLE001 - kombu raises several types for an unreachable broker
        logger.warning("could not enqueue training run %s", run_id, exc_info=True)
        return False
    logger.info("enqueued training run %s", run_id)
    return True
