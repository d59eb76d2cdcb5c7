"""The archive memory: perceptual fingerprints of every image a team submitted, the index that
finds near-duplicates among them, the links found, the flags raised when a linked verdict changes,
the notifications that tell people, and re-share stability checks of a verdict."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .cases import Case, CaseImage, HumanVerdict, Verdict
from .modelversions import ModelVersion
from .teams import Team


class ChunkKeyField(models.IntegerField):
    """The key column of the former FingerprintKey table (multi-index keys in rows, migration 0009;
    replaced by chunk columns in 0011): kept because those migrations name it."""


# What a lookup reads besides the chunk: ``INCLUDE``d in each chunk's index on PostgreSQL, so a
# lookup never visits the table (index-only scans). SQLite ignores ``include`` (plain indexes).
COVERED = ["w0", "w1", "w2", "w3", "image"]


class ImageFingerprint(models.Model):
    """One stored PDQ hash of an image (ml.phash.archive_hashes: the picture and centred crops).

    Besides the 32 bytes, the hash is kept as four signed 64-bit words (``w0``..``w3``, big-endian
    order: the Hamming distance in SQL) and sixteen 16-bit chunks (``c0``..``c15``, ml.phash.chunks:
    multi-index hashing), each chunk indexed on (team, chunk); see verification.archive_index."""

    image = models.ForeignKey(CaseImage, on_delete=models.CASCADE, related_name="fingerprints")
    # Denormalised from image.case.team: every lookup is within one team, and must never leave it.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    variant = models.PositiveSmallIntegerField(help_text="Index into ml.phash.STORED_CROPS.")
    value = models.BinaryField(max_length=32)
    quality = models.PositiveSmallIntegerField()
    w0 = models.BigIntegerField(default=0)
    w1 = models.BigIntegerField(default=0)
    w2 = models.BigIntegerField(default=0)
    w3 = models.BigIntegerField(default=0)
    c0 = models.IntegerField(default=0)
    c1 = models.IntegerField(default=0)
    c2 = models.IntegerField(default=0)
    c3 = models.IntegerField(default=0)
    c4 = models.IntegerField(default=0)
    c5 = models.IntegerField(default=0)
    c6 = models.IntegerField(default=0)
    c7 = models.IntegerField(default=0)
    c8 = models.IntegerField(default=0)
    c9 = models.IntegerField(default=0)
    c10 = models.IntegerField(default=0)
    c11 = models.IntegerField(default=0)
    c12 = models.IntegerField(default=0)
    c13 = models.IntegerField(default=0)
    c14 = models.IntegerField(default=0)
    c15 = models.IntegerField(default=0)

    class Meta:
        ordering = ["image_id", "variant"]
        constraints = [models.UniqueConstraint(fields=["image", "variant"], name="one_fingerprint_per_variant")]
        indexes = [models.Index(fields=["team", f"c{i}"], include=COVERED, name=f"fingerprint_chunk_{i}")
                   for i in range(16)]


class ArchiveMatch(models.Model):
    """``image`` (new) is a near-duplicate of ``matched`` (already in the team's archive)."""

    image = models.ForeignKey(CaseImage, on_delete=models.CASCADE, related_name="archive_matches")
    matched = models.ForeignKey(CaseImage, on_delete=models.CASCADE, related_name="archive_matched_by")
    distance = models.PositiveSmallIntegerField(help_text="Hamming distance of the PDQ hashes, of 256 bits.")
    # The transform of the new image (ml.phash.DIHEDRAL name) that brings it onto the earlier one:
    # "original", "flip_left_right" (mirrored), "rotate_270" (it was turned 90 degrees)...
    variant = models.CharField(max_length=20, default="original")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["distance", "-matched_id"]
        constraints = [models.UniqueConstraint(fields=["image", "matched"], name="one_match_per_pair")]

    @property
    def variant_label(self) -> str:
        """How the new image relates to the earlier one, in words."""
        return {"original": "same-orientation", "rotate_90": "rotated", "rotate_180": "rotated",
                "rotate_270": "rotated", "flip_top_bottom": "mirrored", "flip_left_right": "mirrored",
                "transpose": "rotated and mirrored",
                "transverse": "rotated and mirrored"}.get(self.variant, self.variant)


class ArchiveFlag(models.Model):
    """``case`` holds a near-duplicate of an image of ``source_case``, whose final verdict changed:
    its own verdict may rest on the old one, so it is flagged for review until someone resolves it."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="archive_flags")
    source_case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    previous_verdict = models.CharField(max_length=16, choices=HumanVerdict.choices)
    new_verdict = models.CharField(max_length=16, choices=HumanVerdict.choices)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["case", "resolved_at"])]


class Notification(models.Model):
    """A message in the portal for one user about one case."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]


class StabilityStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class StabilityCheck(models.Model):
    """The image re-judged by one model under the re-share set (ml.reshare.stability_set).
    Transitions: queued -> running -> done | failed."""

    image = models.ForeignKey(CaseImage, on_delete=models.CASCADE, related_name="stability_checks")
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+")
    status = models.CharField(max_length=16, choices=StabilityStatus.choices, default=StabilityStatus.QUEUED,
                              db_index=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+")
    # The model's verdict on the image as it is, judged in the same run as its copies.
    label = models.CharField(max_length=16, choices=Verdict.choices, blank=True)
    probability_ai = models.FloatField(null=True, blank=True)
    # One {"transform", "description", "label", "probability_ai", "flipped"} per re-share.
    results = models.JSONField(default=list, blank=True)
    n_stable = models.PositiveSmallIntegerField(null=True, blank=True)
    n_total = models.PositiveSmallIntegerField(null=True, blank=True)
    cost_ms = models.FloatField(null=True, blank=True, help_text="Worker time: re-shares made and judged.")
    error = models.TextField(blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    @property
    def flipped(self) -> list[str]:
        return [r["transform"] for r in self.results if r.get("flipped")]

    @property
    def is_pending(self) -> bool:
        return self.status in (StabilityStatus.QUEUED, StabilityStatus.RUNNING)
