"""The domain: teams, cases, images, analyses, model versions and the audit history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Team(models.Model):
    """A newsroom or desk. Every case belongs to one team and only its members see it."""

    name = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    REVIEWER = "reviewer", "Reviewer"
    LEAD = "lead", "Lead"
    ADMIN = "admin", "Admin"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REVIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="one_membership_per_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class ModelVersion(models.Model):
    """A registered classifier checkpoint. At most one is active; the worker serves the active one."""

    name = models.CharField(max_length=120, unique=True)
    checkpoint = models.CharField(max_length=500, help_text="Path of the checkpoint file.")
    checkpoint_sha256 = models.CharField(max_length=64)
    architecture = models.CharField(max_length=40, default="resnet50")
    input_size = models.PositiveIntegerField(default=224)
    is_demo = models.BooleanField(default=False, help_text="Trained on generated demo data: not for real decisions.")
    is_active = models.BooleanField(default=False)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (demo)" if self.is_demo else self.name


class AnalysisStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Verdict(models.TextChoices):
    REAL = "real", "Real photograph"
    AI_GENERATED = "ai_generated", "AI-generated"


class Tag(models.Model):
    """A label a team puts on its cases (e.g. "elections", "flood"). Tags belong to one team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=50)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="one_tag_name_per_team")]

    def __str__(self) -> str:
        return self.name


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    FINALISED = "finalised", "Finalised"


class HumanVerdict(models.TextChoices):
    REAL = "real", "Real photograph"
    AI_GENERATED = "ai_generated", "AI-generated"
    INCONCLUSIVE = "inconclusive", "Inconclusive"


class Case(models.Model):
    """A verification request. Transitions: open -> finalised (by a lead) -> open (reopened)."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="cases")
    title = models.CharField(max_length=200)
    source_url = models.URLField(max_length=1000, blank=True)
    notes = models.TextField(blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="cases")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cases")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN, db_index=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_cases")
    # The model's case-level verdict, kept up to date by services.analysis_record so that lists can
    # filter and sort on it without a subquery per row: AI-generated if any image is, else real.
    model_verdict = models.CharField(max_length=16, choices=Verdict.choices, blank=True, db_index=True)
    final_verdict = models.CharField(max_length=16, choices=HumanVerdict.choices, blank=True, db_index=True)
    final_comment = models.TextField(blank=True)
    finalised_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    finalised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "-created_at"])]

    @property
    def disagrees(self) -> bool:
        """The final human verdict contradicts the model (inconclusive contradicts nothing)."""
        return bool(self.final_verdict in (HumanVerdict.REAL, HumanVerdict.AI_GENERATED)
                    and self.model_verdict and self.final_verdict != self.model_verdict)

    def __str__(self) -> str:
        return self.title


class CaseImage(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="images")
    file = models.CharField(max_length=300, help_text="Storage name, derived from the SHA-256.")
    sha256 = models.CharField(max_length=64, db_index=True)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=16)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # EXIF camera fields and provenance markers read at upload (see verification.metadata).
    metadata = models.JSONField(default=dict, blank=True)
    # The same bytes were already submitted to this team: this image reuses that analysis.
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="duplicates")
    # Denormalised for list filters and dashboards: the latest finished model verdict and the
    # latest human decision on this image. Written only by services.
    model_label = models.CharField(max_length=16, choices=Verdict.choices, blank=True)
    human_verdict = models.CharField(max_length=16, choices=HumanVerdict.choices, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["sha256", "case"])]

    def __str__(self) -> str:
        return self.original_name


class Analysis(models.Model):
    """One run of one model on one image. Transitions: queued -> running -> done | failed."""

    image = models.ForeignKey(CaseImage, on_delete=models.CASCADE, related_name="analyses")
    status = models.CharField(max_length=16, choices=AnalysisStatus.choices, default=AnalysisStatus.QUEUED,
                              db_index=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="analyses")
    label = models.CharField(max_length=16, choices=Verdict.choices, blank=True)
    probability_ai = models.FloatField(null=True, blank=True, help_text="Calibrated p(AI-generated).")
    confidence = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    heatmap = models.CharField(max_length=300, blank=True, help_text="Storage name of the Grad-CAM map.")
    overlay = models.CharField(max_length=300, blank=True, help_text="Storage name of the overlay PNG.")
    crop_box = models.JSONField(default=dict, blank=True)
    timings_ms = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # The id of the Celery task that claimed this analysis (its own, or one that took it into a
    # batch). A redelivery of that same task may claim it again; any other task leaves it alone.
    claimed_by = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the analysis last entered the queue (creation, or a requeue by the sweeper).
    enqueued_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "analyses"

    def __str__(self) -> str:
        return f"Analysis {self.pk} of {self.image_id} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in (AnalysisStatus.QUEUED, AnalysisStatus.RUNNING)

    @property
    def is_uncertain(self) -> bool:
        """Within VERITY_UNCERTAIN_MARGIN of the threshold: too close to call either way."""
        if self.probability_ai is None or self.threshold is None:
            return False
        return abs(self.probability_ai - self.threshold) < settings.VERITY_UNCERTAIN_MARGIN

    @property
    def latency_s(self) -> float | None:
        """Seconds from submission to result, queueing included."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.created_at).total_seconds()


class Review(models.Model):
    """A reviewer's decision on one image: confirming the model or overriding it (with a reason).

    Reviews are kept, not edited: the latest one is the image's current human verdict."""

    image = models.ForeignKey(CaseImage, on_delete=models.CASCADE, related_name="reviews")
    analysis = models.ForeignKey(Analysis, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    verdict = models.CharField(max_length=16, choices=HumanVerdict.choices)
    is_override = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reviewer} on image {self.image_id}: {self.verdict}"


class Comment(models.Model):
    """Discussion on a case; ``parent`` makes a reply, so comments form threads."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="comments")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Comment {self.pk} on case {self.case_id}"


class DatasetOrigin(models.TextChoices):
    PATH = "path", "Server path"
    UPLOAD = "upload", "Uploaded zip"
    REVIEWS = "reviews", "Reviewed cases"


class Dataset(models.Model):
    """A registered training or evaluation dataset (services.dataset_register, dataset_register_archive
    and dataset_build_from_reviews; immutable once registered).

    ``analysis`` holds counts computed when the dataset is registered::

        {"total": int,
         "by_class": {"real": int, "ai_generated": int},
         "by_split": {"train": int, "val": int, "test": int},
         "by_source": {name: int}, "by_generator": {name: int},
         "sizes": [{"label": "<256 px", "count": int}, ...],   # binned shorter side
         ...}   # and what could mislead training: undecodable, duplicate and label-conflict groups

    An uploaded zip adds ``skipped_files`` (unpacked files that are not images of a class); a dataset
    built from reviewed cases adds ``reviewed`` (images taken, duplicates merged, conflicts dropped).
    """

    name = models.CharField(max_length=120, unique=True)
    path = models.CharField(max_length=500)
    # How it came in: a path on the server, or a folder Verity owns (an uploaded zip unpacked, or
    # images of reviewed cases copied with a manifest) under VERITY_DATASET_DIR.
    origin = models.CharField(max_length=16, choices=DatasetOrigin.choices, default=DatasetOrigin.PATH)
    created_at = models.DateTimeField(auto_now_add=True)
    analysis = models.JSONField(default=dict, blank=True)
    # Immutable once registered (services.dataset_register is the only writer): files that change
    # on disk make a new registration, told apart by this content fingerprint (ml.data.sources).
    fingerprint = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


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


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):  # type: ignore[override]
        raise PermissionError("The audit history is append-only.")

    def delete(self):  # type: ignore[override]
        raise PermissionError("The audit history is append-only.")


class AuditEvent(models.Model):
    """An append-only record of one action. Written in the same transaction as the change."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events")
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):  # type: ignore[override]
        if self.pk is not None and not self._state.adding:
            raise PermissionError("The audit history is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[override]
        raise PermissionError("The audit history is append-only.")


# The integrations API's models, registered with this app (kept in their own module).
from .api_models import ApiSubmission, ApiToken, IdempotencyKey, WebhookDelivery  # noqa: E402,F401
