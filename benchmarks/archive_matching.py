"""Archive memory, matching quality: does a re-shared copy of an image find the original, and how
often do two different images look alike? On ``../shared/data``, with the portal's own hashing
path (``ml.phash.archive_hashes`` stored, ``ml.phash.query_hashes`` looked up) and the re-share
set of ``ml.reshare.matching_set``.

Usage:

    .venv/bin/python benchmarks/archive_matching.py --out benchmarks/results/archive_matching.json \
        [--per-source 250] [--seed 0]

For each sampled original: the stored hashes (picture plus centred crops) and, per transform, the
copy's query hashes (eight dihedral variants). A copy *matches* an image when some pair of (query
hash, stored hash) is within the distance threshold, exactly what the portal's lookup does.

- recall[transform][t]: share of copies that match their own original at threshold t (copies
  whose hash quality is below ml.phash.MIN_QUALITY are counted as misses: the portal drops them).
- false-match rate[t]: share of (image i, other image j) pairs where i's copy matches j, over
  all transforms and over the untouched originals.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from ml import phash, reshare  # noqa: E402
from ml.data.sources import load_samples  # noqa: E402

THRESHOLDS = (15, 23, 31, 39, 47)
SOURCES = ("unsplash-gemini", "commons-zimage")


def _arr(hashes: list[phash.PerceptualHash]) -> np.ndarray:
    return np.frombuffer(b"".join(h.value for h in hashes), dtype=np.uint8).reshape(len(hashes), phash.HASH_BYTES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--per-source", type=int, default=250, help="originals per source put through every re-share")
    ap.add_argument("--extra-per-source", type=int, default=0,
                    help="more originals per source, hashed untouched only: more pairs for the false-match rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cifake", type=int, default=200, help="cifake originals hashed for the quality check only")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    data = Path(args.data)
    picked: list[Any] = []
    extra: list[Any] = []
    for source in SOURCES:
        samples = load_samples(data / source)
        chosen = rng.sample(samples, min(args.per_source + args.extra_per_source, len(samples)))
        picked += [(source, s) for s in chosen[:args.per_source]]
        extra += [(source, s) for s in chosen[args.per_source:]]
    transforms = reshare.matching_set()
    stored: list[np.ndarray] = []  # per original: (4, 32)
    stored_quality: list[int] = []
    queries: dict[str, list[tuple[np.ndarray, int]]] = {
        name: [] for name in ["original", *(t.name for t in transforms)]}
    seconds: dict[str, float] = {"store": 0.0, "query": 0.0, "transform": 0.0}
    started = time.time()
    for n, (_source, sample) in enumerate(picked):
        raw = sample.read_bytes()
        t0 = time.perf_counter()
        st = phash.archive_hashes(Image.open(io.BytesIO(raw)))
        seconds["store"] += time.perf_counter() - t0
        stored.append(_arr(st))
        stored_quality.append(st[0].quality)
        t0 = time.perf_counter()
        q = phash.query_hashes(Image.open(io.BytesIO(raw)))
        seconds["query"] += time.perf_counter() - t0
        queries["original"].append((_arr(q), q[0].quality))
        for tr in transforms:
            t0 = time.perf_counter()
            copy = tr.fn(raw)
            seconds["transform"] += time.perf_counter() - t0
            q = phash.query_hashes(Image.open(io.BytesIO(copy)))
            queries[tr.name].append((_arr(q), q[0].quality))
        if n % 50 == 0:
            print(f"{n}/{len(picked)} {time.time() - started:.0f}s", flush=True)
    for _source, sample in extra:
        raw = sample.read_bytes()
        st = phash.archive_hashes(Image.open(io.BytesIO(raw)))
        stored.append(_arr(st))
        stored_quality.append(st[0].quality)
        q = phash.query_hashes(Image.open(io.BytesIO(raw)))
        queries["original"].append((_arr(q), q[0].quality))
    picked_all = picked + extra
    n_all = len(picked_all)
    n = len(picked)
    usable_stored = np.array([qv >= phash.MIN_QUALITY for qv in stored_quality])
    flat_stored = np.concatenate(stored)  # (n*k, 32), k hashes per original
    k = stored[0].shape[0]
    results: dict[str, Any] = {"recall": {}, "false_matches": {}, "min_distance_to_own": {}}
    fm_counts = {t: 0 for t in THRESHOLDS}
    fm_pairs = 0
    fm_examples: list[dict[str, Any]] = []
    for name, rows in queries.items():
        m = len(rows)  # every original for "original", the transformed set for the others
        own_min = np.full(m, 10_000)
        other_min = np.full((m, n_all), 10_000)
        usable_q = np.array([qv >= phash.MIN_QUALITY for _, qv in rows])
        for i, (qa, _) in enumerate(rows):
            d = phash.distances(qa, flat_stored).min(axis=0).reshape(n_all, k).min(axis=1)  # per original
            own_min[i] = d[i]
            other_min[i] = d
        valid = usable_q & usable_stored[:m]
        results["recall"][name] = {str(t): float(((own_min <= t) & valid).sum() / m) for t in THRESHOLDS}
        results["min_distance_to_own"][name] = {"median": float(np.median(own_min)),
                                                "p95": float(np.percentile(own_min, 95)),
                                                "max": int(own_min.max())}
        pair_ok = valid[:, None] & usable_stored[None, :] & ~np.eye(m, n_all, dtype=bool)
        fm_pairs += int(pair_ok.sum())
        per = {}
        for t in THRESHOLDS:
            hits = (other_min <= t) & pair_ok
            per[str(t)] = int(hits.sum())
            fm_counts[t] += int(hits.sum())
            if t == phash.MAX_DISTANCE:
                for i, j in zip(*np.nonzero(hits)):
                    if len(fm_examples) < 40:
                        fm_examples.append({"transform": name, "query": picked_all[i][1].ref,
                                            "matched": picked_all[j][1].ref,
                                            "distance": int(other_min[i, j])})
        results["false_matches"][name] = {"pairs": int(pair_ok.sum()), "matches": per}
    results["false_match_rate"] = {str(t): fm_counts[t] / fm_pairs for t in THRESHOLDS}
    results["false_match_pairs"] = fm_pairs
    results["false_match_examples_at_31"] = fm_examples
    # Quality: how many images the portal would refuse to remember.
    cifake = rng.sample(load_samples(data / "cifake"), args.cifake) if args.cifake else []
    cq = [phash.pdq(Image.open(io.BytesIO(s.read_bytes()))).quality for s in cifake]
    results["quality"] = {
        "shared_sample_below_50": int((~usable_stored).sum()), "shared_sample": n_all,
        "cifake_32px_below_50": int(sum(q < phash.MIN_QUALITY for q in cq)), "cifake_32px": len(cq),
    }
    results["cost_ms_per_image"] = {key: 1000 * v / n for key, v in seconds.items()}
    results["meta"] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv), "machine": f"{platform.machine()} {platform.processor()} "
        "2-core VM shared with other engineers' jobs", "python": platform.python_version(),
        "sources": {s: sum(1 for src, _ in picked if src == s) for s in SOURCES},
        "extra_sources": {s: sum(1 for src, _ in extra if src == s) for s in SOURCES}, "seed": args.seed,
        "thresholds": THRESHOLDS, "stored_crops": phash.STORED_CROPS, "min_quality": phash.MIN_QUALITY,
        "transforms": {t.name: t.description for t in transforms}, "seconds": time.time() - started,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(json.dumps({"recall": results["recall"], "false_match_rate": results["false_match_rate"]}, indent=1))


if __name__ == "__main__":
    main()
