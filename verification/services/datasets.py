"""Datasets: registration of a folder or CSV manifest on the server, analysed by ``ml``.

Registering checks what the request can check cheaply (name, confinement to the dataset roots,
the path exists) and records the dataset as ``pending``; a task on the training queue then reads
every image (services.dataset_scans), so a request never decodes a dataset of any size.
A registered dataset's files are not updated: files that change on disk are registered again
under a new name and get a new fingerprint. The other ways in (an uploaded zip, reviewed cases)
put the data in a folder Verity owns and register it here."""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from ml.errors import MLError

from .. import selectors
from ..audit import record_event
from ..errors import VerityError
from ..models import Dataset, DatasetOrigin, ScanStatus, Team
from ..selectors import User
from ._common import require_admin

if TYPE_CHECKING:
    from ml.data.sources import Sample

# Bins of the shorter image side shown on the Datasets dashboard.
SIZE_BINS: tuple[tuple[str, int], ...] = (("<256 px", 256), ("256-511 px", 512), ("512-1023 px", 1024),
                                          ("1024-2047 px", 2048), ("2048+ px", 10**9))


def dashboard_analysis(report: dict[str, Any]) -> dict[str, Any]:
    """The shape documented on ``Dataset.analysis`` from ml's analysis report (schema 1)."""
    counts = report.get("counts", {})
    short = report.get("sizes", {}).get("short_side") or []
    binned: Counter[str] = Counter()
    for side in short:
        binned[next(label for label, upper in SIZE_BINS if side < upper)] += 1
    return {
        "total": int(report.get("n_samples", 0)),
        "by_class": {c: int(counts.get("class", {}).get(c, 0)) for c in ("real", "ai_generated")},
        "by_split": {s: int(counts.get("split", {}).get(s, 0)) for s in ("train", "val", "test")},
        "by_source": dict(counts.get("source", {})),
        "by_generator": dict(counts.get("generator", {})),
        "sizes": [{"label": label, "count": binned[label]} for label, _ in SIZE_BINS if binned[label]],
        # Beyond the dashboard's shape: what could make a training run misleading.
        "decoded": int(report.get("n_decoded", 0)),
        "undecodable": int(report.get("undecodable", {}).get("count", 0)),
        "duplicate_groups": int(report.get("duplicates", {}).get("groups", 0)),
        "cross_split_duplicate_groups": int(report.get("cross_split_duplicates", {}).get("groups", 0)),
        "label_conflict_groups": int(report.get("label_conflicts", {}).get("groups", 0)),
    }


def check_name(name: str) -> str:
    """The stripped name, or a VerityError when it is empty or already registered."""
    name = (name or "").strip()
    if not name:
        raise VerityError("A dataset needs a name.", details={"name": ["This field is required."]})
    if len(name) > 120:
        raise VerityError("A dataset's name is at most 120 characters.", details={"name": ["Too long."]})
    if Dataset.objects.filter(name=name).exists():
        raise _name_taken(name)
    return name


def _name_taken(name: str) -> VerityError:
    return VerityError(f"A dataset named {name!r} is already registered; datasets are immutable, "
                       "so register the new version under a new name.", details={"name": ["Already taken."]})


def analyse(root: Path, *, field: str, on_progress: Callable[[int, int], None] | None = None
            ) -> tuple[list[Sample], dict[str, Any], str]:
    """Read the dataset at ``root`` as ``ml`` reads it: its samples, the dashboard's analysis and
    the content fingerprint. Errors name ``field``, the input that pointed at the data.
    ``on_progress(done, total)`` follows the reading of the images. Runs in the scan task."""
    # Imported here: the readers are only needed when registering, not in every process that
    # imports the services (the web workers and every Celery worker).
    from ml.data.analysis import analyse_samples
    from ml.data.sources import fingerprint as data_fingerprint
    from ml.data.sources import load_samples

    # Reading every file takes a while on a big dataset; it happens before the transaction so no
    # lock is held meanwhile.
    try:
        samples = load_samples(root)
        _confine_samples(samples)
        if not samples:
            raise MLError(f"No images were found in {root}.")
        report = analyse_samples(samples, on_progress=on_progress)
        digest = data_fingerprint(samples)
    except (MLError, OSError) as exc:
        raise VerityError(f"The dataset could not be read: {exc}", details={field: [str(exc)]}) from exc
    return samples, dashboard_analysis(report), digest


def require_visible(actor: User, dataset: Dataset, *, field: str = "dataset") -> None:
    """Refuse a dataset ``actor`` may not see (selectors.datasets_for) exactly as one that does not
    exist, so that no door can be used to learn which ids another team's datasets have."""
    if not selectors.datasets_for(actor).filter(pk=dataset.pk).exists():
        raise VerityError("No such dataset.", details={field: ["No such dataset."]})


def owning_team(actor: User, team: Team | None = None) -> Team | None:
    """The team a new dataset belongs to: ``team`` when given (the actor must administer it; a
    superuser may name any), else the one team the actor administers. An admin of several teams
    must choose: which team's admins see the data is not guessed. A superuser who names none gets
    their first team, or none."""
    if team is not None:
        require_admin(actor, team)
        return team
    if getattr(actor, "is_superuser", False):
        return selectors.default_team_for(actor)  # type: ignore[arg-type]
    teams = list(selectors.admin_teams(actor).order_by("name")[:2])
    if len(teams) > 1:
        raise VerityError("You administer several teams: choose the team the dataset belongs to (its admins "
                          "see it, train on it and rescan it).", details={"team": ["Choose a team."]})
    return teams[0] if teams else None


def create(*, actor: User, name: str, root: Path, origin: str, team: Team | None = None, archive: str = "",
           analysis: dict[str, Any] | None = None, details: dict[str, Any] | None = None) -> Dataset:
    """The Dataset row (pending: nothing read yet) and its audit event, in one transaction; the
    scan task is sent once it is committed. ``analysis`` may carry what the request already
    knows (the scan keeps it)."""
    try:
        with transaction.atomic():
            dataset = Dataset.objects.create(
                name=name, path=str(root), origin=origin, analysis=analysis or {}, archive=archive,
                team=owning_team(actor, team), status=ScanStatus.PENDING, scan_beat_at=timezone.now(),
                created_by_id=actor.pk if getattr(actor, "is_authenticated", False) else None)
            record_event(action="dataset.registered", obj=dataset, actor=actor, team=dataset.team, details={
                "origin": origin, "path": str(root), **(details or {})})
            send_scan_after_commit(dataset.pk)
    except IntegrityError as exc:  # registered under this name meanwhile
        raise _name_taken(name) from exc
    return dataset


def send_scan_after_commit(dataset_id: int) -> None:
    from ..queue import enqueue_dataset_scan

    transaction.on_commit(lambda: enqueue_dataset_scan(dataset_id))


@contextmanager
def owned_folder(kind: str, name: str) -> Iterator[Path]:
    """A new folder under VERITY_DATASET_DIR for a dataset Verity holds itself; removed again when
    the block fails, so a refused upload or build leaves nothing behind."""
    folder = Path(settings.VERITY_DATASET_DIR) / f"{kind}-{slugify(name)[:40] or 'dataset'}-{uuid.uuid4().hex[:12]}"
    existed = folder.exists()  # another dataset's (the names differ by a random part): never removed here
    try:
        yield folder
    except BaseException:
        if not existed:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def dataset_register(*, actor: User, name: str, path: str, team: Team | None = None) -> Dataset:
    """Register the dataset at ``path`` (a folder layout or a CSV manifest, as ``ml`` reads them);
    its counts and content fingerprint come from the scan task. Admins only."""
    require_admin(actor)
    name = check_name(name)
    team = owning_team(actor, team)
    root = confined_path(path)
    try:
        exists = root.exists()
    except OSError:  # e.g. a name too long for the file system
        exists = False
    if not exists:  # inside an allowed root, which admins may look into anyway
        raise VerityError(f"{root} does not exist on the server.", details={"path": ["Not found."]})
    return create(actor=actor, name=name, root=root, origin=DatasetOrigin.PATH, team=team)


def dataset_roots() -> list[Path]:
    """The folders a dataset path may point into: VERITY_DATASET_ROOTS, plus the folder Verity keeps
    uploaded and built datasets in (VERITY_DATASET_DIR). Symlinks resolved."""
    roots = [*settings.VERITY_DATASET_ROOTS, settings.VERITY_DATASET_DIR]
    return list(dict.fromkeys(Path(os.path.realpath(r)) for r in roots if str(r).strip()))


def _outside_roots(roots: list[Path]) -> VerityError:
    # One message whether the path exists or not, so the form cannot be used to probe the server.
    where = ", ".join(str(r) for r in roots)
    return VerityError(f"Datasets can only be registered from under {where}. Copy or link the data there, or "
                       "ask the operator to add its folder to VERITY_DATASET_ROOTS.",
                       details={"path": ["Outside the dataset folders."]})


def confined_path(path: str) -> Path:
    """The absolute, symlink-resolved ``path`` if it lies under one of dataset_roots(); else a
    VerityError that says the same whatever is (or is not) at ``path``."""
    text = (path or "").strip()
    if "\x00" in text or not Path(text).is_absolute():
        raise VerityError("Give the dataset's absolute path on the server.", details={"path": ["Not absolute."]})
    roots = dataset_roots()
    # realpath resolves ".." and every symlink that exists, so a link inside a root to elsewhere is outside.
    resolved = Path(os.path.realpath(text))
    if not any(resolved.is_relative_to(root) for root in roots):
        raise _outside_roots(roots)
    return resolved


def _confine_samples(samples: list[Sample]) -> None:
    """A manifest inside a root may list files anywhere: refuse it before any of them is read."""
    roots = dataset_roots()
    for sample in samples:
        if not any(Path(os.path.realpath(sample.path)).is_relative_to(root) for root in roots):
            raise _outside_roots(roots)
