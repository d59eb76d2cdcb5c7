"""A tiny dataset in the layout of ../shared/data, for tests of the recipe and the portal."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from ml.data.shards import write_shards

HEADER = ["relpath", "label", "split", "source", "generator", "width", "height", "sha256", "shard"]


def _jpeg(seed: int, size: tuple[int, int], smooth: bool) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    if smooth:  # a crude, learnable difference between the classes
        im = im.resize((size[0] // 4, size[1] // 4)).resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def make_source(folder: Path, splits: dict[str, int], size: tuple[int, int], seed: int,
                licence: str = "CC0-1.0 (test data)") -> None:
    """``splits``: images per class in each split, e.g. {"train": 6, "val": 2, "test": 2}."""
    folder.mkdir(parents=True, exist_ok=True)
    files, rows = [], []
    n = seed
    for split, count in splits.items():
        for label in ("real", "ai_generated"):
            for i in range(count):
                n += 1
                rel = f"{'real' if label == 'real' else 'ai'}/{split}_{i:03d}.jpg"
                data = _jpeg(n, size, smooth=label == "ai_generated")
                files.append((rel, data))
                rows.append([rel, label, split, folder.name, "gen-test" if label != "real" else "",
                             size[0], size[1], hashlib.sha256(data).hexdigest(), "images-000.tar"])
    write_shards(files, folder, per_shard=10_000)
    with (folder / "MANIFEST.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    (folder / "SOURCE.md").write_text(f"# {folder.name}\n\n- Licence: {licence}\n")


def make_shared_data(root: Path) -> Path:
    """Two trainable sources (one of small images, one of larger ones) and one test-only source."""
    make_source(root / "small", {"train": 6, "val": 2, "test": 2}, (16, 16), seed=0)
    make_source(root / "large", {"train": 3, "val": 2, "test": 2}, (48, 32), seed=100)
    make_source(root / "heldout", {"test": 2}, (40, 40), seed=200, licence="CC-BY-4.0 (test data)")
    return root
