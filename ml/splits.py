"""Seeded, stratified train/val/test splits that never put copies of one image in two splits.

Stratification is by (class, source): every split gets each class and each source in proportion.
The unit that is assigned is a group of exact duplicates (same SHA-256 of the file bytes), so a
copy of a test image can never sit in training. A split is saved as a manifest CSV that
:func:`ml.data.load_samples` reads back, so a run can be repeated on exactly the same split.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import random
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

from .data.sources import SPLITS, Sample, sort_key
from .errors import MLError

logger = logging.getLogger(__name__)

DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
MANIFEST_FIELDS = ("path", "label", "split", "source", "generator", "sha256", "shard")


def content_sha256(sample: Sample) -> str:
    """The SHA-256 of the sample's bytes (the manifest's value when it declares one)."""
    return sample.sha256 or hashlib.sha256(sample.read_bytes()).hexdigest()


def _check_fractions(fractions: tuple[float, float, float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise MLError(f"Split fractions must be three non-negative numbers summing to 1, not {fractions}.")


def make_splits(samples: list[Sample], *, seed: int = 0,
                fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
                keep_existing: bool = False) -> list[Sample]:
    """Return the samples with a split each (and their SHA-256 filled in).

    With ``keep_existing``, samples that already have a split keep it, and their duplicates join
    them; only the rest are assigned. Otherwise everything is split afresh.
    """
    _check_fractions(fractions)
    samples = sorted(samples, key=sort_key)
    hashed = [replace(s, sha256=content_sha256(s)) for s in samples]
    groups: dict[str, list[Sample]] = defaultdict(list)
    for s in hashed:
        groups[s.sha256].append(s)

    out: list[Sample] = []
    strata: dict[tuple[str, str], list[list[Sample]]] = defaultdict(list)
    for digest in sorted(groups):
        group = groups[digest]
        given = Counter(s.split for s in group if s.split) if keep_existing else Counter()
        if given:
            # Given splits stay as they are (analysis reports duplicates the data itself puts in
            # two splits); unsplit copies join the most common given split (ties: train first).
            split = min(given, key=lambda k: (-given[k], SPLITS.index(k)))
            out.extend(s if s.split else replace(s, split=split) for s in group)
        else:
            strata[(group[0].label, group[0].source)].append(group)

    rng = random.Random(seed)
    for key in sorted(strata):
        units = strata[key]
        rng.shuffle(units)
        n = sum(len(u) for u in units)
        n_train = round(n * fractions[0])
        n_val = round(n * fractions[1])
        filled = {"train": 0, "val": 0, "test": 0}
        for unit in units:
            if filled["train"] < n_train:
                split = "train"
            elif filled["val"] < n_val:
                split = "val"
            else:
                split = "test"
            filled[split] += len(unit)
            out.extend(replace(s, split=split) for s in unit)
    return sorted(out, key=sort_key)


def assign_splits(samples: list[Sample], *, seed: int = 0,
                  fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> list[Sample]:
    """Keep splits the data already has; give the rest a seeded, stratified, duplicate-aware one.
    Copies that the data itself puts in two splits are regrouped (see :func:`split_samples`)."""
    return split_samples(samples, seed=seed, fractions=fractions)[0]


def split_samples(samples: list[Sample], *, seed: int = 0,
                  fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> tuple[list[Sample], int]:
    """:func:`assign_splits` plus the number of copies moved by :func:`regroup_copies`.

    Every sample comes back with its SHA-256 filled in (so callers can exclude images by content)."""
    hashed = [s if s.sha256 else replace(s, sha256=content_sha256(s)) for s in samples]
    if not all(s.split for s in hashed):
        hashed = make_splits(hashed, seed=seed, fractions=fractions, keep_existing=True)
    out, moved = regroup_copies(hashed)
    if moved:
        logger.warning("%d image(s) had a byte-identical copy in an earlier split; moved to that split so "
                       "copies never cross splits.", moved)
    return out, moved


def regroup_copies(samples: list[Sample]) -> tuple[list[Sample], int]:
    """Put every group of byte-identical samples (same SHA-256) into the earliest split any of them
    has (train, then val, then test), and return the samples with the number moved.

    A manifest's fixed split is data like any other: CIFAKE puts 13 groups of identical files in
    two splits. A test copy of a training image measures memory, not detection, so the copy joins
    the split its twin was trained on (or tuned on) and is never evaluated."""
    groups: dict[str, set[str]] = defaultdict(set)
    for s in samples:
        if s.sha256 and s.split:
            groups[s.sha256].add(s.split)
    target = {d: min(splits, key=SPLITS.index) for d, splits in groups.items() if len(splits) > 1}
    if not target:
        return samples, 0
    out, moved = [], 0
    for s in samples:
        split = target.get(s.sha256, s.split) if s.split else s.split
        if split != s.split:
            moved += 1
            s = replace(s, split=split)
        out.append(s)
    return out, moved


def write_split_manifest(samples: list[Sample], path: str | Path) -> Path:
    """Save ``samples`` (with their splits) as a manifest CSV that ``load_samples`` reads back.

    Paths are written relative to the CSV's folder; a sample inside a tar shard is written as its
    member name with the shard in the ``shard`` column."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent.resolve()

    def rel(p: Path) -> str:
        return Path(os.path.relpath(p.resolve(), base)).as_posix()

    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(MANIFEST_FIELDS))
        writer.writeheader()
        for s in sorted(samples, key=sort_key):
            writer.writerow({
                "path": s.member if s.member else rel(s.path), "label": s.label, "split": s.split,
                "source": s.source, "generator": s.generator, "sha256": s.sha256,
                "shard": rel(s.path) if s.member else "",
            })
    os.replace(tmp, path)
    return path


def split_summary(samples: list[Sample]) -> dict[str, dict[str, int]]:
    """Counts per split and class, e.g. ``{"train": {"real": 70, "ai_generated": 70}, ...}``."""
    summary: dict[str, dict[str, int]] = {}
    for s in samples:
        summary.setdefault(s.split or "(none)", {}).setdefault(s.label, 0)
        summary[s.split or "(none)"][s.label] += 1
    return summary
