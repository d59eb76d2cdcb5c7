"""Training runs and evaluations of model versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .cases import AnalysisStatus
from .datasets import Dataset
from .modelversions import ModelVersion


class TrainingStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# Allowed status changes; services.training refuses any other (InvalidTransition).
TRAINING_TRANSITIONS: dict[str, set[str]] = {
    TrainingStatus.QUEUED: {TrainingStatus.RUNNING, TrainingStatus.FAILED, TrainingStatus.CANCELLED},
    # running -> queued: its worker died and the sweeper sends it again (to resume from last.pt).
    TrainingStatus.RUNNING: {TrainingStatus.SUCCEEDED, TrainingStatus.FAILED, TrainingStatus.CANCELLED,
                             TrainingStatus.QUEUED},
    TrainingStatus.SUCCEEDED: set(),
    TrainingStatus.FAILED: set(),
    TrainingStatus.CANCELLED: set(),
}


class TrainingRun(models.Model):
    """One training of a classifier on a registered dataset, run by worker.tasks.train_model on
    the training queue. Transitions: queued -> running -> succeeded | failed | cancelled (and
    queued -> failed | cancelled; running -> queued when its worker died and the sweeper takes it
    back). A succeeded run names the ModelVersion it registered (not active); a run with a
    ``base_model`` starts from that version's weights.

    ``updated_at`` is the sweeper's clock: a running task touches it with every progress report
    and a heartbeat, so a running run whose ``updated_at`` is old has lost its worker."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="training_runs")
    base_model = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    hyperparameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=TrainingStatus.choices, default=TrainingStatus.QUEUED,
                              db_index=True)
    cancel_requested = models.BooleanField(default=False)
    epoch = models.PositiveIntegerField(default=0)
    epochs = models.PositiveIntegerField(default=0)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    train_loss = models.FloatField(null=True, blank=True)
    train_accuracy = models.FloatField(null=True, blank=True)
    val_accuracy = models.FloatField(null=True, blank=True)
    eta_s = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    # How many times a task has claimed the run: 1 normally, more after the sweeper took it back.
    attempts = models.PositiveIntegerField(default=0)
    out_dir = models.CharField(max_length=500, blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="training_runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Training run {self.pk} on {self.dataset_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (TrainingStatus.SUCCEEDED, TrainingStatus.FAILED, TrainingStatus.CANCELLED)


class EvaluationSource(models.TextChoices):
    REVIEWED_CASES = "reviewed_cases", "Reviewed cases"
    DATASET = "dataset", "Dataset test split"


# An evaluation goes through the same four states as an analysis.
EvaluationStatus = AnalysisStatus


# Allowed status changes; services.evaluations refuses any other (InvalidTransition).
EVALUATION_TRANSITIONS: dict[str, set[str]] = {
    EvaluationStatus.QUEUED: {EvaluationStatus.RUNNING, EvaluationStatus.FAILED},
    EvaluationStatus.RUNNING: {EvaluationStatus.DONE, EvaluationStatus.FAILED},
    EvaluationStatus.DONE: set(),
    EvaluationStatus.FAILED: set(),
}


class ModelEvaluation(models.Model):
    """A model version scored on data it did not train on: the reviewed images of finalised cases
    (the reviewers' verdict is the truth) or a registered dataset's test split. Run by
    worker.tasks.evaluate_model on the training queue, or by the periodic re-evaluation of the
    active model. Transitions: queued -> running -> done | failed (and queued -> failed).

    Evaluations of two versions are comparable when their ``data_fingerprint`` is equal: the
    same dataset, split and seed, or the very same reviewed images with the same verdicts.
    ``metrics`` has the shape of ``ml.metrics.binary_metrics`` (confusion matrix included)."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    source = models.CharField(max_length=16, choices=EvaluationSource.choices)
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.PROTECT, related_name="evaluations")
    # Seed of the split of a dataset whose files do not all name their split (ml.splits.assign_splits).
    split_seed = models.PositiveIntegerField(default=0)
    # Reviewed cases: the [image id, verdict] pairs fixed when the evaluation was requested, so
    # versions requested together score the same images. Spans every team: never shown to people.
    labels = models.JSONField(default=list, blank=True)
    data_fingerprint = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=EvaluationStatus.choices, default=EvaluationStatus.QUEUED,
                              db_index=True)
    n_images = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    # The version's accuracy on its own test split, when the evaluation finished.
    baseline_accuracy = models.FloatField(null=True, blank=True)
    # Reviewed cases only: accuracy fell more than VERITY_DRIFT_TOLERANCE below the baseline.
    # None: not judged (another source, no baseline, or fewer than VERITY_DRIFT_MIN_IMAGES images).
    drift = models.BooleanField(null=True, blank=True)
    scheduled = models.BooleanField(default=False, help_text="Started by the periodic re-evaluation.")
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Evaluation {self.pk} of {self.model_version_id} on {self.source} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in (EvaluationStatus.QUEUED, EvaluationStatus.RUNNING)

    @property
    def accuracy(self) -> float | None:
        return (self.metrics or {}).get("accuracy")

    @property
    def data_label(self) -> str:
        """What was scored, in words that name no team's image."""
        if self.source == EvaluationSource.DATASET:
            return f"Test split of dataset {self.dataset.name if self.dataset else '(deleted)'}"
        return "Reviewed images of finalised cases"
