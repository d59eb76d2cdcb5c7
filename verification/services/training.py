"""Training runs: start (admins), progress and cancellation, and the outcome recorded by the
worker task (a registered, not yet active, model version; or a readable failure)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..audit import record_event
from ..errors import InvalidTransition, VerityError
from ..models import TRAINING_TRANSITIONS, Dataset, ModelVersion, TrainingRun, TrainingStatus
from ._common import require_admin
from .modelversions import model_version_register

# Hyperparameters an admin may set, with defaults and inclusive bounds.
HYPERPARAMETERS: dict[str, tuple[type, int | float, int | float, int | float]] = {
    "epochs": (int, 3, 1, 200),
    "batch_size": (int, 32, 2, 1024),  # BatchNorm needs at least two images per batch
    "lr": (float, 1e-3, 1e-7, 1.0),
    "input_size": (int, 224, 32, 1024),
    "train_crop": (int, 224, 16, 1024),
    "seed": (int, 0, 0, 2**31 - 1),
}


def training_hyperparameters(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Validated hyperparameters with defaults filled in; unknown keys and bad values are refused
    with one message per field."""
    raw = dict(raw or {})
    errors: dict[str, list[str]] = {}
    for key in sorted(set(raw) - set(HYPERPARAMETERS)):
        errors[key] = [f"Unknown hyperparameter; allowed: {', '.join(HYPERPARAMETERS)}."]
    resolved: dict[str, Any] = {}
    for key, (kind, default, low, high) in HYPERPARAMETERS.items():
        value = raw.get(key, default)
        if value is None or value == "":
            value = default
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            if kind is int:
                if number != int(number):
                    raise ValueError
                number = int(number)
        except (TypeError, ValueError):
            errors[key] = [f"Must be {'a whole number' if kind is int else 'a number'}."]
            continue
        if not low <= number <= high:
            errors[key] = [f"Must be between {low} and {high}."]
            continue
        resolved[key] = number
    if "train_crop" in resolved and "input_size" in resolved and resolved["train_crop"] > resolved["input_size"]:
        errors["train_crop"] = ["Must not be larger than input_size."]
    if errors:
        raise VerityError("Some hyperparameters are invalid.", details=errors)
    return resolved


def _transition(run: TrainingRun, to: str) -> None:
    if to not in TRAINING_TRANSITIONS[run.status]:
        raise InvalidTransition(f"Training run {run.pk} is {run.status}; it cannot become {to}.")
    run.status = to


def training_run_start(*, actor: Any, dataset: Dataset, hyperparameters: dict[str, Any] | None = None,
                       base_model: ModelVersion | None = None) -> TrainingRun:
    """Queue a training run on ``dataset`` (admins only); the task is sent once the row is committed."""
    require_admin(actor)
    params = training_hyperparameters(hyperparameters)
    with transaction.atomic():
        run = TrainingRun.objects.create(dataset=dataset, base_model=base_model, hyperparameters=params,
                                         epochs=params["epochs"],
                                         created_by=actor if getattr(actor, "is_authenticated", False) else None)
        record_event(action="training.triggered", obj=run, actor=actor,
                     details={"dataset": dataset.pk, "dataset_name": dataset.name, "hyperparameters": params,
                              "base_model": base_model.pk if base_model else None})
        from ..queue import enqueue_training

        transaction.on_commit(lambda: enqueue_training(run.pk))
    return run


def training_run_begin(*, run_id: int, out_dir: str | Path) -> TrainingRun | None:
    """The task claims a queued run (queued -> running). None when there is nothing to do: the
    run is unknown, already claimed by another delivery, or finished; a run cancelled while it
    waited is marked cancelled here."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().select_related("dataset").filter(pk=run_id).first()
        if run is None or run.status != TrainingStatus.QUEUED:
            return None
        if run.cancel_requested:
            _finish_unsuccessfully(run, TrainingStatus.CANCELLED, "Cancelled before it started.")
            return None
        _transition(run, TrainingStatus.RUNNING)
        run.started_at = timezone.now()
        run.out_dir = str(out_dir)
        run.save(update_fields=["status", "started_at", "out_dir", "updated_at"])
        record_event(action="training.started", obj=run, details={"out_dir": str(out_dir)})
    return run


_PROGRESS_FIELDS = ("epoch", "epochs", "step", "total_steps", "train_loss", "val_accuracy", "eta_s")


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


def training_run_cancel(*, actor: Any, run: TrainingRun) -> TrainingRun:
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
        version = model_version_register(checkpoint=checkpoint, name=f"{run.dataset.name[:90]}-run{run.pk}")
        run.model_version = version
        run.finished_at = timezone.now()
        run.eta_s = None
        run.save(update_fields=["status", "model_version", "finished_at", "eta_s", "updated_at"])
        record_event(action="training.succeeded", obj=run,
                     details={"model_version": version.pk, "test": (version.metrics or {}).get("test", {})
                              .get("accuracy")})
    return run
