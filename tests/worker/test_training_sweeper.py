"""The sweeper and training runs: a run whose message was lost is sent again and finishes; a run
whose worker died is taken back and resumed from its last finished epoch, or failed once it has
used up its attempts; a live run is left alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.dataset_scans import scanned
from verification import queue, services
from verification.models import AuditEvent, TrainingRun, TrainingStatus
from worker.tasks import requeue_stuck, train_model

pytestmark = pytest.mark.django_db

TINY = {"epochs": 2, "batch_size": 8, "input_size": 64, "train_crop": 32}


@pytest.fixture
def admin(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_superuser("admin", password="pw-admin-123!")


@pytest.fixture
def dataset(admin, tmp_path_factory):  # type: ignore[no-untyped-def]
    from ml.data.demo import generate_demo_dataset

    data = generate_demo_dataset(tmp_path_factory.mktemp("sweep-data") / "d", pairs=10, size=64, seed=2)
    return scanned(services.dataset_register(actor=admin, name="sweep", path=str(data)))


@pytest.fixture
def worker_settings(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.VERITY_MODEL_DIR = tmp_path / "models"
    settings.VERITY_DEVICE = "cpu"
    return settings


def _age(run: TrainingRun, seconds: float) -> None:
    TrainingRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds))


def test_a_queued_run_whose_message_was_lost_is_sent_again_and_finishes(
        admin, dataset, sent_tasks, worker_settings, django_capture_on_commit_callbacks):
    def broker_down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError("broker down")

    original = queue.current_app.send_task
    queue.current_app.send_task = broker_down  # type: ignore[method-assign]
    with django_capture_on_commit_callbacks(execute=True):
        run = services.training_run_start(actor=admin, dataset=dataset, hyperparameters={**TINY, "epochs": 1})
    queue.current_app.send_task = original  # type: ignore[method-assign]
    assert sent_tasks == [] and TrainingRun.objects.get().status == TrainingStatus.QUEUED

    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stuck() == 0  # not waiting long enough yet
    _age(run, worker_settings.VERITY_SWEEP_QUEUED_AFTER_S + 5)
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stuck() == 1
    assert sent_tasks == [("worker.tasks.train_model", [run.pk], "training")]
    event = AuditEvent.objects.get(action="training.requeued")
    assert event.details["was"] == "queued"
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stuck() == 0  # the re-send restarted its wait
    assert train_model(*sent_tasks[0][1]) == "succeeded"
    run.refresh_from_db()
    assert run.status == TrainingStatus.SUCCEEDED and run.attempts == 1 and run.model_version is not None


def test_a_queued_run_waiting_behind_a_live_run_is_not_sent_again(admin, dataset, sent_tasks, worker_settings,
                                                                  django_capture_on_commit_callbacks):
    busy = services.training_run_start(actor=admin, dataset=dataset)
    services.training_run_begin(run_id=busy.pk, out_dir="/tmp/busy")
    waiting = services.training_run_start(actor=admin, dataset=dataset)
    _age(waiting, worker_settings.VERITY_SWEEP_QUEUED_AFTER_S + 5)
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stuck() == 0
    assert sent_tasks == []
    _age(busy, worker_settings.VERITY_TRAINING_STALE_S + 5)  # the busy run's worker died
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stuck() == 2
    assert sorted(args[0] for _, args, _ in sent_tasks) == [busy.pk, waiting.pk]


def _die_in_epoch_two(run: TrainingRun, out_dir: Path) -> None:
    """What a worker killed with SIGKILL in epoch 2 leaves: the run row running, last.pt of epoch 1."""
    from ml.errors import TrainingCancelled
    from ml.train import train
    from worker.training import training_config

    calls = []

    def killed_in_second_epoch() -> bool:
        calls.append(1)
        return len(calls) > 2  # two steps per epoch (10 training images at batch 8)

    with pytest.raises(TrainingCancelled):
        train(training_config(run, out_dir), show_bar=False, should_stop=killed_in_second_epoch)


def test_a_run_whose_worker_died_is_taken_back_and_resumed_from_its_last_epoch(
        admin, dataset, sent_tasks, worker_settings, django_capture_on_commit_callbacks):
    out_dir = Path(worker_settings.VERITY_MODEL_DIR) / "runs"
    run = services.training_run_start(actor=admin, dataset=dataset, hyperparameters=TINY)
    claimed = services.training_run_begin(run_id=run.pk, out_dir=out_dir / str(run.pk))
    _die_in_epoch_two(claimed, out_dir / str(run.pk))
    assert (out_dir / str(run.pk) / "last.pt").is_file()

    assert requeue_stuck() == 0 and train_model(run.pk) == "not queued"  # alive as far as anyone knows
    _age(run, worker_settings.VERITY_TRAINING_STALE_S + 5)
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stuck() == 1
    run.refresh_from_db()
    assert run.status == TrainingStatus.QUEUED and sent_tasks == [("worker.tasks.train_model", [run.pk], "training")]
    assert AuditEvent.objects.get(action="training.requeued").details == {
        "reason": "stuck (message lost or worker gone); sent to the queue again", "was": "running", "attempts": 1}

    assert train_model(run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.status == TrainingStatus.SUCCEEDED and run.attempts == 2 and run.epoch == 2
    log = (out_dir / str(run.pk) / "metrics.jsonl").read_text()
    assert '"event": "resumed", "epoch": 1, "step": 2' in log


def test_a_redelivered_task_takes_back_a_run_only_once_its_worker_stopped_reporting(admin, dataset, sent_tasks,
                                                                                    worker_settings):
    run = services.training_run_start(actor=admin, dataset=dataset)
    services.training_run_begin(run_id=run.pk, out_dir="/tmp/first")
    assert services.training_run_begin(run_id=run.pk, out_dir="/tmp/first") is None  # a live duplicate
    _age(run, worker_settings.VERITY_TRAINING_STALE_S + 5)
    again = services.training_run_begin(run_id=run.pk, out_dir="/tmp/first")
    assert again is not None and again.status == TrainingStatus.RUNNING and again.attempts == 2
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="training.").order_by("id")] == [
        "training.triggered", "training.started", "training.requeued", "training.started"]
    assert sent_tasks == []  # the redelivered message itself carries on; nothing else is sent_tasks


def test_a_run_that_keeps_losing_its_worker_fails_with_a_reason(admin, dataset, sent_tasks, worker_settings,
                                                                 django_capture_on_commit_callbacks):
    worker_settings.VERITY_TRAINING_MAX_ATTEMPTS = 2
    run = services.training_run_start(actor=admin, dataset=dataset)
    for _ in range(2):
        assert services.training_run_begin(run_id=run.pk, out_dir="/tmp/x") is not None
        _age(run, worker_settings.VERITY_TRAINING_STALE_S + 5)
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stuck() == 0
    run.refresh_from_db()
    assert run.status == TrainingStatus.FAILED and "stopped reporting" in run.error and "2 attempt" in run.error
    assert AuditEvent.objects.filter(action="training.failed", object_id=str(run.pk)).exists() and sent_tasks == []


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_a_silent_run_fresh(admin, dataset, sent_tasks):
    import time

    from worker.training import heartbeat

    run = services.training_run_start(actor=admin, dataset=dataset)
    services.training_run_begin(run_id=run.pk, out_dir="/tmp/x")
    _age(run, 3600)
    with heartbeat(run.pk, every_s=0.05):
        time.sleep(0.5)
    run.refresh_from_db()
    assert timezone.now() - run.updated_at < timedelta(seconds=5)
