"""Every periodic task in the beat schedule names a task the workers have and a queue that the
production workers (docker/entrypoint.sh) and the embedded launcher consume."""

import re

from django.conf import settings

from portal.celery import app


def _queues(text: str) -> set[str]:
    return {q for found in re.findall(r'-Q"?,?\s*"?([a-z,]+)', text) for q in found.split(",")}


def test_every_scheduled_task_is_registered_and_routed_to_a_served_queue():
    import worker.tasks  # noqa: F401 - registers the tasks, as the worker does

    production = _queues((settings.BASE_DIR / "docker" / "entrypoint.sh").read_text())
    embedded = _queues((settings.BASE_DIR / "portal" / "launcher.py").read_text())
    assert production == embedded == {"inference", "training"}
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"worker.tasks.requeue_stuck", "worker.tasks.reevaluate_active_model"} <= names
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"{name}: {entry['task']} is not a registered task"
        assert entry["options"]["queue"] in production, f"{name}: no worker consumes {entry['options']['queue']}"
        assert entry["schedule"] > 0
