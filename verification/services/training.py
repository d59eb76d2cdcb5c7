"""Training runs: start (admins), progress and cancellation, and the outcome recorded by the
worker task (a registered, not yet active, model version; or a readable failure)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import hyperparameters
from ..audit import record_event
from ..errors import InvalidTransition
from ..models import TRAINING_TRANSITIONS, Dataset, ModelVersion, TrainingRun, TrainingStatus
from ..selectors import User
from ._common import require_admin
from .dataset_scans import require_ready
from .datasets import require_visible
from .modelversions import model_version_register

# The limits and their check live in verification.hyperparameters, shared with the form and the API.
training_hyperparameters = hyperparameters.resolve


def _transition(run: TrainingRun, to: str) -> None:
    if to not in TRAINING_TRANSITIONS[run.status]:
        raise InvalidTransition(f"Training run {run.pk} is {run.status}; it cannot become {to}.")
    run.status = to


def training_run_start(*, actor: User, dataset: Dataset, hyperparameters: dict[str, Any] | None = None,
                       base_model: ModelVersion | None = None) -> TrainingRun:
    """Queue a training run on ``dataset`` (admins only; the dataset's scan must be ready); the task is
    sent once the row is committed."""
    require_admin(actor)
    require_visible(actor, dataset)
    require_ready(dataset)
    params = training_hyperparameters(hyperparameters)
    with transaction.atomic():
        run = TrainingRun.objects.create(dataset=dataset, base_model=base_model, hyperparameters=params,
                                         epochs=params["epochs"],
                                         created_by_id=actor.pk if actor.is_authenticated else None)
        record_event(action="training.triggered", obj=run, actor=actor,
                     details={"dataset": dataset.pk, "dataset_name": dataset.name, "hyperparameters": params,
                              "base_model": base_model.pk if base_model else None})
        _send_after_commit(run.pk)
    return run


def training_run_begin(*, run_id: int, out_dir: str | Path) -> TrainingRun | None:
    """The task claims a queued run (queued -> running; ``attempts`` counts the claims). None when
    there is nothing to do: the run is unknown, finished, or running under a live worker (a
    duplicate delivery). A run cancelled while it waited is marked cancelled here. A running run
    whose worker stopped reporting (the message was redelivered after a crash) is taken back and
    claimed again, as the sweeper would have done; the task then resumes it from ``last.pt``."""
    with transaction.atomic():
        # No select_related("base_model"): PostgreSQL cannot lock the nullable side of an outer join.
        run = TrainingRun.objects.select_for_update().select_related("dataset").filter(pk=run_id).first()
        if run is not None and run.status == TrainingStatus.RUNNING and _is_stale(run):
            _take_back(run, reason="delivered again after its worker stopped reporting", send=False)
        if run is None or run.status != TrainingStatus.QUEUED:
            return None
        if run.cancel_requested:
            _finish_unsuccessfully(run, TrainingStatus.CANCELLED, "Cancelled before it started.")
            return None
        _transition(run, TrainingStatus.RUNNING)
        run.attempts += 1
        run.started_at = run.started_at or timezone.now()
        run.out_dir = str(out_dir)
        run.save(update_fields=["status", "attempts", "started_at", "out_dir", "updated_at"])
        record_event(action="training.started", obj=run,
                     details={"out_dir": str(out_dir), "attempt": run.attempts, "base_model": run.base_model_id})
    return run


def _is_stale(run: TrainingRun) -> bool:
    return run.updated_at < timezone.now() - timedelta(seconds=settings.VERITY_TRAINING_STALE_S)


def _take_back(run: TrainingRun, *, reason: str, send: bool) -> None:
    """A running run (locked) whose worker is gone: queue it again, or fail it once it has been
    claimed ``VERITY_TRAINING_MAX_ATTEMPTS`` times (a run that kills its worker every time)."""
    if run.cancel_requested:
        _finish_unsuccessfully(run, TrainingStatus.CANCELLED, "Cancelled; its worker had stopped reporting.")
        return
    if run.attempts >= settings.VERITY_TRAINING_MAX_ATTEMPTS:
        _finish_unsuccessfully(run, TrainingStatus.FAILED, (
            f"The worker training this run stopped reporting (no progress since "
            f"{run.updated_at:%Y-%m-%d %H:%M:%S %Z}) after {run.attempts} attempt(s), so it was not restarted "
            "again. Check the training worker's log (out of memory? killed? time limit?), then start a new run, "
            "perhaps with a smaller batch size."))
        return
    _transition(run, TrainingStatus.QUEUED)
    run.eta_s = None
    run.save(update_fields=["status", "eta_s", "updated_at"])
    record_event(action="training.requeued", obj=run,
                 details={"reason": reason, "was": TrainingStatus.RUNNING, "attempts": run.attempts})
    if send:
        _send_after_commit(run.pk)


def _send_after_commit(run_id: int) -> None:
    from ..queue import enqueue_training

    transaction.on_commit(lambda: enqueue_training(run_id))


def training_runs_stuck(*, queued_for_s: int) -> list[int]:
    """Runs that no worker seems to be handling: running without a report for
    ``VERITY_TRAINING_STALE_S`` (the worker died), and queued for ``queued_for_s`` since they were
    last sent (the message was lost, e.g. the broker was down) while no run is training. A live
    run explains a wait (the training worker is busy), and re-sending then would only pile up
    duplicate messages behind it; with several training workers a lost message may so wait until
    the live runs end."""
    now = timezone.now()
    running = TrainingRun.objects.filter(status=TrainingStatus.RUNNING)
    stale = set(running.filter(updated_at__lt=now - timedelta(seconds=settings.VERITY_TRAINING_STALE_S))
                .values_list("pk", flat=True))
    if not running.exclude(pk__in=stale).exists():
        stale |= set(TrainingRun.objects.filter(status=TrainingStatus.QUEUED,
                                                updated_at__lt=now - timedelta(seconds=queued_for_s))
                     .values_list("pk", flat=True))
    return sorted(stale)[:100]


def training_run_requeue(*, run_id: int, reason: str) -> bool:
    """Send a stuck run again (the sweeper), audited. A queued run is re-sent (a duplicate of a
    message that was not lost is harmless: only a queued run is claimed). A stale running run goes
    back to queued and the next task resumes it from its last finished epoch, or it fails when
    it has used up its attempts. False when the run no longer needs it."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            return False
        if run.status == TrainingStatus.RUNNING and _is_stale(run):
            _take_back(run, reason=reason, send=True)
            return run.status == TrainingStatus.QUEUED
        if run.status != TrainingStatus.QUEUED:
            return False
        run.save(update_fields=["updated_at"])  # restarts the wait before the next re-send
        record_event(action="training.requeued", obj=run, details={"reason": reason, "was": TrainingStatus.QUEUED})
        _send_after_commit(run.pk)
    return True


def training_run_heartbeat(*, run_id: int) -> bool:
    """The running task is alive (touches ``updated_at``); False when the run is no longer running."""
    return bool(TrainingRun.objects.filter(pk=run_id, status=TrainingStatus.RUNNING)
                .update(updated_at=timezone.now()))


_PROGRESS_FIELDS = ("epoch", "epochs", "step", "total_steps", "train_loss", "train_accuracy", "val_accuracy",
                    "eta_s")


def training_run_progress(*, run_id: int, event: dict[str, Any]) -> None:
    """Store the latest progress event of ``ml.train`` (telemetry: overwritten, not audited)."""
    values: dict[str, Any] = {}
    for key in _PROGRESS_FIELDS:
        value = event.get(key)
        if value is None:
            continue
        values[key] = int(value) if key in ("epoch", "epochs", "step", "total_steps") else float(value)
    if values:
        values["updated_at"] = timezone.now()
        TrainingRun.objects.filter(pk=run_id, status=TrainingStatus.RUNNING).update(**values)


def training_cancel_requested(*, run_id: int) -> bool:
    return TrainingRun.objects.filter(pk=run_id, cancel_requested=True).exists()


def training_run_cancel(*, actor: User, run: TrainingRun) -> TrainingRun:
    """Ask a run to stop (admins only). A queued run is cancelled at once; a running one stops
    at the task's next check (a few seconds) and is then marked cancelled by the task."""
    require_admin(actor)
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.is_finished:
            raise InvalidTransition(f"Training run {run.pk} has already {run.status}; there is nothing to cancel.")
        run.cancel_requested = True
        run.save(update_fields=["cancel_requested", "updated_at"])
        record_event(action="training.cancel_requested", obj=run, actor=actor, details={"status": run.status})
        if run.status == TrainingStatus.QUEUED:
            _finish_unsuccessfully(run, TrainingStatus.CANCELLED, "Cancelled before it started.")
    return run


def _finish_unsuccessfully(run: TrainingRun, status: str, reason: str) -> None:
    _transition(run, status)
    run.error = reason
    run.finished_at = timezone.now()
    run.eta_s = None
    run.save(update_fields=["status", "error", "finished_at", "eta_s", "updated_at"])
    record_event(action=f"training.{status}", obj=run, details={"reason": reason})


def training_run_fail(*, run_id: int, reason: str, cancelled: bool = False) -> TrainingRun | None:
    """Mark a run failed (or cancelled) with a reason people can read. Nothing is registered."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.is_finished:
            return run
        _finish_unsuccessfully(run, TrainingStatus.CANCELLED if cancelled else TrainingStatus.FAILED, reason)
    return run


def training_run_finish(*, run_id: int, checkpoint: str | Path) -> TrainingRun:
    """Register the run's checkpoint as a model version (with its test metrics; not activated)
    and mark the run succeeded, in one transaction: either both happen or neither."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().select_related("dataset").get(pk=run_id)
        _transition(run, TrainingStatus.SUCCEEDED)
        # Demo-ness is inherited: fine-tuning a demo model does not make it fit for real decisions
        # (the checkpoint also says so when the base's checkpoint did, or the data was the demo set).
        base = run.base_model
        version = model_version_register(checkpoint=checkpoint, name=f"{run.dataset.name[:90]}-run{run.pk}",
                                         is_demo=bool(base is not None and base.is_demo))
        run.model_version = version
        run.finished_at = timezone.now()
        run.eta_s = None
        run.save(update_fields=["status", "model_version", "finished_at", "eta_s", "updated_at"])
        record_event(action="training.succeeded", obj=run,
                     details={"model_version": version.pk, "test": (version.metrics or {}).get("test", {})
                              .get("accuracy")})
    return run
