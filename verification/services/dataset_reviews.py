"""Building a labelled dataset from reviewed cases: the images whose final human verdict is real
or AI-generated, copied into a folder Verity owns with a manifest, then analysed and registered
as any dataset is (by the scan task)."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

from ml.errors import MLError

from .. import selectors, storage
from ..errors import VerityError
from ..models import Dataset, DatasetOrigin, Team
from ..selectors import User
from ._common import require_admin
from .dataset_scans import require_ready
from .datasets import check_name, create, owned_folder, owning_team, require_visible

# The manifest's ``source`` of reviewed images: splits are stratified by (class, source), so they
# are spread over train, val and test in proportion of their own.
REVIEWED_SOURCE = "verity-reviews"
MIN_PER_CLASS = 2


def _verdicts_by_sha256(actor: User, team: Team) -> tuple[dict[str, set[str]], dict[str, str], int]:
    """Each distinct reviewed image of ``team``'s cases (by SHA-256) with the verdicts given to its
    copies, and one stored file."""
    verdicts: dict[str, set[str]] = defaultdict(set)
    files: dict[str, str] = {}
    n = 0
    for sha256, verdict, name in selectors.reviewed_images(actor, team).values_list("sha256", "human_verdict", "file"):
        verdicts[sha256].add(verdict)
        files.setdefault(sha256, name)
        n += 1
    return verdicts, files, n


def _samples_of(dataset: Dataset) -> list[Any]:
    from ml.data.sources import load_samples

    require_ready(dataset, field="mix_with")
    try:
        return load_samples(Path(dataset.path))
    except (MLError, OSError) as exc:
        raise VerityError(f"Dataset {dataset.name} could not be read to mix it in: {exc}",
                          details={"mix_with": [str(exc)]}) from exc


def _copy_images(labels: dict[str, str], files: dict[str, str], folder: Path) -> tuple[list[Any], int]:
    """Copy each image's stored bytes into ``folder/images`` (so deleting a case later never changes
    the dataset); an image whose stored file is gone or altered is left out and counted."""
    from ml.data.sources import Sample

    (folder / "images").mkdir(parents=True)
    samples, missing = [], 0
    for sha256, label in sorted(labels.items()):
        try:
            data = storage.read(files[sha256])
        except OSError:
            missing += 1
            continue
        if storage.sha256_hex(data) != sha256:
            missing += 1
            continue
        target = folder / "images" / f"{sha256}{PurePosixPath(files[sha256]).suffix}"
        target.write_bytes(data)
        samples.append(Sample(path=target, label=label, source=REVIEWED_SOURCE, sha256=sha256))
    return samples, missing


def dataset_build_from_reviews(*, actor: User, name: str, mix_with: Dataset | None = None,
                               team: Team | None = None) -> Dataset:
    """Register a dataset of ``team``'s images in finalised cases whose latest review says real or
    AI-generated, labelled so. Only that team's cases: the dataset is seen by that team's admins,
    so an admin of several teams who picks one never copies another team's images into it. A
    dataset without a team (seen by every admin) cannot be built from reviews: a superuser in no
    team must pick one.

    Copies of one image (same SHA-256) count once; an image whose copies were given different
    verdicts is dropped. The split is left empty for ``ml``'s seeded, duplicate-aware split.
    ``mix_with`` appends another registered dataset's samples with their own source and split
    (its files are referred to where they are, not copied). Refused when the result has fewer
    than two images of either class. The dataset belongs to ``team`` (services.datasets.owning_team).
    Admins only."""
    from ml.splits import write_split_manifest

    require_admin(actor)
    name = check_name(name)
    team = owning_team(actor, team)
    if team is None:
        raise VerityError("Choose the team whose reviewed cases make the dataset (its admins see it).",
                          details={"team": ["Choose a team."]})
    if mix_with is not None:
        require_visible(actor, mix_with, field="mix_with")
    verdicts, files, n_reviewed = _verdicts_by_sha256(actor, team)
    labels = {sha256: next(iter(v)) for sha256, v in verdicts.items() if len(v) == 1}
    conflicts = len(verdicts) - len(labels)
    if not labels:
        raise VerityError(f"No finalised case of team {team.name} has an image reviewed as real or AI-generated"
                          + (f" without conflicting verdicts ({conflicts} conflicting images dropped)" if conflicts
                             else "") + ". Review and finalise cases first.", details={"name": ["No images."]})
    mixed = _samples_of(mix_with) if mix_with is not None else []
    with owned_folder("reviews", name) as folder:
        samples, missing = _copy_images(labels, files, folder)
        by_class = Counter(s.label for s in [*samples, *mixed])
        if min(by_class["real"], by_class["ai_generated"]) < MIN_PER_CLASS:
            raise VerityError(
                f"A dataset needs at least {MIN_PER_CLASS} images of each class; this one would have "
                f"{by_class['real']} real and {by_class['ai_generated']} AI-generated. Review and finalise more "
                "cases, or mix in a registered dataset.", details={"name": ["Too few images."]})
        write_split_manifest([*samples, *mixed], folder / "MANIFEST.csv")
        counts = {"reviewed_images": n_reviewed, "images": len(samples),
                  "duplicates_merged": n_reviewed - len(verdicts), "conflicting_images_dropped": conflicts,
                  "missing_files": missing, "mixed_with": mix_with.name if mix_with else None,
                  "mixed_samples": len(mixed)}
        # The scan (a task) reads the images; it keeps these counts of the build in its analysis.
        return create(actor=actor, name=name, root=folder, origin=DatasetOrigin.REVIEWS, team=team,
                      analysis={"reviewed": counts}, details=counts)
