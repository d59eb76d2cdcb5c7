"""Training runs: start (admins), progress and cancellation, and the outcome recorded by the
worker task (a registered, not yet active, model version; or a readable failure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import hyperparameters
from ..audit import record_event
from ..errors import InvalidTransition
from ..models import TRAINING_TRANSITIONS, Dataset, ModelVersion, TrainingRun, TrainingStatus
from ..selectors import User
from ._common import require_admin
from .leases import Lease
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
        run = LEASE.locked(run_id, related=("dataset",))
        LEASE.take_back_if_dead(run, reason="delivered again after its worker stopped reporting")
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


def _settle_cancelled(run: TrainingRun) -> bool:
    """A run whose worker is gone after someone asked to cancel it: cancelled, not run again."""
    if not run.cancel_requested:
        return False
    _finish_unsuccessfully(run, TrainingStatus.CANCELLED, "Cancelled; its worker had stopped reporting.")
    return True


def _give_up(run: TrainingRun) -> None:
    """A run whose worker died at every one of its attempts (a run that kills its worker every time)."""
    _finish_unsuccessfully(run, TrainingStatus.FAILED, (
        f"The worker training this run stopped reporting (no progress since "
        f"{run.updated_at:%Y-%m-%d %H:%M:%S %Z}) after {run.attempts} attempt(s), so it was not restarted "
        "again. Check the training worker's log (out of memory? killed? time limit?), then start a new run, "
        "perhaps with a smaller batch size."))


def _to_queued(run: TrainingRun) -> None:
    _transition(run, TrainingStatus.QUEUED)
    run.eta_s = None
    run.save(update_fields=["status", "eta_s", "updated_at"])


def _send_after_commit(run_id: int) -> None:
    from ..queue import enqueue_training

    transaction.on_commit(lambda: enqueue_training(run_id))


def training_runs_stuck(*, queued_for_s: int) -> list[int]:
    """Runs that no worker seems to be handling (:meth:`Lease.stuck`): running without a report for
    ``VERITY_TRAINING_STALE_S`` (the worker died), and queued for ``queued_for_s`` since they were
    last sent (the message was lost, e.g. the broker was down) while no run is training. With
    several training workers a lost message may so wait until the live runs end."""
    return LEASE.stuck(queued_for_s=queued_for_s)


def training_run_requeue(*, run_id: int, reason: str) -> bool:
    """Send a stuck run again (the sweeper, :meth:`Lease.requeue`), audited. A queued run is re-sent;
    a stale running run goes back to queued and the next task resumes it from its last finished
    epoch, or it fails when it has used up its attempts (or is cancelled when that was asked).
    False when the run no longer needs it."""
    return LEASE.requeue(run_id, reason=reason)


def training_run_heartbeat(*, run_id: int) -> bool:
    """The running task is alive (touches ``updated_at``); False when the run is no longer running."""
    return LEASE.beat_now(run_id)


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
        LEASE.beat_now(run_id, **values)


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


# A running run is held by its task: when that task is dead, how the run is taken back and sent again.
LEASE: Lease[TrainingRun] = Lease(
    model=TrainingRun, running=TrainingStatus.RUNNING, waiting=TrainingStatus.QUEUED, beat="updated_at",
    attempts="attempts", dead_after="VERITY_TRAINING_STALE_S", requeued="training.requeued",
    send=_send_after_commit, to_waiting=_to_queued, give_up=_give_up, settle=_settle_cancelled)
