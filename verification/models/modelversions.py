"""Registered classifier versions (one is active)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


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
    # The checkpoint's model card (ml.modelcard, schema 1): training data, recipe, per-source
    # metrics, calibration, robustness, known limits. Empty for checkpoints made without one.
    model_card = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (demo)" if self.is_demo else self.name
