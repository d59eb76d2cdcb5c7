"""May a lower precision serve this checkpoint? Its agreement with fp32, measured on validation images.

The recipe runs :func:`check_precisions` after calibration, on the validation split (never a test
split), for every lower precision this device runs natively; the result goes into the model card
(``precision``) and the precisions that met every tolerance into the checkpoint
(``verified_precisions``), which is what ``ml.precision.prepare(..., "auto")`` chooses among.

The tolerances are issue 17's: verdict agreement >= 99.5 %, mean absolute difference of the
calibrated probability <= 0.01, accuracy within 0.3 points. They are judged on the whole-image
path the worker serves (tiles aggregated, calibrated, thresholded). The counts (agreement,
accuracy) are judged on all validation images together: on one source's 146 images a single
flipped verdict moves accuracy by 0.68 points, so a per-source count cannot resolve a 0.3-point
tolerance. The mean probability difference, which has no such granularity, must hold on every
source as well, so a source the model handles worse at low precision is not hidden by a larger
one. Every source's figures are reported.

Pure PyTorch: nothing of the project beyond ``ml``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .precision import native_precisions

TOLERANCES = {"verdict_agreement": 0.995, "mean_abs_dp": 0.01, "accuracy_points": 0.3}


def agreement(reference: np.ndarray, other: np.ndarray, targets: np.ndarray, threshold: float) -> dict[str, Any]:
    """How far ``other``'s probabilities are from the fp32 ``reference`` on images labelled
    ``targets`` (1 = AI-generated), at the model's decision ``threshold``; ``passes``: within
    every one of TOLERANCES."""
    reference, other, targets = (np.asarray(a, dtype=float) for a in (reference, other, targets))
    if not len(reference) or reference.shape != other.shape or reference.shape != targets.shape:
        raise ValueError("agreement needs equally long, non-empty arrays of probabilities and targets")
    ref_v, oth_v = reference >= threshold, other >= threshold
    dp = np.abs(reference - other)
    acc_ref, acc_oth = float((ref_v == targets).mean()), float((oth_v == targets).mean())
    out = {"n": int(len(reference)), "verdict_agreement": float((ref_v == oth_v).mean()),
           "mean_abs_dp": float(dp.mean()), "max_abs_dp": float(dp.max()),
           "accuracy_fp32": acc_ref, "accuracy": acc_oth, "accuracy_points": 100 * (acc_oth - acc_ref)}
    out["passes"] = bool(out["verdict_agreement"] >= TOLERANCES["verdict_agreement"]
                         and out["mean_abs_dp"] <= TOLERANCES["mean_abs_dp"]
                         and abs(out["accuracy_points"]) <= TOLERANCES["accuracy_points"] + 1e-9)
    return out


def check_precisions(checkpoint: str | Path, groups: Mapping[str, tuple[Sequence[Any], np.ndarray]], *,
                     predict: Callable[[Any, Any], np.ndarray],
                     make_predictor: Callable[[str], Any], device: torch.device | None = None,
                     precisions: Sequence[str] | None = None) -> dict[str, Any]:
    """Agreement of each lower precision with fp32 on ``groups`` (source -> (images or samples,
    targets)).

    ``make_predictor(precision)`` returns a predictor of ``checkpoint`` at that precision (with a
    ``precision.precision`` saying what it really runs and a ``close()``); ``predict(predictor,
    items)`` returns its calibrated p(AI) for ``items``. ``precisions``: those to check (default:
    the lower precisions native on ``device``, CPU when not given). A precision the predictor fell
    back from (it runs fp32) is recorded as not checked."""
    device = device or torch.device("cpu")
    wanted = [p for p in (precisions or native_precisions(device)) if p != "fp32"]
    ref = make_predictor("fp32")
    try:
        threshold = float(ref.meta.threshold)
        reference = {src: predict(ref, items) for src, (items, _) in groups.items()}
    finally:
        ref.close()
    results: dict[str, Any] = {}
    for p in wanted:
        try:
            low = make_predictor(p)
        except Exception as exc:  # e.g. int8 without calibration data: not checked, say why
            results[p] = {"checked": False, "reason": str(exc), "passes": False}
            continue
        try:
            if low.precision.precision != p:
                results[p] = {"checked": False, "reason": low.precision.reason, "passes": False}
                continue
            probs = {src: predict(low, items) for src, (items, _) in groups.items()}
        finally:
            low.close()
        per_source = {src: agreement(reference[src], probs[src], targets, threshold)
                      for src, (_, targets) in groups.items()}
        pooled = agreement(np.concatenate([reference[s] for s in groups]), np.concatenate([probs[s] for s in groups]),
                           np.concatenate([t for _, t in groups.values()]), threshold)
        results[p] = {"checked": True, "per_source": per_source, "all": pooled,
                      "passes": pooled["passes"] and all(r["mean_abs_dp"] <= TOLERANCES["mean_abs_dp"]
                                                          for r in per_source.values())}
    return {"measured_on": "validation", "checkpoint": Path(checkpoint).name, "tolerances": dict(TOLERANCES),
            "device": device.type, "results": results,
            "verified": [p for p in wanted if results[p]["passes"]]}
