"""What a worker hands the analyses service for one finished image: the model's verdict, its
Grad-CAM overlay, the provenance lanes and the whole-image details. Its own module so that the
analyses service and the evidence step (provenance) both use it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["AnalysisOutcome"]


@dataclass
class AnalysisOutcome:
    label: str
    probability_ai: float
    confidence: float
    threshold: float
    crop_box: dict[str, int]
    timings_ms: dict[str, float]
    heatmap_png: bytes
    lanes: list[dict[str, Any]] | None = None  # provenance lanes (verification.provenance.read_lanes)
    # Whole-image analysis (see Analysis.tiles); the defaults describe a single-crop analysis.
    tiles: list[dict[str, Any]] = field(default_factory=list)
    decisive_tile: int | None = None
    judged_fraction: float | None = None
    aggregation: str = ""
    map_faithful: bool | None = None
    faithfulness: dict[str, Any] = field(default_factory=dict)
