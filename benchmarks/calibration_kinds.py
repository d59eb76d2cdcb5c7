"""Calibration per kind of input (issue 12: ECE <= 0.05 on each test split after calibration on validation).

A 32 px model judges a 32 x 32 image on one tile and a photo on up to 16 native tiles whose margins
the served rule aggregates. The two are different statistics (a mean of 16 noisy margins is not
one margin), yet the recipe fits one temperature and one threshold to both, on a validation set
where single-tile images outnumber photos two to one. This compares, on one checkpoint's margins:

* ``pooled``: one temperature and one threshold for every image (what the recipe does now);
* ``kind_t``: a temperature per kind (one tile / several), one threshold on the calibrated p;
* ``kind_t_thr``: a temperature and a threshold per kind;
* ``kind_platt``: per kind, a scale and an offset on the aggregated log-odds (Platt), one threshold.

The choice is made on validation only, by stratified k-fold cross-validation (fit on k-1 folds,
score the held-out fold): the mean over the two kinds of the held-out negative log-likelihood. The
test splits are scored once, with each variant fitted on the whole validation set.

    VERITY_TORCH_THREADS=2 python benchmarks/calibration_kinds.py --checkpoint MODEL.pt \
        --data ../shared/data --json benchmarks/detector/calibration_kinds_DATE.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.calibration import choose_threshold, fit_rule_temperature  # noqa: E402
from ml.metrics import binary_metrics, expected_calibration_error  # noqa: E402
from ml.tiling import DEFAULT_RULE, aggregate  # noqa: E402

KINDS = ("single", "tiled")
VARIANTS = ("pooled", "kind_t", "kind_t_thr", "kind_platt")


def kind_of(margins: np.ndarray) -> str:
    return "single" if len(margins) == 1 else "tiled"


def _threshold(y: np.ndarray, p: np.ndarray) -> float:
    import torch

    return choose_threshold(torch.as_tensor(y), torch.as_tensor(p))


def _platt(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Scale and offset on the log-odds ``s`` minimising the NLL (Newton steps on two parameters)."""
    a, b = 1.0, 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(a * s + b, -60, 60)))
        g = np.array([np.sum((p - y) * s), np.sum(p - y)])
        w = p * (1 - p) + 1e-9
        h = np.array([[np.sum(w * s * s), np.sum(w * s)], [np.sum(w * s), np.sum(w)]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-9:
            break
    return float(a), float(b)


class Fitted:
    """One variant fitted on (margins, y): ``p(margins)`` and ``threshold(margins)`` per image."""

    def __init__(self, variant: str, margins: list[np.ndarray], y: np.ndarray, rule: str) -> None:
        self.variant, self.rule = variant, rule
        kinds = np.array([kind_of(z) for z in margins])
        self.params: dict[str, dict[str, float]] = {}
        if variant == "pooled":
            t = fit_rule_temperature(margins, y, rule)
            self.params = {k: {"temperature": t} for k in KINDS}
        else:
            for k in KINDS:
                idx = np.flatnonzero(kinds == k)
                zs = [margins[i] for i in idx]
                if variant == "kind_platt":
                    s = np.array([_logit(aggregate(z, 1.0, rule)) for z in zs])
                    a, b = _platt(s, y[idx]) if len(idx) else (1.0, 0.0)
                    self.params[k] = {"scale": a, "offset": b}
                else:
                    self.params[k] = {"temperature": fit_rule_temperature(zs, y[idx], rule) if len(idx) else 1.0}
        p = self.p(margins)
        if variant == "kind_t_thr":
            for k in KINDS:
                idx = np.flatnonzero(kinds == k)
                self.params[k]["threshold"] = _threshold(y[idx], p[idx]) if len(idx) else 0.5
        else:
            thr = _threshold(y, p)
            for k in KINDS:
                self.params[k]["threshold"] = thr

    def p(self, margins: list[np.ndarray]) -> np.ndarray:
        out = []
        for z in margins:
            c = self.params[kind_of(z)]
            if "scale" in c:
                s = _logit(aggregate(z, 1.0, self.rule))
                out.append(1 / (1 + math.exp(-max(-60.0, min(60.0, c["scale"] * s + c["offset"])))))
            else:
                out.append(aggregate(z, c["temperature"], self.rule))
        return np.array(out)

    def thresholds(self, margins: list[np.ndarray]) -> np.ndarray:
        return np.array([self.params[kind_of(z)]["threshold"] for z in margins])


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


def _nll(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def _scores(y: np.ndarray, p: np.ndarray, thr: np.ndarray) -> dict[str, Any]:
    pred = (p >= thr).astype(int)
    tpr = float(((pred == 1) & (y == 1)).sum() / max(1, (y == 1).sum()))
    tnr = float(((pred == 0) & (y == 0)).sum() / max(1, (y == 0).sum()))
    return {"n": int(len(y)), "nll": round(_nll(y, p), 4), "ece": round(expected_calibration_error(y, p), 4),
            "accuracy": round(float((pred == y).mean()), 4), "balanced_accuracy": round((tpr + tnr) / 2, 4)}


def cross_validate(margins: list[np.ndarray], y: np.ndarray, folds: int, seed: int, rule: str) -> dict[str, Any]:
    """Held-out scores per variant and kind, folds stratified by (kind, class)."""
    rng = np.random.default_rng(seed)
    kinds = np.array([kind_of(z) for z in margins])
    fold = np.zeros(len(y), dtype=int)
    for k in KINDS:
        for c in (0, 1):
            idx = np.flatnonzero((kinds == k) & (y == c))
            fold[rng.permutation(idx)] = np.arange(len(idx)) % folds
    out: dict[str, Any] = {}
    for v in VARIANTS:
        p, thr = np.zeros(len(y)), np.zeros(len(y))
        for f in range(folds):
            train, held = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            fit = Fitted(v, [margins[i] for i in train], y[train], rule)
            p[held] = fit.p([margins[i] for i in held])
            thr[held] = fit.thresholds([margins[i] for i in held])
        per = {k: _scores(y[kinds == k], p[kinds == k], thr[kinds == k]) for k in KINDS}
        out[v] = {**per, "mean_nll_over_kinds": round(float(np.mean([per[k]["nll"] for k in KINDS])), 4)}
    return out


def _margins(checkpoint: str, samples: list, max_tiles: int) -> list[np.ndarray]:
    from ml.imageio import decode_image
    from ml.predict import Predictor
    from ml.wholeimage import image_margins

    pr = Predictor(checkpoint, max_tiles=max_tiles, precision="fp32")
    return image_margins(pr.model, pr.meta.preprocess, pr.device, (decode_image(s.read_bytes()) for s in samples),
                         max_tiles=max_tiles)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--val-per-class", type=int, default=150, help="the recipe's default")
    ap.add_argument("--max-tiles", type=int, default=16,
                    help="tiles per image (16: the recipe's evaluation budget until 2026-11-29; it calibrates and "
                    "the worker serves at 64, detector.md 5m.3)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default="", help="npz of margins (written if missing, read if present)")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    from ml.recipe import test_samples, training_samples

    started = time.time()
    samples, _ = training_samples(args.data, val_per_class=args.val_per_class, include_test=False, seed=0)
    val = [s for s in samples if s.split == "val"]
    tests = test_samples(args.data)
    if args.cache and Path(args.cache).exists():
        npz = np.load(args.cache, allow_pickle=True)
        mv, mt = list(npz["val"]), list(npz["test"])
    else:
        mv, mt = _margins(args.checkpoint, val, args.max_tiles), _margins(args.checkpoint, tests, args.max_tiles)
        if args.cache:
            np.savez(args.cache, val=np.array(mv, dtype=object), test=np.array(mt, dtype=object))
    yv, yt = np.array([s.target for s in val]), np.array([s.target for s in tests])
    cv = cross_validate(mv, yv, args.folds, args.seed, DEFAULT_RULE)
    chosen = min(VARIANTS, key=lambda v: (cv[v]["mean_nll_over_kinds"], VARIANTS.index(v)))  # ties: fewer parameters
    test: dict[str, Any] = {}
    for v in VARIANTS:
        fit = Fitted(v, mv, yv, DEFAULT_RULE)
        p, thr = fit.p(mt), fit.thresholds(mt)
        rows = {}
        for src in sorted({s.source for s in tests}):
            idx = np.array([i for i, s in enumerate(tests) if s.source == src])
            m = binary_metrics(yt[idx], p[idx], 0.5)
            rows[src] = {**_scores(yt[idx], p[idx], thr[idx]), "roc_auc": round(float(m["roc_auc"]), 4)}
        test[v] = {"params": fit.params, "per_source": rows}
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
              "checkpoint": args.checkpoint, "rule": DEFAULT_RULE, "max_tiles": args.max_tiles,
              "val": {k: int(sum(kind_of(z) == k for z in mv)) for k in KINDS}, "folds": args.folds,
              "cross_validation": cv, "chosen_on_validation": chosen, "test": test,
              "wall_s": round(time.time() - started, 1)}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps({"cv": {v: cv[v]["mean_nll_over_kinds"] for v in VARIANTS}, "chosen": chosen}))
    for v in VARIANTS:
        for src, r in test[v]["per_source"].items():
            print(v, src, r)


if __name__ == "__main__":
    main()
