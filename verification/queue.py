"""Handing work to the Celery workers, by task name so this app never imports the worker package."""

from __future__ import annotations

import logging

from celery import current_app

logger = logging.getLogger(__name__)

ANALYSE_TASK = "worker.tasks.analyse_image"


def enqueue_analysis(analysis_id: int) -> None:
    current_app.send_task(ANALYSE_TASK, args=[analysis_id], queue="inference")
    logger.info("enqueued analysis %s", analysis_id)
