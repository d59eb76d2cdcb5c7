"""Registered datasets."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DatasetOrigin(models.TextChoices):
    PATH = "path", "Server path"
    UPLOAD = "upload", "Uploaded zip"
    REVIEWS = "reviews", "Reviewed cases"


class ScanStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    SCANNING = "scanning", "Scanning"
    READY = "ready", "Ready"
    FAILED = "failed", "Scan failed"


# Allowed status changes; services.dataset_scans refuses any other (InvalidTransition).
SCAN_TRANSITIONS: dict[str, set[str]] = {
    ScanStatus.PENDING: {ScanStatus.SCANNING, ScanStatus.FAILED},
    # scanning -> pending: its worker died and the sweeper sends it again.
    ScanStatus.SCANNING: {ScanStatus.READY, ScanStatus.FAILED, ScanStatus.PENDING},
    ScanStatus.READY: {ScanStatus.PENDING},  # a rescan
    ScanStatus.FAILED: {ScanStatus.PENDING},  # a rescan
}


class Dataset(models.Model):
    """A registered training or evaluation dataset (services.dataset_register, dataset_register_archive
    and dataset_build_from_reviews; immutable once registered) of one team.

    Registering only checks the request and records the row (``pending``); the worker task
    worker.tasks.scan_dataset, on the training queue, unpacks an uploaded zip, reads and decodes
    every image and fills ``analysis`` and ``fingerprint`` (``scanning`` -> ``ready`` or
    ``failed`` with ``scan_error``). Only a ``ready`` dataset can be trained on. ``scan_beat_at``
    is the sweeper's clock: a scanning task touches it with every progress report and heartbeat.

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
    # The team whose admins see, train on and rescan it. None: registered before datasets had a team
    # (or by a superuser who is in no team); such datasets are seen by every admin, as they were.
    team = models.ForeignKey("verification.Team", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="datasets")
    status = models.CharField(max_length=16, choices=ScanStatus.choices, default=ScanStatus.PENDING, db_index=True)
    files_seen = models.PositiveIntegerField(default=0)
    files_total = models.PositiveIntegerField(default=0)
    scan_error = models.TextField(blank=True)
    # The task holding the scan ("" while none does); its claims are counted in scan_attempts.
    scan_claimed_by = models.CharField(max_length=64, blank=True)
    scan_attempts = models.PositiveIntegerField(default=0)
    scan_beat_at = models.DateTimeField(null=True, blank=True)
    scan_finished_at = models.DateTimeField(null=True, blank=True)
    # An uploaded zip stored by the request, unpacked by the scan (then removed and cleared).
    archive = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_scanning(self) -> bool:
        return self.status in (ScanStatus.PENDING, ScanStatus.SCANNING)

    @property
    def progress(self) -> float | None:
        """Share of the files read so far, None while the total is not known yet."""
        return min(1.0, self.files_seen / self.files_total) if self.files_total else None
