"""Inference: a Predictor loads a checkpoint once and classifies batches of images.

The worker, the CLI and the benchmarks all use this class, so what is measured is what is served.

By default the model sees one ``input_size`` crop from the centre of each image (no resampling,
so generator traces survive). With ``max_tiles > 1`` a large image is instead covered by a grid
of ``input_size`` tiles at native resolution (at most ``max_tiles`` of them, spread evenly over
the image, see :mod:`ml.tiling`); each tile is classified and the image's p(ai_generated)
aggregates the tiles with the served rule (``ml.tiling.DEFAULT_RULE``). The decision threshold
is then applied to it. The worker serves :func:`ml.wholeimage.analyse`, which cuts and aggregates
the same tiles and stitches a Grad-CAM map over the whole image. The Prediction's ``crop``, ``crop_image``
and Grad-CAM ``heatmap`` belong to the tile that speaks most for the verdict (highest p(ai_generated) for an AI verdict,
lowest for a real one), and ``tiles`` lists every tile's box and probability. Images no larger
than ``input_size`` are unaffected.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoint import CheckpointMeta, file_sha256, load_checkpoint
from .device import select_device
from .errors import MLError
from .explain import ClassTarget, DecisionTarget, GradCamExplainer
from .imageio import DEFAULT_MAX_PIXELS, decode_image
from .precision import INT8_RECHECK_LOG_ODDS, calibration_batches, near_threshold, prepare
from .preprocess import CropBox, to_batch
from .tilebatch import choose_tile_batch
from .tiling import DEFAULT_RULE, aggregate, cut_tiles, decisive_tile, plan_tiles


@dataclass
class Prediction:
    label: str
    probability_ai: float  # calibrated p(ai_generated)
    confidence: float  # calibrated probability of ``label``
    threshold: float
    crop: CropBox
    timings_ms: dict[str, float] = field(default_factory=dict)
    heatmap: np.ndarray | None = None  # Grad-CAM over the crop, in [0, 1] on ml.heatmaps' fixed scale
    crop_image: Image.Image | None = None  # the pixels the model saw
    # Tiled inference only: one {"box": [left, top, width, height], "probability_ai": p} per tile.
    tiles: list[dict[str, object]] = field(default_factory=list)


class Predictor:
    # int8 with the fp32 recheck at the threshold (set in __init__; none by default).
    reference: torch.nn.Module | None = None
    recheck_log_odds: float = 0.0

    def __init__(self, checkpoint: str | Path, *, device: str = "auto", max_tiles: int = 1,
                 precision: str = "fp32", calibration_data: str | Path | None = None,
                 recheck_log_odds: float | None = None) -> None:
        if max_tiles < 1:
            raise MLError("max_tiles must be at least 1 (1: one centre crop per image).")
        self.checkpoint_path = Path(checkpoint)
        if not self.checkpoint_path.is_file():
            raise MLError(f"Checkpoint not found: {self.checkpoint_path}. Train one with "
                          "`python -m ml train` or pass the path of an existing model.pt.")
        self.checkpoint_sha256 = file_sha256(self.checkpoint_path)
        model, meta = load_checkpoint(self.checkpoint_path)
        self.meta: CheckpointMeta = meta
        self.device = select_device(device)
        # Module.to takes memory_format at run time (torch._C._nn._parse_to); its typed overloads omit it.
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()  # type: ignore[call-overload]
        # bf16/int8 on the matrix units, Grad-CAM's cut kept in fp32 (ml/precision.py).
        calibration = (None if not calibration_data else
                       lambda: calibration_batches(calibration_data, meta.preprocess))
        reference = self.model
        self.model, self.precision = prepare(self.model, self.device, precision,
                                             input_size=meta.preprocess.input_size, calibration=calibration,
                                             verified=meta.verified_precisions)
        # int8 leaves the images at its threshold to the fp32 model (ml.precision.INT8_RECHECK_LOG_ODDS).
        band = INT8_RECHECK_LOG_ODDS if recheck_log_odds is None else recheck_log_odds
        self.recheck_log_odds = band if self.precision.precision == "int8" and band > 0 else 0.0
        self.reference = reference if self.recheck_log_odds > 0 else None
        self.max_tiles = max_tiles
        self.tile_batch_ms: dict[int, float] = {}  # ms per tile of each batch measured by tile_batch()
        self._explainer: GradCamExplainer | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        return self.meta.model.classes

    def tile_batch(self, requested: int = 0) -> int:
        """Tiles per forward pass for :func:`ml.wholeimage.analyse`: ``requested`` when above 0,
        else the batch measured fastest per tile on this model and device (:mod:`ml.tilebatch`),
        measured once per process."""
        if requested > 0:
            return requested
        chosen, self.tile_batch_ms = choose_tile_batch(self.model, self.device,
                                                       input_size=self.meta.preprocess.input_size,
                                                       precision=self.precision.precision)
        return chosen

    def close(self) -> None:
        if self._explainer is not None:
            self._explainer.close()
            self._explainer = None

    def _prepare(self, images: Sequence[Image.Image]) -> tuple[torch.Tensor, list[list[tuple[Image.Image, CropBox]]]]:
        """All tiles of all images as one batch, and each image's (crop, box) list."""
        size = self.meta.preprocess.input_size
        per_image = []
        for im in images:  # the tiles the worker judges (ml.tiling), so what is measured is what is served
            rgb = im.convert("RGB")
            plan = plan_tiles(rgb.width, rgb.height, size, self.max_tiles)
            per_image.append(list(zip(cut_tiles(rgb, plan), plan.boxes)))
        crops = [crop for tiles in per_image for crop, _ in tiles]
        batch = to_batch(crops, self.meta.preprocess).to(self.device, memory_format=torch.channels_last)
        return batch, per_image

    def _p_ai(self, logits: torch.Tensor) -> np.ndarray:
        return torch.softmax(logits / self.meta.temperature, dim=1)[:, 1].numpy()

    def recheck_rows(self, margins: np.ndarray, counts: Sequence[int],
                     rule: str = DEFAULT_RULE) -> tuple[list[int], list[int]]:
        """The images the fp32 reference judges again, and their tiles' rows: ``margins`` holds the
        tiles of consecutive images, ``counts[i]`` of image i. Those whose calibrated p(AI) under
        ``rule`` lies within the recheck band of the threshold; none unless this predictor runs
        int8 with a band."""
        if self.reference is None:
            return [], []
        starts = np.cumsum([0, *counts[:-1]]).tolist()
        near = [i for i, (s, n) in enumerate(zip(starts, counts))
                if near_threshold(aggregate(margins[s:s + n], self.meta.temperature, rule),
                                  self.meta.threshold, self.recheck_log_odds)]
        return near, [starts[i] + k for i in near for k in range(counts[i])]

    def _recheck_logits(self, batch: torch.Tensor, per_image: list[list[tuple[Image.Image, CropBox]]],
                        logits: torch.Tensor) -> torch.Tensor:
        """``logits`` with the tiles of the images near the threshold replaced by the fp32 model's."""
        _, rows = self.recheck_rows((logits[:, 1] - logits[:, 0]).numpy(), [len(t) for t in per_image])
        if not rows:
            return logits
        assert self.reference is not None
        with torch.inference_mode():
            redone = self.reference(batch[rows]).float().cpu()
        logits = logits.clone()
        logits[rows] = redone
        return logits

    def _decide(self, logits: torch.Tensor, per_image: list[list[tuple[Image.Image, CropBox]]]
                ) -> list[tuple[float, int, int]]:
        """Per image: (p_ai aggregated over its tiles with the served rule, label index, index of
        its representative tile)."""
        margins = (logits[:, 1] - logits[:, 0]).numpy()
        out, start = [], 0
        for tiles in per_image:
            z = margins[start:start + len(tiles)]
            p = aggregate(z, self.meta.temperature, DEFAULT_RULE)
            label = int(p >= self.meta.threshold)
            rep = decisive_tile(z, label)
            out.append((p, label, start + rep))
            start += len(tiles)
        return out

    def _predictions(self, decisions: list[tuple[float, int, int]], tile_p: np.ndarray,
                     per_image: list[list[tuple[Image.Image, CropBox]]], timings: dict[str, float],
                     maps: np.ndarray | None) -> list[Prediction]:
        flat = [t for tiles in per_image for t in tiles]
        per = {k: v / len(per_image) for k, v in timings.items()}
        out, start = [], 0
        for i, ((p, lab, rep), tiles) in enumerate(zip(decisions, per_image)):
            crop, box = flat[rep]
            listed = [] if len(tiles) == 1 else [
                {"box": [b.left, b.top, b.width, b.height], "probability_ai": float(tile_p[start + j])}
                for j, (_, b) in enumerate(tiles)]
            out.append(Prediction(
                label=self.classes[lab], probability_ai=p, confidence=float(p if lab == 1 else 1 - p),
                threshold=self.meta.threshold, crop=box, timings_ms=dict(per),
                heatmap=None if maps is None else maps[i], crop_image=crop, tiles=listed))
            start += len(tiles)
        return out

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Classify a batch of decoded images (no explanation)."""
        t0 = time.perf_counter()
        batch, per_image = self._prepare(images)
        t1 = time.perf_counter()
        with torch.inference_mode():
            logits = self.model(batch).float().cpu()
        logits = self._recheck_logits(batch, per_image, logits)
        t2 = time.perf_counter()
        tile_p = self._p_ai(logits)
        return self._predictions(self._decide(logits, per_image), tile_p, per_image,
                                 {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3}, None)

    def explain(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Classify and compute Grad-CAM. With one crop per image this is one forward and backward
        pass per batch; tiled, the tiles are classified first and Grad-CAM then explains each
        image's representative tile, for the class of the image's verdict."""
        t0 = time.perf_counter()
        batch, per_image = self._prepare(images)
        t1 = time.perf_counter()
        if self._explainer is None:
            self._explainer = GradCamExplainer(self.model)
        if all(len(t) == 1 for t in per_image):
            target = DecisionTarget(self.meta.temperature, self.meta.threshold)
            maps, first = self._explainer(batch, [target] * len(images))
            logits = self._recheck_logits(batch, per_image, first)
            tile_p = self._p_ai(logits)
            decisions = self._decide(logits, per_image)
            # A verdict the fp32 recheck turned: explain the verdict that stands.
            before = self._p_ai(first) >= self.meta.threshold
            turned = [i for i, (_, lab, _) in enumerate(decisions) if lab != int(before[i])]
            if turned:
                redone, _ = self._explainer(batch[turned], [ClassTarget(decisions[i][1], self.meta.temperature)
                                                            for i in turned])
                maps[turned] = redone
        else:
            with torch.inference_mode():
                logits = self.model(batch).float().cpu()
            logits = self._recheck_logits(batch, per_image, logits)
            tile_p = self._p_ai(logits)
            decisions = self._decide(logits, per_image)
            reps = batch[[rep for _, _, rep in decisions]]
            maps, _ = self._explainer(reps, [ClassTarget(lab, self.meta.temperature) for _, lab, _ in decisions])
        t2 = time.perf_counter()
        return self._predictions(decisions, tile_p, per_image,
                                 {"preprocess": (t1 - t0) * 1e3, "inference_gradcam": (t2 - t1) * 1e3},
                                 maps)

    def warm_up(self, batch_sizes: Sequence[int] = (1,)) -> None:
        """Classify and explain blank images once per batch size, so that the first real batch does
        not pay for one-time setup (kernel selection, first allocations): in a fresh worker
        process the first batch of 8 took ~1.7 s instead of ~0.4 s (benchmarks/pipeline.md)."""
        size = self.meta.preprocess.input_size
        blank = Image.new("RGB", (size, size), (128, 128, 128))
        for n in dict.fromkeys(max(1, int(b)) for b in batch_sizes):
            self.explain([blank] * n)

    def predict_bytes(self, blobs: Sequence[bytes], *, explain: bool = False,
                      max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Prediction]:
        images = [decode_image(b, max_pixels=max_pixels) for b in blobs]
        return self.explain(images) if explain else self.predict(images)
