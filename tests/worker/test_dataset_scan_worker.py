"""Dataset scans on real worker processes (issue 16): a worker on the training queue scans a dataset
registered through a service, and a scan held by a worker that died is taken back by the sweeper
(celery beat) of a live worker and scanned once more, with its counts replaced, not added to."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.worker_process import celery_worker, wait_for
from verification import services
from verification.models import AuditEvent, Dataset, ScanStatus

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_superuser("admin", password="pw-admin-123!")


@pytest.fixture
def data(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    from ml.data.demo import generate_demo_dataset

    return generate_demo_dataset(tmp_path_factory.mktemp("scan-data") / "d", pairs=8, size=64, seed=7)


def _finished(pk: int) -> Dataset | None:
    dataset = Dataset.objects.get(pk=pk)
    return None if dataset.is_scanning else dataset


def test_a_training_worker_scans_a_registered_dataset(admin, data, tmp_path):
    dataset = services.dataset_register(actor=admin, name="scanned", path=str(data))  # sent on commit
    assert dataset.status == ScanStatus.PENDING
    log = tmp_path / "training.log"
    with celery_worker(log, queues="training") as proc:
        done = wait_for(lambda: _finished(dataset.pk), timeout=120, proc=proc, log_path=log)
    assert done.status == ScanStatus.READY, done.scan_error
    assert done.files_seen == done.files_total == 16 and done.analysis["by_class"] == {"real": 8, "ai_generated": 8}
    assert done.scan_attempts == 1 and "worker.tasks.scan_dataset" in log.read_text()


def test_a_scan_held_by_a_dead_worker_is_taken_back_by_the_sweeper_and_counted_once(admin, data, tmp_path,
                                                                                    monkeypatch):
    # The dead worker had taken the message with it: none is left in the broker for this scan.
    monkeypatch.setattr("verification.queue.enqueue_dataset_scan", lambda pk: True)
    dataset = services.dataset_register(actor=admin, name="orphan", path=str(data))
    monkeypatch.undo()
    # A worker claimed the scan, reported 5 files, then died with SIGKILL: its claim stopped beating.
    services.dataset_scan_begin(dataset_id=dataset.pk, claimant="killed-worker-task")
    services.dataset_scan_progress(dataset_id=dataset.pk, claimant="killed-worker-task", seen=5, total=16)
    Dataset.objects.filter(pk=dataset.pk).update(scan_beat_at=timezone.now() - timedelta(hours=1))
    log = tmp_path / "worker.log"
    env = {"VERITY_SWEEP_INTERVAL_S": "2"}
    with celery_worker(log, extra_env=env, beat=True) as proc:  # both queues: the sweeper runs on inference
        done = wait_for(lambda: _finished(dataset.pk), timeout=180, proc=proc, log_path=log)
    assert done.status == ScanStatus.READY, done.scan_error
    assert done.scan_attempts == 2 and done.files_seen == done.files_total == 16
    assert done.analysis["total"] == 16
    requeued = AuditEvent.objects.get(action="dataset.scan_requeued", object_id=str(dataset.pk))
    assert requeued.details["was"] == "scanning" and "stuck" in requeued.details["reason"]  # the sweeper's words
    assert AuditEvent.objects.filter(action="dataset.scan_ready", object_id=str(dataset.pk)).count() == 1
