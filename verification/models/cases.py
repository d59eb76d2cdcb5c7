"""Cases, their images, the model's analyses and the humans' reviews and comments."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from .modelversions import ModelVersion
from .teams import Team


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
    # Set with model_verdict: a demo model (trained on generated demo data) made one of the
    # analyses behind it, so every list, export and report can mark the verdict as not for use.
    model_verdict_demo = models.BooleanField(default=False)
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
    # Whole-image analysis (ml.tiling): every judged tile as {"box": [left, top, width, height],
    # "probability_ai": p}, the index of the tile that decided, the share of the image's pixels the
    # tiles covered (below 1 when the tile budget thinned the grid), and the aggregation rule.
    tiles = models.JSONField(default=list, blank=True)
    decisive_tile = models.PositiveIntegerField(null=True, blank=True)
    judged_fraction = models.FloatField(null=True, blank=True)
    aggregation = models.CharField(max_length=32, blank=True)
    # Is the Grad-CAM map faithful for this image (blurring its top area hurts the verdict more
    # than blurring random areas)? None: not checked. The drops are in ``faithfulness``.
    map_faithful = models.BooleanField(null=True, blank=True)
    faithfulness = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # Provenance lanes read by the worker (verification.provenance) and the verdict with its ordered
    # evidence that verification.evidence made of them and the model (see docs/verdicts.md).
    lanes = models.JSONField(default=list, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    provenance = models.CharField(max_length=16, blank=True, db_index=True,
                                  help_text="tampered, declared_ai, present, or blank: none found.")
    attempts = models.PositiveIntegerField(default=0)
    # The id of the Celery task that claimed this analysis (its own, or one that took it into a
    # batch). A redelivery of that same task may claim it again; any other task leaves it alone.
    claimed_by = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the analysis last entered the queue (creation, or a requeue by the sweeper).
    enqueued_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Touched every VERITY_CLAIM_HEARTBEAT_S by the claiming task while it works: a running analysis
    # whose heartbeat is older than VERITY_CLAIM_DEAD_AFTER_S lost its worker (kill -9, machine gone).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
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
        from ..uncertainty import is_uncertain

        return is_uncertain(self.probability_ai, self.threshold)

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
