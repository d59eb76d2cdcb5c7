"""Registered datasets."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
