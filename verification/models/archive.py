"""The archive memory: perceptual fingerprints of every image a team submitted, the index that
finds near-duplicates among them, the links found, the flags raised when a linked verdict changes,
the notifications that tell people, and re-share stability checks of a verdict."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models

from .cases import Case, CaseImage, HumanVerdict, Verdict
from .modelversions import ModelVersion
from .teams import Team


class ChunkKeyField(models.IntegerField):
    """An index key of multi-index hashing; offers ``key__any_of=[...]`` (see AnyOf)."""


@ChunkKeyField.register_lookup
class AnyOf(models.Lookup):
    """``IN`` for the thousands of probe keys of one lookup, sent as one parameter: on PostgreSQL an
    array (``= ANY(%s)``; planning a 2,000-item ``IN`` list costs more than the index scans), on
    SQLite a JSON array."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [int(v) for v in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if connection.vendor == "sqlite":
            # One JSON parameter: a case of many images probes more keys than SQLite's 32,766
            # bound parameters, and the query stays one query whatever the number of images.
            return f"{lhs} IN (SELECT value FROM json_each(%s))", [*lhs_params, json.dumps(values)]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


class ImageFingerprint(models.Model):
    """One stored PDQ hash of an image (ml.phash.archive_hashes: the picture and centred crops)."""

    image = models.ForeignKey(CaseImage, on_delete=models.CASCADE, related_name="fingerprints")
    # Denormalised from image.case.team: every lookup is within one team, and must never leave it.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    variant = models.PositiveSmallIntegerField(help_text="Index into ml.phash.STORED_CROPS.")
    value = models.BinaryField(max_length=32)
    quality = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["image_id", "variant"]
        constraints = [models.UniqueConstraint(fields=["image", "variant"], name="one_fingerprint_per_variant")]


class FingerprintKey(models.Model):
    """Multi-index hashing: one row per 16-bit chunk of a fingerprint (``position << 16 | chunk``).

    A lookup probes the keys within one bit of the query's chunks (ml.phash.probe_keys) with one
    index range scan on (team, key); the index carries the fingerprint id, so it is index-only."""

    fingerprint = models.ForeignKey(ImageFingerprint, on_delete=models.CASCADE, related_name="keys")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    key = ChunkKeyField()

    class Meta:
        indexes = [models.Index(fields=["team", "key", "fingerprint"], name="fingerprint_key_lookup")]


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
