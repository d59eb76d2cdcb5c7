"""Seeded, stratified train/val/test splits."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace

from .data.sources import Sample

DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def assign_splits(samples: list[Sample], *, seed: int = 0,
                  fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> list[Sample]:
    """Keep splits the data already has; give the rest a seeded split, stratified by
    (label, source) so each split has every class and source in proportion."""
    if all(s.split for s in samples):
        return samples
    fixed = [s for s in samples if s.split]
    groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for s in samples:
        if not s.split:
            groups[(s.label, s.source)].append(s)
    out = list(fixed)
    rng = random.Random(seed)
    for key in sorted(groups):
        items = sorted(groups[key], key=lambda s: str(s.path))
        rng.shuffle(items)
        n = len(items)
        n_train = round(n * fractions[0])
        n_val = round(n * fractions[1])
        for i, s in enumerate(items):
            split = "train" if i < n_train else ("val" if i < n_train + n_val else "test")
            out.append(replace(s, split=split))
    return sorted(out, key=lambda s: str(s.path))
