"""Image corruptions for robustness tests, and test accuracy under them.

Each corruption takes and returns a PIL RGB image. They model what happens to an image between a
generator and the detector (re-compression, rescaling, softening) and are the test-time
counterparts of the training augmentations of Wang et al. 2020 (``preprocess.Augment``).

``resize`` only downscales: the :class:`~ml.predict.Predictor` then treats the smaller image as it
treats any image, i.e. integer nearest-neighbour upscaling when it is smaller than ``input_size``
and a centre crop, so the measured accuracy is that of the served pipeline.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

Corruption = Callable[[Image.Image], Image.Image]


def jpeg(im: Image.Image, quality: int) -> Image.Image:
    """Re-encode as JPEG at ``quality`` (1-100, PIL's default 4:2:0 chroma subsampling)."""
    if not 1 <= quality <= 100:
        raise ValueError("JPEG quality must be in 1..100")
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def resize(im: Image.Image, factor: float) -> Image.Image:
    """Rescale both sides by ``factor`` (bicubic, antialiased when shrinking), at least 1 px."""
    if factor <= 0:
        raise ValueError("resize factor must be positive")
    size = (max(1, round(im.width * factor)), max(1, round(im.height * factor)))
    return im.convert("RGB").resize(size, Image.Resampling.BICUBIC)


def gaussian_blur(im: Image.Image, sigma: float) -> Image.Image:
    """Gaussian blur with standard deviation ``sigma`` pixels (PIL's ``radius`` is the sigma)."""
    if sigma < 0:
        raise ValueError("blur sigma must be non-negative")
    return im.convert("RGB").filter(ImageFilter.GaussianBlur(radius=sigma))


def identity(im: Image.Image) -> Image.Image:
    return im.convert("RGB")


def standard_corruptions() -> dict[str, Corruption]:
    """The robustness table of issue 3: clean, JPEG 90/75/50, 0.5x downscale, blur sigma 1."""
    return {
        "clean": identity,
        "jpeg_q90": lambda im: jpeg(im, 90),
        "jpeg_q75": lambda im: jpeg(im, 75),
        "jpeg_q50": lambda im: jpeg(im, 50),
        "resize_0.5x": lambda im: resize(im, 0.5),
        "blur_sigma1": lambda im: gaussian_blur(im, 1.0),
    }


def robustness(predictor: Any, images: Iterable[Image.Image], targets: Sequence[int],
               corruptions: dict[str, Corruption] | None = None, *, batch_size: int = 32) -> dict[str, Any]:
    """Accuracy (and recall per class) of ``predictor`` at its own calibrated threshold on
    ``images`` after each corruption. ``targets``: 0 real, 1 ai_generated, one per image."""
    corruptions = corruptions if corruptions is not None else standard_corruptions()
    y = np.asarray(targets, dtype=int)
    probs: dict[str, list[float]] = {name: [] for name in corruptions}
    pending: list[Image.Image] = []

    def run(chunk: list[Image.Image]) -> None:
        for name, fn in corruptions.items():
            probs[name].extend(p.probability_ai for p in predictor.predict([fn(im) for im in chunk]))

    for im in images:
        pending.append(im.convert("RGB"))
        if len(pending) == batch_size:
            run(pending)
            pending = []
    if pending:
        run(pending)
    threshold = predictor.meta.threshold
    out: dict[str, Any] = {"n": int(len(y)), "threshold": float(threshold), "results": {}}
    for name, ps in probs.items():
        if len(ps) != len(y):
            raise ValueError(f"{len(ps)} predictions for {len(y)} targets")
        pred = (np.asarray(ps) >= threshold).astype(int)
        out["results"][name] = {
            "accuracy": float((pred == y).mean()) if len(y) else 0.0,
            "recall_ai": float((pred[y == 1] == 1).mean()) if (y == 1).any() else None,
            "recall_real": float((pred[y == 0] == 0).mean()) if (y == 0).any() else None,
        }
    return out
