"""Registering a dataset from an uploaded zip: checked and stored by the request, unpacked safely
into a folder Verity owns by the scan task, then read exactly as a dataset on a server path is."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from .. import archives
from ..errors import VerityError
from ..models import Dataset, DatasetOrigin, Team
from ..selectors import User
from ._common import require_admin
from .datasets import check_name, create, owned_folder, owning_team


def _dataset_root(folder: Path) -> Path:
    """Where ``ml`` should read the unpacked archive: a zip of a dataset folder holds that folder
    (go down while there is one lone folder that is not a split or a class); a lone CSV beside the
    images is the manifest (``ml`` only looks for one named MANIFEST.csv by itself)."""
    from ml.data.sources import normalise_label, normalise_split

    root = folder
    while True:
        entries = list(root.iterdir())
        if (len(entries) == 1 and entries[0].is_dir() and normalise_label(entries[0].name) is None
                and normalise_split(entries[0].name) is None):
            root = entries[0]
            continue
        break
    csvs = [p for p in entries if p.is_file() and p.suffix.lower() == ".csv"]
    if not (root / "MANIFEST.csv").is_file() and len(csvs) == 1:
        return csvs[0]
    return root


def dataset_register_archive(*, actor: User, name: str, archive: UploadedFile, team: Team | None = None) -> Dataset:
    """Register a zip (``<split>/<CLASS>/...``, ``<CLASS>/...`` or a CSV manifest with its images).
    The request checks what the zip's directory tells (a zip that is not one, is hostile, too large
    or empty is refused and leaves no file and no row) and stores the zip under VERITY_DATASET_DIR;
    the scan task unpacks it (unpack_archive) and reads the images. Admins only."""
    require_admin(actor)
    name = check_name(name)
    team = owning_team(actor, team)  # before anything is stored
    limit = settings.VERITY_MAX_DATASET_ZIP_BYTES
    if archive.size is not None and archive.size > limit:
        raise archives.ArchiveTooLarge(f"The archive is {archive.size / 1e6:.0f} MB; a dataset zip may be at most "
                                       f"{limit / 1e6:.0f} MB. Register a larger dataset by its path on the server.",
                                       details={"archive": ["Too large."]})
    try:
        files = archives.check(archive, max_members=settings.VERITY_MAX_DATASET_ZIP_MEMBERS,
                               max_bytes=settings.VERITY_MAX_DATASET_UNZIPPED_BYTES)
    except VerityError as exc:
        exc.details = exc.details or {"archive": [exc.message]}
        raise
    with owned_folder("upload", name) as folder:
        stored = stored_zip(folder)
        written = False
        try:
            stored.parent.mkdir(parents=True, exist_ok=True)
            archive.seek(0)
            with stored.open("xb") as out:  # exclusive: never over a file this request did not write
                written = True
                shutil.copyfileobj(archive, out, length=1024 * 1024)
            return create(actor=actor, name=name, root=folder, origin=DatasetOrigin.UPLOAD, team=team,
                          archive=str(stored),
                          details={"archive": (archive.name or "")[:200], "files": files})
        except BaseException:
            if written:  # remove what this request wrote, and only that
                stored.unlink(missing_ok=True)
            raise


def stored_zip(folder: Path) -> Path:
    """Where the request keeps an uploaded zip until the scan unpacks it into ``folder``."""
    return folder.with_name(folder.name + ".zip")


def unpack_archive(dataset: Dataset) -> tuple[Path, list[Path]]:
    """In the scan task: unpack the dataset's stored zip into its folder (again from scratch if an
    earlier attempt died half-way) and return where ``ml`` should read it with the number of
    files unpacked. Raises VerityError on a zip that turns out bad while unpacking."""
    folder, stored = Path(dataset.path), Path(dataset.archive)
    shutil.rmtree(folder, ignore_errors=True)  # a crashed attempt's half: unpacking starts over
    try:
        with stored.open("rb") as zipped:
            files = archives.extract_to(zipped, folder, max_members=settings.VERITY_MAX_DATASET_ZIP_MEMBERS,
                                        max_bytes=settings.VERITY_MAX_DATASET_UNZIPPED_BYTES)
    except OSError as exc:
        raise VerityError(f"The uploaded archive could not be read: {exc}") from exc
    return _dataset_root(folder), files


def check_unpacked(folder: Path, files: list[Path], samples: list[Any]) -> int:
    """Refuse a manifest that names files outside its archive; the number of unpacked files that
    are not samples (the manifest itself aside), counted as skipped."""
    inside = folder.resolve()
    used = {s.path.resolve() for s in samples}
    if any(not p.is_relative_to(inside) for p in used):
        # A manifest may name any path; one in an uploaded archive may name only its own files.
        raise VerityError("The archive's manifest names files outside the archive; list only the images "
                          "inside it, with paths relative to the manifest.", details={"archive": ["Unsafe."]})
    return sum(1 for p in files if p.resolve() not in used and p.suffix.lower() != ".csv")
