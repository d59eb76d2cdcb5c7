"""Model evaluations: a version scored on data it did not train on, to compare versions on the
same held-out data and to watch the active model for drift.

An admin requests evaluations of one or two versions on a dataset's test split or on the reviewed
images of finalised cases (queued; the task goes to the training queue once the rows are
committed). The periodic re-evaluation schedules one of the active model on the reviewed cases.
The worker task claims an evaluation, scores it (worker.evaluation) and records the outcome here;
on the reviewed cases an accuracy more than ``VERITY_DRIFT_TOLERANCE`` below the version's own
test accuracy is drift, recorded as ``model.drift_detected``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User as AuthUser
from django.db import transaction
from django.utils import timezone

from .. import selectors
from ..audit import record_event
from ..errors import InvalidTransition, VerityError
from ..models import (EVALUATION_TRANSITIONS, Dataset, EvaluationSource, EvaluationStatus, ModelEvaluation,
                      ModelVersion, TrainingRun, TrainingStatus)
from ..selectors import User
from ._common import require_admin
from .dataset_scans import require_ready
from .datasets import require_visible


@dataclass(frozen=True)
class EvaluationData:
    """What an evaluation scores, fixed when it is requested."""

    source: str
    dataset: Dataset | None = None
    split_seed: int = 0
    labels: list[list[Any]] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        if self.dataset is not None:
            what = f"dataset:{self.dataset.pk}:{self.dataset.fingerprint}:test:{self.split_seed}"
        else:
            what = "reviewed:" + json.dumps(self.labels, separators=(",", ":"))
        return hashlib.sha256(what.encode()).hexdigest()


def _lineage(versions: list[ModelVersion]) -> set[int]:
    """The ids of ``versions`` and of every base model they were fine-tuned from, transitively."""
    seen: set[int] = set()
    frontier = {v.pk for v in versions}
    while frontier:
        seen |= frontier
        frontier = set(TrainingRun.objects.filter(model_version_id__in=frontier, base_model__isnull=False)
                       .values_list("base_model_id", flat=True)) - seen
    return seen


def _split_seed(dataset: Dataset, versions: list[ModelVersion]) -> int:
    """The seed whose test split none of ``versions`` trained on: the one their training runs on
    this dataset used, or their ancestors' runs (the base models they were fine-tuned from); 0,
    the training default, when none did. A dataset whose every file names its split needs no seed.
    Whatever the seed, the evaluation also leaves out by content every image the checkpoint's
    lineage trained on (ml.evaluate)."""
    by_split = (dataset.analysis or {}).get("by_split") or {}
    if by_split and sum(by_split.values()) == (dataset.analysis or {}).get("total"):
        return 0
    seeds = {int(hp.get("seed", 0)) for hp in TrainingRun.objects.filter(
        dataset=dataset, model_version__in=_lineage(versions)).values_list("hyperparameters", flat=True)}
    if len(seeds) > 1:
        raise VerityError(f"These versions were trained on {dataset.name} with different split seeds, so no test "
                          "split of it is held out from both. Compare them on another dataset or on the reviewed "
                          "cases.", details={"dataset": ["No common held-out split."]})
    return seeds.pop() if seeds else 0


def evaluation_data(*, source: str, dataset: Dataset | None = None,
                    versions: list[ModelVersion] | None = None) -> EvaluationData:
    """Validate the choice of data and fix it (the reviewed images as they are now)."""
    if source == EvaluationSource.DATASET:
        if dataset is None:
            raise VerityError("Choose the dataset to evaluate on.", details={"dataset": ["This field is required."]})
        require_ready(dataset)
        if ((dataset.analysis or {}).get("by_split") or {}).get("test") == 0:
            raise VerityError(f"Dataset {dataset.name} has no test split: choose another dataset or the reviewed "
                              "cases.", details={"dataset": ["No test split."]})
        return EvaluationData(source=source, dataset=dataset, split_seed=_split_seed(dataset, versions or []))
    if source == EvaluationSource.REVIEWED_CASES:
        labels = selectors.reviewed_image_labels()
        if not labels:
            raise VerityError("No reviewed images yet: evaluations on reviewed cases need finalised cases whose "
                              "images reviewers marked real or AI-generated.", details={"source": ["No data."]})
        return EvaluationData(source=source, labels=labels)
    raise VerityError("Evaluate on a dataset or on the reviewed cases.",
                      details={"source": [f"Choose one of: {', '.join(EvaluationSource.values)}."]})


def _create(version: ModelVersion, data: EvaluationData, *, actor: User | None, scheduled: bool) -> ModelEvaluation:
    # An authenticated actor is a row of the user model; the scheduler (None) and AnonymousUser are not.
    requested_by = cast(AuthUser | None, actor if getattr(actor, "is_authenticated", False) else None)
    evaluation = ModelEvaluation.objects.create(
        model_version=version, source=data.source, dataset=data.dataset, split_seed=data.split_seed,
        labels=data.labels, data_fingerprint=data.fingerprint, scheduled=scheduled, requested_by=requested_by)
    record_event(action="evaluation.requested", obj=evaluation, actor=actor, details={
        "model_version": version.pk, "source": data.source, "dataset": data.dataset.pk if data.dataset else None,
        "images": len(data.labels) if data.source == EvaluationSource.REVIEWED_CASES else None,
        "scheduled": scheduled})
    return evaluation


def evaluation_request(*, actor: User, versions: list[ModelVersion], source: str,
                       dataset: Dataset | None = None) -> list[ModelEvaluation]:
    """Queue evaluations of ``versions`` (one or two; admins only) on the same data; each task is
    sent once the rows are committed."""
    require_admin(actor)
    unique = list({v.pk: v for v in versions}.values())
    if not 1 <= len(unique) <= 2:
        raise VerityError("Evaluate one or two model versions at a time.",
                          details={"versions": ["Choose one or two versions."]})
    if source == EvaluationSource.DATASET and dataset is not None:
        require_visible(actor, dataset)
    data = evaluation_data(source=source, dataset=dataset, versions=unique)
    with transaction.atomic():
        created = [_create(v, data, actor=actor, scheduled=False) for v in unique]
        from ..queue import enqueue_evaluation

        for evaluation in created:
            transaction.on_commit(partial(enqueue_evaluation, evaluation.pk))
    return created


def evaluation_schedule(*, version: ModelVersion) -> tuple[ModelEvaluation | None, str]:
    """The periodic re-evaluation: a queued evaluation of ``version`` on the reviewed cases, or
    None with the reason there is nothing to do (too few reviewed images, one already pending, or
    nothing reviewed since the last one)."""
    labels = selectors.reviewed_image_labels()
    if len(labels) < settings.VERITY_DRIFT_MIN_IMAGES:
        return None, f"{len(labels)} reviewed images; at least {settings.VERITY_DRIFT_MIN_IMAGES} are needed"
    data = EvaluationData(source=EvaluationSource.REVIEWED_CASES, labels=labels)
    mine = ModelEvaluation.objects.filter(model_version=version, source=EvaluationSource.REVIEWED_CASES)
    if mine.filter(status__in=[EvaluationStatus.QUEUED, EvaluationStatus.RUNNING]).exists():
        return None, "an evaluation of this version on the reviewed cases is already pending"
    if mine.filter(status=EvaluationStatus.DONE, data_fingerprint=data.fingerprint).exists():
        return None, "nothing was reviewed since the last evaluation"
    with transaction.atomic():
        return _create(version, data, actor=None, scheduled=True), "scheduled"


def _transition(evaluation: ModelEvaluation, to: str) -> None:
    if to not in EVALUATION_TRANSITIONS[evaluation.status]:
        raise InvalidTransition(f"Evaluation {evaluation.pk} is {evaluation.status}; it cannot become {to}.")
    evaluation.status = to


def evaluation_begin(*, evaluation_id: int) -> ModelEvaluation | None:
    """The task claims a queued evaluation (queued -> running); None when there is nothing to do
    (unknown, or already claimed by another delivery, or finished)."""
    with transaction.atomic():
        evaluation = (ModelEvaluation.objects.select_for_update(of=("self",)).select_related("model_version", "dataset")
                      .filter(pk=evaluation_id).first())
        if evaluation is None or evaluation.status != EvaluationStatus.QUEUED:
            return None
        _transition(evaluation, EvaluationStatus.RUNNING)
        evaluation.started_at = timezone.now()
        evaluation.save(update_fields=["status", "started_at"])
    return evaluation


def _baseline(version: ModelVersion) -> float | None:
    accuracy = ((version.metrics or {}).get("test") or {}).get("accuracy")
    return float(accuracy) if isinstance(accuracy, (int, float)) else None


def _drift(evaluation: ModelEvaluation) -> bool | None:
    if (evaluation.source != EvaluationSource.REVIEWED_CASES or evaluation.baseline_accuracy is None
            or evaluation.n_images < settings.VERITY_DRIFT_MIN_IMAGES or evaluation.accuracy is None):
        return None
    return evaluation.accuracy < evaluation.baseline_accuracy - settings.VERITY_DRIFT_TOLERANCE


def evaluation_finish(*, evaluation_id: int, metrics: dict[str, Any]) -> ModelEvaluation:
    """Record the metrics (``ml.metrics.binary_metrics`` shape), compare them with the version's
    test accuracy and, on the reviewed cases, flag drift."""
    with transaction.atomic():
        evaluation = (ModelEvaluation.objects.select_for_update(of=("self",)).select_related("model_version")
                      .get(pk=evaluation_id))
        _transition(evaluation, EvaluationStatus.DONE)
        evaluation.metrics = metrics
        evaluation.n_images = int(metrics.get("n", 0))
        evaluation.baseline_accuracy = _baseline(evaluation.model_version)
        evaluation.drift = _drift(evaluation)
        evaluation.finished_at = timezone.now()
        evaluation.save(update_fields=["status", "metrics", "n_images", "baseline_accuracy", "drift", "finished_at"])
        summary = {"evaluation": evaluation.pk, "source": evaluation.source, "images": evaluation.n_images,
                   "excluded_trained_on": int(metrics.get("excluded_trained_on", 0)),
                   "accuracy": evaluation.accuracy, "baseline_accuracy": evaluation.baseline_accuracy}
        record_event(action="evaluation.done", obj=evaluation, details={**summary, "drift": evaluation.drift})
        if evaluation.drift:
            record_event(action="model.drift_detected", obj=evaluation.model_version,
                         details={**summary, "tolerance": settings.VERITY_DRIFT_TOLERANCE})
    return evaluation


def evaluations_stuck(*, queued_for_s: int) -> tuple[list[int], list[int]]:
    """Evaluations no worker is handling, as (dead, lost): running for longer than the training
    queue's hard time limit (their worker died: nothing will finish them), and queued for
    ``queued_for_s`` while nothing runs on the training queue (their message was lost)."""
    now = timezone.now()
    dead = list(ModelEvaluation.objects.filter(
        status=EvaluationStatus.RUNNING,
        started_at__lt=now - timedelta(seconds=settings.VERITY_TRAINING_TIME_LIMIT + 60)).values_list("pk", flat=True))
    busy = (ModelEvaluation.objects.filter(status=EvaluationStatus.RUNNING).exclude(pk__in=dead).exists()
            or TrainingRun.objects.filter(status=TrainingStatus.RUNNING).exists())
    lost = [] if busy else list(ModelEvaluation.objects.filter(
        status=EvaluationStatus.QUEUED, created_at__lt=now - timedelta(seconds=queued_for_s)).values_list("pk", flat=True))
    return dead[:100], lost[:100]


def evaluation_fail(*, evaluation_id: int, reason: str) -> ModelEvaluation | None:
    """Mark an evaluation failed with a reason people can read (unless it already finished)."""
    with transaction.atomic():
        evaluation = ModelEvaluation.objects.select_for_update().filter(pk=evaluation_id).first()
        if evaluation is None or evaluation.status in (EvaluationStatus.DONE, EvaluationStatus.FAILED):
            return evaluation
        _transition(evaluation, EvaluationStatus.FAILED)
        evaluation.error = reason[:2000]
        evaluation.finished_at = timezone.now()
        evaluation.save(update_fields=["status", "error", "finished_at"])
        record_event(action="evaluation.failed", obj=evaluation, details={"reason": reason[:500]})
    return evaluation
