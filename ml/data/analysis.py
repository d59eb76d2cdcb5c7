"""What is in a dataset: class, split, source and generator counts, image sizes and formats,
exact duplicates (also across splits), and files that do not decode.

The report is a plain JSON-ready dict (schema below, ``ANALYSIS_SCHEMA``) that the dataset
dashboard reads, plus two PNG plots written by :func:`write_analysis`.

Schema (version 1)::

    {"schema": 1, "n_samples": int, "n_decoded": int,
     "counts": {"class": {name: n}, "split": {name: n}, "source": {name: n},
                "generator": {name: n}, "split_class": {split: {class: n}}},
     "formats": {"PNG": n, ...},
     "sizes": {"width": {"min", "median", "max"}, "height": {...}, "short_side": [n ...],
               "common": [[width, height, n], ...]},   # the 10 most common sizes
     "duplicates": {"groups": n, "extra_copies": n, "examples": [group, ...]},
     "cross_split_duplicates": {"groups": n, "examples": [group, ...]},
     "label_conflicts": {"groups": n, "examples": [group, ...]},
     "sha256_mismatches": [ref, ...],
     "undecodable": {"count": n, "files": [{"ref": str, "reason": str}, ...]}}

where a group is ``{"sha256", "refs", "splits", "labels"}`` and ``ref`` is a file path or
``shard.tar::member``. Empty split, source or generator values are counted under ``"(none)"``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MLError
from ..imageio import DEFAULT_MAX_PIXELS, inspect_image
from .sources import Sample, sort_key

ANALYSIS_SCHEMA = 1
EXAMPLES = 50  # duplicate groups listed in full; the counts cover all of them
ANALYSIS_JSON = "analysis.json"
CLASS_BALANCE_PNG = "class_balance.png"
SIZE_HISTOGRAM_PNG = "image_sizes.png"


def _none(value: str) -> str:
    return value or "(none)"


def analyse_samples(samples: list[Sample], *, max_pixels: int = DEFAULT_MAX_PIXELS,
                    progress: bool = False,
                    on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Read every sample once and build the report described in the module docstring.
    ``on_progress(done, total)`` is called after each sample (the caller decides how often to act)."""
    samples = sorted(samples, key=sort_key)
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("class", "split", "source", "generator")}
    split_class: dict[str, Counter[str]] = defaultdict(Counter)
    formats: Counter[str] = Counter()
    widths: list[int] = []
    heights: list[int] = []
    by_hash: dict[str, list[Sample]] = defaultdict(list)
    undecodable: list[dict[str, str]] = []
    mismatches: list[str] = []

    iterator: Any = samples
    if progress:
        from tqdm import tqdm

        iterator = tqdm(samples, desc="Analysing", unit="image")
    for done, s in enumerate(iterator):
        if on_progress is not None:
            on_progress(done, len(samples))
        counts["class"][s.label] += 1
        counts["split"][_none(s.split)] += 1
        counts["source"][_none(s.source)] += 1
        counts["generator"][_none(s.generator)] += 1
        split_class[_none(s.split)][s.label] += 1
        try:
            data = s.read_bytes()
        except (MLError, OSError) as exc:
            undecodable.append({"ref": s.ref, "reason": str(exc)})
            continue
        digest = hashlib.sha256(data).hexdigest()
        if s.sha256 and s.sha256 != digest:
            mismatches.append(s.ref)
        by_hash[digest].append(s)
        try:
            info = inspect_image(data, max_pixels=max_pixels)
        except MLError as exc:
            undecodable.append({"ref": s.ref, "reason": str(exc)})
            continue
        formats[info.format] += 1
        widths.append(info.width)
        heights.append(info.height)

    def group(digest: str, members: list[Sample]) -> dict[str, Any]:
        return {"sha256": digest, "refs": [m.ref for m in members],
                "splits": sorted({_none(m.split) for m in members}),
                "labels": sorted({m.label for m in members})}

    dup = {d: m for d, m in sorted(by_hash.items()) if len(m) > 1}
    cross = {d: m for d, m in dup.items() if len({x.split for x in m}) > 1}
    conflicts = {d: m for d, m in dup.items() if len({x.label for x in m}) > 1}
    return {
        "schema": ANALYSIS_SCHEMA,
        "n_samples": len(samples),
        "n_decoded": len(widths),
        "counts": {**{k: dict(sorted(c.items())) for k, c in counts.items()},
                   "split_class": {k: dict(sorted(v.items())) for k, v in sorted(split_class.items())}},
        "formats": dict(sorted(formats.items())),
        "sizes": _size_stats(widths, heights),
        "duplicates": {"groups": len(dup), "extra_copies": sum(len(m) - 1 for m in dup.values()),
                       "examples": [group(d, m) for d, m in list(dup.items())[:EXAMPLES]]},
        "cross_split_duplicates": {"groups": len(cross),
                                   "examples": [group(d, m) for d, m in list(cross.items())[:EXAMPLES]]},
        "label_conflicts": {"groups": len(conflicts),
                            "examples": [group(d, m) for d, m in list(conflicts.items())[:EXAMPLES]]},
        "sha256_mismatches": mismatches,
        "undecodable": {"count": len(undecodable), "files": undecodable},
    }


def _size_stats(widths: list[int], heights: list[int]) -> dict[str, Any]:
    if not widths:
        return {"width": None, "height": None, "short_side": [], "common": []}
    w, h = np.array(widths), np.array(heights)

    def stats(a: np.ndarray) -> dict[str, float]:
        return {"min": int(a.min()), "median": float(np.median(a)), "max": int(a.max())}

    common = Counter(zip(widths, heights)).most_common(10)
    return {"width": stats(w), "height": stats(h),
            "short_side": np.minimum(w, h).astype(int).tolist(),
            "common": [[cw, ch, n] for (cw, ch), n in common]}


def write_analysis(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``analysis.json``, ``class_balance.png`` and ``image_sizes.png`` into ``out_dir``."""
    from ..plots import class_balance_plot, size_histogram_plot

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / ANALYSIS_JSON, "class_balance": out / CLASS_BALANCE_PNG,
             "image_sizes": out / SIZE_HISTOGRAM_PNG}
    paths["json"].write_text(json.dumps(report, indent=2))
    class_balance_plot(report["counts"]["split_class"], paths["class_balance"])
    size_histogram_plot(report["sizes"]["short_side"], paths["image_sizes"])
    return paths
