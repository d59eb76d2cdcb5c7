"""Inference: a Predictor loads a checkpoint once and classifies batches of images.

The worker, the CLI and the benchmarks all use this class, so what is measured is what is served.
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
from .explain import DecisionTarget, GradCamExplainer
from .imageio import DEFAULT_MAX_PIXELS, decode_image
from .preprocess import CropBox, eval_transform


@dataclass
class Prediction:
    label: str
    probability_ai: float  # calibrated p(ai_generated)
    confidence: float  # calibrated probability of ``label``
    threshold: float
    crop: CropBox
    timings_ms: dict[str, float] = field(default_factory=dict)
    heatmap: np.ndarray | None = None  # Grad-CAM over the crop, in [0, 1]
    crop_image: Image.Image | None = None  # the pixels the model saw


class Predictor:
    def __init__(self, checkpoint: str | Path, *, device: str = "auto") -> None:
        self.checkpoint_path = Path(checkpoint)
        self.checkpoint_sha256 = file_sha256(self.checkpoint_path)
        model, meta = load_checkpoint(self.checkpoint_path)
        self.meta: CheckpointMeta = meta
        self.device = select_device(device)
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self._explainer: GradCamExplainer | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        return self.meta.model.classes

    def close(self) -> None:
        if self._explainer is not None:
            self._explainer.close()
            self._explainer = None

    def _prepare(self, images: Sequence[Image.Image]) -> tuple[torch.Tensor, list[Image.Image], list[CropBox]]:
        tensors, crops, boxes = [], [], []
        for im in images:
            t, crop, box = eval_transform(im.convert("RGB"), self.meta.preprocess)
            tensors.append(t)
            crops.append(crop)
            boxes.append(box)
        batch = torch.stack(tensors).to(self.device, memory_format=torch.channels_last)
        return batch, crops, boxes

    def _decide(self, logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        p_ai = torch.softmax(logits / self.meta.temperature, dim=1)[:, 1].numpy()
        labels = (p_ai >= self.meta.threshold).astype(int)
        return p_ai, labels

    def _predictions(self, logits: torch.Tensor, crops: list[Image.Image], boxes: list[CropBox],
                     timings: dict[str, float], maps: np.ndarray | None) -> list[Prediction]:
        p_ai, labels = self._decide(logits)
        per_image = {k: v / len(crops) for k, v in timings.items()}
        out = []
        for i, (p, lab) in enumerate(zip(p_ai, labels)):
            out.append(Prediction(
                label=self.classes[lab], probability_ai=float(p),
                confidence=float(p if lab == 1 else 1 - p), threshold=self.meta.threshold,
                crop=boxes[i], timings_ms=dict(per_image),
                heatmap=None if maps is None else maps[i], crop_image=crops[i]))
        return out

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Classify a batch of decoded images (no explanation)."""
        t0 = time.perf_counter()
        batch, crops, boxes = self._prepare(images)
        t1 = time.perf_counter()
        with torch.inference_mode():
            logits = self.model(batch).float().cpu()
        t2 = time.perf_counter()
        return self._predictions(logits, crops, boxes,
                                 {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3}, None)

    def explain(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Classify and compute Grad-CAM in one forward and backward pass per batch."""
        t0 = time.perf_counter()
        batch, crops, boxes = self._prepare(images)
        t1 = time.perf_counter()
        if self._explainer is None:
            self._explainer = GradCamExplainer(self.model)
        target = DecisionTarget(self.meta.temperature, self.meta.threshold)
        maps, logits = self._explainer(batch, [target] * len(images))
        t2 = time.perf_counter()
        return self._predictions(logits, crops, boxes,
                                 {"preprocess": (t1 - t0) * 1e3, "inference_gradcam": (t2 - t1) * 1e3},
                                 maps)

    def predict_bytes(self, blobs: Sequence[bytes], *, explain: bool = False,
                      max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Prediction]:
        images = [decode_image(b, max_pixels=max_pixels) for b in blobs]
        return self.explain(images) if explain else self.predict(images)
