"""Dataset scans: reading every image of a registered dataset, in worker.tasks.scan_dataset on the
training queue, never in a web request.

A scan goes pending -> scanning -> ready | failed (models.SCAN_TRANSITIONS). The task claims a
pending dataset with a conditional update (``scan_claimed_by``), beats while it reads (touches
``scan_beat_at``), and records its outcome only while it still holds the claim; a scan whose
worker died (no beat for VERITY_CLAIM_DEAD_AFTER_S) is taken back by the sweeper and sent
again. A scan replaces the dataset's counts and fingerprint, so running it twice never doubles
anything. A rescan (admins) starts the same again on a ready or failed dataset."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..audit import record_event
from ..errors import InvalidTransition, VerityError
from ..models import SCAN_TRANSITIONS, Dataset, DatasetOrigin, ScanStatus, TrainingRun, TrainingStatus
from ..selectors import User
from ._common import require_admin
from .leases import Lease
from .dataset_archive import check_unpacked, unpack_archive
from .datasets import analyse, send_scan_after_commit

logger = logging.getLogger(__name__)

# Counts of how a dataset was made, known before the scan: a scan keeps them from the analysis it replaces.
_KEPT = ("reviewed", "skipped_files")


class DatasetNotReady(VerityError):
    code = "dataset_not_ready"
    status = 409


def require_ready(dataset: Dataset, *, field: str = "dataset") -> None:
    """Refuse to use a dataset whose scan has not finished well (training, evaluating, mixing in),
    with a message that says what to do."""
    if dataset.status == ScanStatus.READY:
        return
    if dataset.status == ScanStatus.FAILED:
        message = (f"Dataset {dataset.name} cannot be used: its scan failed ({dataset.scan_error}) Fix the data, "
                   "then rescan it on the Datasets page.")
    else:
        read = f"{dataset.files_seen} of {dataset.files_total} files read" if dataset.files_total else "waiting"
        message = (f"Dataset {dataset.name} is still being scanned ({read}); it can be used once its scan is "
                   "ready.")
    raise DatasetNotReady(message, details={field: [message]})


def _transition(dataset: Dataset, to: str) -> None:
    if to not in SCAN_TRANSITIONS[dataset.status]:
        raise InvalidTransition(f"The scan of dataset {dataset.name} is {dataset.status}; it cannot become {to}.")
    dataset.status = to


def _locked(dataset_id: int) -> Dataset | None:
    return LEASE.locked(dataset_id)


def dataset_rescan(*, actor: User, dataset: Dataset) -> Dataset:
    """Scan a ready or failed dataset again (admins of its team). Refused (409) while it is scanned."""
    require_admin(actor, dataset.team)
    with transaction.atomic():
        locked = _locked(dataset.pk)
        if locked is None:
            raise VerityError("No such dataset.")
        if locked.is_scanning:
            raise InvalidTransition(f"Dataset {locked.name} is already being scanned; wait for the scan to finish.")
        was = locked.status
        _to_pending(locked)
        record_event(action="dataset.rescan_requested", obj=locked, actor=actor, team=locked.team,
                     details={"was": was, "fingerprint": locked.fingerprint})
        send_scan_after_commit(locked.pk)
    return locked


def _to_pending(dataset: Dataset) -> None:
    _transition(dataset, ScanStatus.PENDING)
    dataset.scan_claimed_by = ""
    dataset.scan_error = ""
    dataset.files_seen = dataset.files_total = 0
    dataset.scan_beat_at = timezone.now()
    dataset.save(update_fields=["status", "scan_claimed_by", "scan_error", "files_seen", "files_total",
                                "scan_beat_at"])


def dataset_scan_begin(*, dataset_id: int, claimant: str) -> Dataset | None:
    """The task claims a pending scan (pending -> scanning). None when there is nothing to do: the
    dataset is unknown, ready, failed, or scanned by a live task (a duplicate message). A scan
    whose task stopped beating, or that this very task (the claimant is the task id) held when
    its worker process died and the broker delivered the message again, is taken back and
    claimed again, as the sweeper would have done."""
    with transaction.atomic():
        dataset = _locked(dataset_id)
        LEASE.take_back_if_dead(dataset, reason="delivered again after its worker stopped",
                                also=dataset is not None and dataset.scan_claimed_by == claimant[:64])
        if dataset is None or dataset.status != ScanStatus.PENDING:
            return None
        _transition(dataset, ScanStatus.SCANNING)
        dataset.scan_claimed_by = claimant[:64]
        dataset.scan_attempts += 1
        dataset.files_seen = dataset.files_total = 0
        dataset.scan_beat_at = timezone.now()
        dataset.save(update_fields=["status", "scan_claimed_by", "scan_attempts", "files_seen", "files_total",
                                    "scan_beat_at"])
        record_event(action="dataset.scan_started", obj=dataset, team=dataset.team,
                     details={"attempt": dataset.scan_attempts})
    return dataset


def _give_up(dataset: Dataset) -> None:
    """A scan whose worker died at every one of its attempts (data that kills its worker every time)."""
    _finish(dataset, ScanStatus.FAILED, error=(
        f"The worker scanning this dataset stopped reporting after {dataset.scan_attempts} attempt(s), so it "
        "was not restarted again. Check the training worker's log (out of memory? killed?), then rescan."))


def dataset_scan_heartbeat(*, dataset_id: int, claimant: str) -> bool:
    """The scanning task is alive; False when it no longer holds the scan."""
    return LEASE.beat_now(dataset_id, held={"scan_claimed_by": claimant[:64]})


def dataset_scan_progress(*, dataset_id: int, claimant: str, seen: int, total: int) -> bool:
    """Files read so far (telemetry: overwritten, not audited); also a heartbeat."""
    return LEASE.beat_now(dataset_id, held={"scan_claimed_by": claimant[:64]}, files_seen=seen, files_total=total)


def progress_reporter(*, dataset_id: int, claimant: str, every_s: float = 1.0) -> Any:
    """``on_progress(done, total)`` for the reading: stores the count at most every ``every_s``."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            dataset_scan_progress(dataset_id=dataset_id, claimant=claimant, seen=done, total=total)

    return report


def dataset_scan_read(dataset: Dataset, *, on_progress: Any = None) -> tuple[Path, dict[str, Any], str]:
    """Read the claimed dataset: unpack its uploaded zip first when it has one, then read and
    decode every image. Returns where it lies, the analysis and the fingerprint; raises
    VerityError (or ml's MLError) with a message for the reviewer when the data is unusable."""
    root = Path(dataset.path)
    files: list[Path] | None = None
    if dataset.archive:
        root, files = unpack_archive(dataset)
    field = "archive" if dataset.origin == DatasetOrigin.UPLOAD else "path"
    samples, analysis, digest = analyse(root, field=field, on_progress=on_progress)
    for key in _KEPT:
        if key in (dataset.analysis or {}):
            analysis[key] = dataset.analysis[key]
    if files is not None:
        analysis["skipped_files"] = check_unpacked(Path(dataset.path), files, samples)
    return root, analysis, digest


def dataset_scan_finish(*, dataset_id: int, claimant: str, root: Path, analysis: dict[str, Any],
                        digest: str) -> Dataset | None:
    """Record a finished scan (scanning -> ready): counts and fingerprint replace the old ones.
    None when the task no longer holds the scan (the sweeper took it back): nothing is recorded."""
    with transaction.atomic():
        dataset = _locked(dataset_id)
        if dataset is None or dataset.status != ScanStatus.SCANNING or dataset.scan_claimed_by != claimant[:64]:
            return None
        previous = dataset.fingerprint
        stored = Path(dataset.archive) if dataset.archive else None
        dataset.path, dataset.analysis, dataset.fingerprint, dataset.archive = str(root), analysis, digest, ""
        dataset.files_seen = dataset.files_total = int(analysis["total"])
        _finish(dataset, ScanStatus.READY, extra=["path", "analysis", "fingerprint", "archive", "files_seen",
                                                  "files_total"],
                details={"fingerprint": digest, "previous_fingerprint": previous, "total": analysis["total"]})
        if stored is not None:  # unpacked: the zip is no longer needed
            transaction.on_commit(lambda: stored.unlink(missing_ok=True))
    return dataset


def dataset_scan_fail(*, dataset_id: int, claimant: str | None, reason: str) -> Dataset | None:
    """Record why the scan failed (scanning -> failed), if ``claimant`` still holds it (None: any)."""
    with transaction.atomic():
        dataset = _locked(dataset_id)
        if dataset is None or not dataset.is_scanning:
            return None
        if claimant is not None and dataset.scan_claimed_by != claimant[:64]:
            return None
        _finish(dataset, ScanStatus.FAILED, error=reason)
    return dataset


def _finish(dataset: Dataset, status: str, *, error: str = "", extra: list[str] | None = None,
            details: dict[str, Any] | None = None) -> None:
    if status == ScanStatus.FAILED and dataset.archive:
        # An uploaded zip not yet unpacked for good: the folder at its path holds only what the
        # failed scan unpacked (the request stores the zip beside it). Remove that, keep the zip
        # (written by the registration) so that a rescan can unpack it again.
        unpacked = Path(dataset.path)
        transaction.on_commit(lambda: shutil.rmtree(unpacked, ignore_errors=True))
    _transition(dataset, status)
    dataset.scan_error = error
    dataset.scan_claimed_by = ""
    dataset.scan_finished_at = timezone.now()
    dataset.save(update_fields=["status", "scan_error", "scan_claimed_by", "scan_finished_at", *(extra or [])])
    record_event(action=f"dataset.scan_{status}", obj=dataset, team=dataset.team,
                 details={**({"reason": error} if error else {}), **(details or {})})


def dataset_scans_stuck(*, queued_for_s: int) -> list[int]:
    """Scans no task seems to handle (:meth:`Lease.stuck`): scanning without a beat for
    VERITY_CLAIM_DEAD_AFTER_S, or pending for ``queued_for_s`` since last sent while no other scan
    and no training run keeps the training queue busy."""
    return LEASE.stuck(queued_for_s=queued_for_s,
                       busy=lambda: TrainingRun.objects.filter(status=TrainingStatus.RUNNING).exists())


def dataset_scan_requeue(*, dataset_id: int, reason: str) -> bool:
    """Send a stuck scan again (the sweeper, :meth:`Lease.requeue`), audited: a dead task's scan goes
    back to pending (or fails once it used up its attempts); a pending one is re-sent. False when
    it no longer needs it."""
    return LEASE.requeue(dataset_id, reason=reason)


# A scan is held by its task: when that task is dead, how it is taken back and sent again.
LEASE: Lease[Dataset] = Lease(
    model=Dataset, running=ScanStatus.SCANNING, waiting=ScanStatus.PENDING, beat="scan_beat_at",
    attempts="scan_attempts", dead_after="VERITY_CLAIM_DEAD_AFTER_S", requeued="dataset.scan_requeued",
    send=send_scan_after_commit, to_waiting=_to_pending, give_up=_give_up, team=lambda dataset: dataset.team)
