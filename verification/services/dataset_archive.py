"""Registering a dataset from an uploaded zip: unpacked safely into a folder Verity owns, then
analysed and registered exactly as a dataset on a server path is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from .. import archives
from ..errors import VerityError
from ..models import Dataset, DatasetOrigin
from ._common import require_admin
from .datasets import analyse, check_name, create, owned_folder
from .submission import Upload


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


def dataset_register_archive(*, actor: Any, name: str, archive: Upload) -> Dataset:
    """Unpack a zip (``<split>/<CLASS>/...``, ``<CLASS>/...`` or a CSV manifest with its images)
    under VERITY_DATASET_DIR and register it. Files that are not images of a class are counted in
    ``analysis["skipped_files"]``, unreadable images in ``undecodable``; a zip that is not one, is
    hostile (paths outside, links, a bomb) or holds no labelled images is refused and leaves no
    folder and no row. Admins only."""
    require_admin(actor)
    name = check_name(name)
    limit = settings.VERITY_MAX_DATASET_ZIP_BYTES
    if archive.size is not None and archive.size > limit:
        raise archives.ArchiveTooLarge(f"The archive is {archive.size / 1e6:.0f} MB; a dataset zip may be at most "
                                       f"{limit / 1e6:.0f} MB. Register a larger dataset by its path on the server.",
                                       details={"archive": ["Too large."]})
    with owned_folder("upload", name) as folder:
        try:
            files = archives.extract_to(archive, folder, max_members=settings.VERITY_MAX_DATASET_ZIP_MEMBERS,
                                        max_bytes=settings.VERITY_MAX_DATASET_UNZIPPED_BYTES)
        except VerityError as exc:
            exc.details = exc.details or {"archive": [exc.message]}
            raise
        root = _dataset_root(folder)
        try:
            samples, analysis, digest = analyse(root, field="archive")
        except VerityError as exc:
            # The folder is removed on the way out: name the archive, not a path that will not exist.
            shown = f"the archive {archive.name or ''}".strip()
            raise VerityError(exc.message.replace(str(folder), shown),
                              details={"archive": [e.replace(str(folder), shown) for e in exc.details["archive"]]}
                              ) from exc
        inside = folder.resolve()
        used = {s.path.resolve() for s in samples}
        if any(not p.is_relative_to(inside) for p in used):
            # A manifest may name any path; one in an uploaded archive may name only its own files.
            raise VerityError("The archive's manifest names files outside the archive; list only the images "
                              "inside it, with paths relative to the manifest.", details={"archive": ["Unsafe."]})
        # The manifest itself is not a skipped file; anything else that is not a sample is.
        analysis["skipped_files"] = sum(1 for p in files if p not in used and p.suffix.lower() != ".csv")
        return create(actor=actor, name=name, root=root, origin=DatasetOrigin.UPLOAD, analysis=analysis,
                      digest=digest, details={"archive": (archive.name or "")[:200], "files": len(files),
                                              "skipped_files": analysis["skipped_files"]})
