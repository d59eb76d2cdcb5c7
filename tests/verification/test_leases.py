"""Dataset scans and training runs are taken back, re-sent and given up by one rule
(verification.services.leases.Lease): each kind is driven through the same story here, so a change
to the shared rule shows in both, and each kind's own twist (a cancelled run is not run again; a
pending scan waits while a training run keeps the queue busy) is pinned."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from verification import services
from verification.models import AuditEvent, Dataset, ScanStatus, TrainingRun, TrainingStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """What was sent to the training queue (scans and runs), instead of a broker."""
    sent: list[tuple[str, int]] = []

    def send_scan(pk: int) -> bool:
        sent.append(("scan", pk))
        return True

    monkeypatch.setattr("verification.queue.enqueue_dataset_scan", send_scan)
    monkeypatch.setattr("verification.queue.enqueue_training", lambda pk: sent.append(("train", pk)))
    return sent


def _dataset(**fields: Any) -> Dataset:
    name = f"set-{Dataset.objects.count()}"
    return Dataset.objects.create(name=name, path=f"/data/{name}", fingerprint="f" * 64, **fields)


class Scans:
    kind, running, waiting, dead_after = "scan", ScanStatus.SCANNING, ScanStatus.PENDING, "VERITY_CLAIM_DEAD_AFTER_S"
    requeued, beat, attempts = "dataset.scan_requeued", "scan_beat_at", "scan_attempts"
    model = Dataset

    @staticmethod
    def make(**fields: Any) -> Dataset:
        return _dataset(scan_claimed_by="task", scan_beat_at=timezone.now(), **fields)

    stuck = staticmethod(services.dataset_scans_stuck)

    @staticmethod
    def requeue(pk: int) -> bool:
        return services.dataset_scan_requeue(dataset_id=pk, reason="test")

    @staticmethod
    def heartbeat(pk: int) -> bool:
        return services.dataset_scan_heartbeat(dataset_id=pk, claimant="task")


class Runs:
    kind, running, waiting = "train", TrainingStatus.RUNNING, TrainingStatus.QUEUED
    dead_after = "VERITY_TRAINING_STALE_S"
    requeued, beat, attempts = "training.requeued", "updated_at", "attempts"
    model = TrainingRun

    @staticmethod
    def make(**fields: Any) -> TrainingRun:
        return TrainingRun.objects.create(dataset=_dataset(status=ScanStatus.READY), hyperparameters={}, epochs=1,
                                          **fields)

    stuck = staticmethod(services.training_runs_stuck)

    @staticmethod
    def requeue(pk: int) -> bool:
        return services.training_run_requeue(run_id=pk, reason="test")

    @staticmethod
    def heartbeat(pk: int) -> bool:
        return services.training_run_heartbeat(run_id=pk)


KINDS = [pytest.param(Scans, id="dataset-scan"), pytest.param(Runs, id="training-run")]


def _silent_for(kind: Any, job: Any, seconds: float) -> None:
    kind.model.objects.filter(pk=job.pk).update(**{kind.beat: timezone.now() - timedelta(seconds=seconds)})


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_whose_task_died_is_taken_back_sent_again_once_and_audited(kind, settings, sent,
                                                                         django_capture_on_commit_callbacks):
    job = kind.make(status=kind.running, **{kind.attempts: 1})
    dead_after = getattr(settings, kind.dead_after)
    assert kind.heartbeat(job.pk) is True and kind.stuck(queued_for_s=3600) == []  # it beats: alive
    _silent_for(kind, job, dead_after + 1)
    assert kind.stuck(queued_for_s=3600) == [job.pk]
    with django_capture_on_commit_callbacks(execute=True):
        assert kind.requeue(job.pk) is True
    job.refresh_from_db()
    assert job.status == kind.waiting and sent == [(kind.kind, job.pk)]
    event = AuditEvent.objects.filter(action=kind.requeued).get()
    assert event.details == {"reason": "test", "was": kind.running, "attempts": 1}
    assert kind.heartbeat(job.pk) is False  # no task holds it now
    assert kind.stuck(queued_for_s=3600) == []  # just sent: its wait starts again


@pytest.mark.parametrize("kind", KINDS)
def test_a_waiting_job_whose_message_was_lost_is_re_sent_and_its_wait_restarts(kind, sent,
                                                                               django_capture_on_commit_callbacks):
    job = kind.make(status=kind.waiting)
    _silent_for(kind, job, 300)
    assert kind.stuck(queued_for_s=120) == [job.pk]
    with django_capture_on_commit_callbacks(execute=True):
        assert kind.requeue(job.pk) is True
    assert sent == [(kind.kind, job.pk)]
    assert AuditEvent.objects.filter(action=kind.requeued).get().details == {"reason": "test", "was": kind.waiting}
    assert kind.stuck(queued_for_s=120) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_waiting_job_behind_a_live_one_is_not_re_sent(kind, sent):
    kind.make(status=kind.running)  # beating now
    waiting = kind.make(status=kind.waiting)
    _silent_for(kind, waiting, 300)
    assert kind.stuck(queued_for_s=120) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_that_kills_its_worker_every_time_is_given_up_with_a_reason(kind, settings, sent):
    settings.VERITY_TRAINING_MAX_ATTEMPTS = 2
    job = kind.make(status=kind.running, **{kind.attempts: 2})
    _silent_for(kind, job, getattr(settings, kind.dead_after) + 1)
    assert kind.requeue(job.pk) is False
    job.refresh_from_db()
    assert job.status == "failed" and sent == []
    reason = job.scan_error if kind is Scans else job.error
    assert "stopped reporting" in reason and "after 2 attempt(s)" in reason
    assert not AuditEvent.objects.filter(action=kind.requeued).exists()


def test_a_dead_run_that_was_asked_to_cancel_is_cancelled_not_run_again(settings, sent):
    run = Runs.make(status=TrainingStatus.RUNNING, attempts=1, cancel_requested=True)
    _silent_for(Runs, run, settings.VERITY_TRAINING_STALE_S + 1)
    assert services.training_run_requeue(run_id=run.pk, reason="test") is False
    run.refresh_from_db()
    assert run.status == TrainingStatus.CANCELLED and "stopped reporting" in run.error and sent == []


def test_a_pending_scan_waits_while_a_training_run_keeps_the_queue_busy(sent):
    scan = _dataset(status=ScanStatus.PENDING)
    Dataset.objects.filter(pk=scan.pk).update(scan_beat_at=timezone.now() - timedelta(seconds=300))
    assert services.dataset_scans_stuck(queued_for_s=120) == [scan.pk]
    Runs.make(status=TrainingStatus.RUNNING)
    assert services.dataset_scans_stuck(queued_for_s=120) == []
