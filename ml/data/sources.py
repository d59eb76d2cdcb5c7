"""Where labelled images come from.

Three layouts are read:

* a folder, either ``<root>/<split>/<CLASS>/*`` (CIFAKE's ``train/REAL``) or ``<root>/<CLASS>/*``;
* a CSV manifest with a header of at least ``path`` (or ``relpath``) and ``label`` (optionally
  ``split``, ``source``, ``generator``, ``sha256``, ``shard``), paths relative to the manifest's
  folder. A row with a ``shard`` names a member of that tar file;
* a source as laid out in ``shared/data``: ``<source>/MANIFEST.csv`` with ``relpath,label,...``
  and the image bytes in ``<source>/images-000.tar ...`` shards (see :mod:`ml.data.shards`). A
  folder whose subfolders are such sources (``shared/data`` itself) reads all of them.

Class folder names are matched case-insensitively: REAL/real -> real; FAKE/fake/ai/generated ->
ai_generated.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from .. import CLASSES
from ..errors import MLError
from ..formats import SUFFIXES
from .shards import find_shards, member_key, shard_reader

IMAGE_SUFFIXES = SUFFIXES
SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val",
                  "validation": "val", "test": "test", "testing": "test"}
_LABEL_ALIASES = {
    "real": "real", "0": "real", "authentic": "real", "photo": "real",
    "fake": "ai_generated", "ai": "ai_generated", "ai_generated": "ai_generated",
    "generated": "ai_generated", "synthetic": "ai_generated", "1": "ai_generated",
}


def normalise_label(name: str) -> str | None:
    """Map a folder or manifest label to one of :data:`ml.CLASSES`, or None if unknown."""
    return _LABEL_ALIASES.get(name.strip().lower().replace("-", "_"))


def normalise_split(name: str) -> str | None:
    """Map a folder or manifest split name (``training``, ``valid`` ...) to one of :data:`SPLITS`."""
    return _SPLIT_ALIASES.get(name.lower())


@dataclass(frozen=True)
class Sample:
    """One labelled image. ``path`` is the image file, or the tar shard when ``member`` is set."""

    path: Path
    label: str
    split: str = ""
    source: str = ""
    generator: str = ""
    member: str = ""  # name inside the tar shard at ``path``; empty for a plain file
    sha256: str = ""  # as declared by a manifest; empty when unknown

    @property
    def target(self) -> int:
        return CLASSES.index(self.label)

    @property
    def ref(self) -> str:
        """A stable, human-readable identity: the file path, or ``shard.tar::member``."""
        return f"{self.path}::{self.member}" if self.member else str(self.path)

    def read_bytes(self) -> bytes:
        if self.member:
            return shard_reader(self.path).read(self.member)
        try:
            return self.path.read_bytes()
        except FileNotFoundError as exc:
            raise MLError(f"Image file not found: {self.path}") from exc


def load_samples(root: str | Path) -> list[Sample]:
    """Read every labelled sample under ``root`` (a folder or a manifest CSV), sorted by path."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".csv":
        samples = _from_manifest(root)
    elif root.is_dir():
        manifest = root / "MANIFEST.csv"
        if manifest.is_file():
            samples = _from_manifest(manifest)
        elif sources := sorted(p for p in root.iterdir() if (p / "MANIFEST.csv").is_file()):
            samples = [s for src in sources for s in _from_manifest(src / "MANIFEST.csv")]
        else:
            samples = _from_folders(root)
    else:
        raise MLError(f"No dataset at {root}: expected a folder or a .csv manifest.")
    if not samples:
        raise MLError(
            f"No labelled images found under {root}. Expected <split>/<CLASS>/image files or "
            "<CLASS>/image files with CLASS one of REAL or FAKE, or a CSV manifest."
        )
    return sorted(samples, key=sort_key)


def sort_key(s: Sample) -> tuple[str, str]:
    return (str(s.path), s.member)


def _from_folders(root: Path) -> list[Sample]:
    samples: list[Sample] = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        split = normalise_split(child.name)
        if split is not None:
            for class_dir in sorted(p for p in child.iterdir() if p.is_dir()):
                samples.extend(_images_in(class_dir, split))
        else:
            samples.extend(_images_in(child, ""))
    return samples


def _images_in(class_dir: Path, split: str) -> list[Sample]:
    label = normalise_label(class_dir.name)
    if label is None:
        return []
    return [Sample(path=p, label=label, split=split)
            for p in sorted(class_dir.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]


def _from_manifest(manifest: Path) -> list[Sample]:
    base = manifest.parent
    # Shards beside the manifest hold the images of rows that name no shard themselves.
    shards = [shard_reader(p) for p in find_shards(base)]
    located: dict[str, Path] = {}
    for shard in shards:
        for name in shard.index:
            located.setdefault(name, shard.path)
    samples = []
    missing: list[str] = []
    with manifest.open(newline="") as f:
        reader = csv.DictReader(f)
        fields = set(reader.fieldnames or [])
        path_key = "relpath" if "relpath" in fields else "path"
        if path_key not in fields or "label" not in fields:
            raise MLError(f"{manifest} needs a header with path (or relpath) and label columns.")
        for lineno, row in enumerate(reader, start=2):
            label = normalise_label(row["label"] or "")
            if label is None:
                raise MLError(f"{manifest}:{lineno}: unknown label {row['label']!r}.")
            split = normalise_split(row.get("split") or "") or ""
            rel = row[path_key] or ""
            member = ""
            if row.get("shard"):
                path, member = base / row["shard"], member_key(rel)
            elif (base / rel).is_file() or not shards:
                path = base / rel
            elif member_key(rel) in located:
                path, member = located[member_key(rel)], member_key(rel)
            else:
                missing.append(rel)
                continue
            samples.append(Sample(path=path, label=label, split=split,
                                  source=row.get("source") or "", generator=row.get("generator") or "",
                                  member=member, sha256=(row.get("sha256") or "").lower()))
    if missing:
        raise MLError(
            f"{manifest}: {len(missing)} listed image(s) are neither files nor members of the "
            f"{len(shards)} tar shard(s) beside it, for example {missing[0]!r}."
        )
    return samples


def fingerprint(samples: list[Sample]) -> str:
    """A content fingerprint of a dataset: SHA-256 over each file's hash, label and split."""
    h = hashlib.sha256()
    for s in sorted(samples, key=sort_key):
        digest = s.sha256 or hashlib.sha256(s.read_bytes()).hexdigest()
        h.update(f"{digest},{s.label},{s.split}\n".encode())
    return h.hexdigest()
