"""Verdict stability under re-sharing: the model judges an image and its re-shared copies
(ml.reshare.stability_set) in one batch; a copy whose label differs from the image's flips.

Used by the worker's stability check and by benchmarks/reshare_stability.py, so what is measured
is what is served."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .imageio import DEFAULT_MAX_PIXELS, decode_image
from .reshare import stability_set


@dataclass
class StabilityResult:
    label: str
    probability_ai: float
    results: list[dict[str, Any]] = field(default_factory=list)  # one per re-share

    @property
    def n_stable(self) -> int:
        return sum(not r["flipped"] for r in self.results)


def judge_reshares(predictor: Any, data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> StabilityResult:
    """``predictor``: an ml.predict.Predictor (anything with ``predict(images)``); ``data``: the
    image's encoded bytes, as stored."""
    transforms = stability_set()
    images = [decode_image(data, max_pixels=max_pixels)]
    images += [decode_image(t.fn(data), max_pixels=max_pixels) for t in transforms]
    predictions = predictor.predict(images)
    base = predictions[0]
    return StabilityResult(label=base.label, probability_ai=float(base.probability_ai), results=[
        {"transform": t.name, "description": t.description, "label": p.label,
         "probability_ai": round(float(p.probability_ai), 4), "flipped": p.label != base.label}
        for t, p in zip(transforms, predictions[1:])])
