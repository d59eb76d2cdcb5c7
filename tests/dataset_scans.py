"""Run a registered dataset's scan now, in the test process, through the task's own body
(worker.dataset_scan.run_scan): what a training worker does with the scan_dataset message."""

from __future__ import annotations

from typing import Any


def scanned(dataset: Any, claimant: str = "test-scan") -> Any:
    """The dataset after its scan ran (ready or failed), fresh from the database."""
    from verification.models import Dataset
    from worker.dataset_scan import run_scan

    run_scan(dataset.pk, claimant=claimant)
    return Dataset.objects.get(pk=dataset.pk)
