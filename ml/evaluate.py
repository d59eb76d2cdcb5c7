"""Evaluation of a checkpoint on a labelled split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .data.sources import load_samples
from .errors import MLError
from .imageio import decode_image
from .metrics import binary_metrics
from .predict import Predictor
from .splits import assign_splits


def evaluate(checkpoint: str | Path, data: str | Path, *, split: str = "test",
             batch_size: int = 32, device: str = "auto", seed: int = 0) -> dict[str, Any]:
    predictor = Predictor(checkpoint, device=device)
    samples = [s for s in assign_splits(load_samples(data), seed=seed) if s.split == split]
    if not samples:
        raise MLError(f"No images in split {split!r} of {data}.")
    probs: list[float] = []
    for i in range(0, len(samples), batch_size):
        chunk = samples[i:i + batch_size]
        preds = predictor.predict([decode_image(s.read_bytes()) for s in chunk])
        probs.extend(p.probability_ai for p in preds)
    y = np.array([s.target for s in samples])
    result = binary_metrics(y, np.array(probs), predictor.meta.threshold)
    result["split"] = split
    result["checkpoint_sha256"] = predictor.checkpoint_sha256
    return result
