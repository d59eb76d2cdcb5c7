"""Whole-image judging: which native-resolution tiles the model sees, and how their verdicts
become one probability for the image.

Geometry. An image is covered by ``input_size`` squares cut at native resolution (the pixels are
never resampled): ``ceil(W / size) x ceil(H / size)`` tiles spread evenly from edge to edge, so
they cover every pixel (neighbours overlap where the size does not divide). When that grid has
more tiles than the budget ``max_tiles``, it is thinned to the largest grid within the budget
(still spread edge to edge, see :func:`ml.preprocess.tile_grid`); the gaps between the thinned
tiles are *not judged* and are reported as such (:func:`judged_mask`, :func:`judged_fraction`).
An image with a side shorter than ``input_size`` is first enlarged by the smallest integer
factor (nearest neighbour: pixels copied, none invented) and then tiled the same way.

Aggregation. Each tile gives a logit margin ``z = logit(ai_generated) - logit(real)``; with the
checkpoint's temperature ``T`` the tile's calibrated probability is ``sigmoid(z / T)``. The
image's probability is one of :data:`RULES` over the tiles' margins; :data:`DEFAULT_RULE` is the
one the portal serves, chosen by the ablation in ``benchmarks/tiles.md``. The temperature and the
threshold must be fitted on that same rule (:func:`ml.calibration.fit_rule_temperature`),
because a mean over tiles is not calibrated by a temperature fitted on single crops.

numpy and Pillow only (no torch): the web process reads the geometry to draw the judged areas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .errors import MLError
from .preprocess import CropBox, tile_grid

# mean_logit: the image's margin is the mean of its tiles' margins (a product-of-experts vote:
# every tile counts, a confident tile counts more than a hesitant one).
DEFAULT_RULE = "mean_logit"
# The tile budget the portal serves by default (VERITY_MAX_TILES) and training calibrates with
# (benchmarks/tiles.md: a 12-megapixel photo in the worker's time limit on a 2-core CPU).
DEFAULT_MAX_TILES = 64
# The fraction of tiles the top-k rule averages (at least one tile).
TOP_FRACTION = 0.25


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def _mean_prob(z: np.ndarray, t: float) -> float:
    return float(_sigmoid(z / t).mean())


def _mean_logit(z: np.ndarray, t: float) -> float:
    return float(_sigmoid(np.array(z.mean() / t)))


def _max_prob(z: np.ndarray, t: float) -> float:
    return float(_sigmoid(np.array(z.max() / t)))


def _top_mean(z: np.ndarray, t: float) -> float:
    k = max(1, math.ceil(TOP_FRACTION * len(z)))
    return float(_sigmoid(np.sort(z)[-k:] / t).mean())


def _median_logit(z: np.ndarray, t: float) -> float:
    return float(_sigmoid(np.array(np.median(z) / t)))


# rule name -> f(tile margins, temperature) -> p(ai_generated) of the image
RULES: dict[str, Callable[[np.ndarray, float], float]] = {
    "mean_prob": _mean_prob,
    "mean_logit": _mean_logit,
    "median_logit": _median_logit,
    "top25_prob": _top_mean,
    "max_prob": _max_prob,
}


def aggregate(margins: np.ndarray, temperature: float, rule: str = DEFAULT_RULE) -> float:
    """The image's calibrated p(ai_generated) from its tiles' logit margins under ``rule``."""
    if rule not in RULES:
        raise MLError(f"Unknown tile aggregation rule {rule!r}; choose one of {', '.join(RULES)}.")
    z = np.asarray(margins, dtype=np.float64).ravel()
    if z.size == 0:
        raise MLError("No tiles to aggregate: the image produced no tile.")
    return RULES[rule](z, float(temperature))


def decisive_tile(margins: np.ndarray, label_index: int) -> int:
    """The tile that speaks most for the verdict: the highest margin for an AI verdict, the
    lowest for a real one (first one on ties)."""
    z = np.asarray(margins, dtype=np.float64).ravel()
    return int(z.argmax() if label_index == 1 else z.argmin())


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of one image lie. ``boxes`` are in original pixel coordinates; ``cuts`` are
    the same tiles in the coordinates of the (integer-upscaled, if ``scale > 1``) image they are
    cut from, always ``size`` squares."""

    width: int
    height: int
    size: int
    scale: int
    boxes: tuple[CropBox, ...]
    cuts: tuple[CropBox, ...]
    full_grid: int  # tiles needed to cover the whole image (more than len(boxes) when thinned)

    @property
    def covers_all(self) -> bool:
        return len(self.boxes) >= self.full_grid


def plan_tiles(width: int, height: int, size: int, max_tiles: int) -> TilePlan:
    """The tiles of a ``width`` x ``height`` image for a model with ``size`` inputs, at most
    ``max_tiles`` of them (1: the single centre crop the model was validated on)."""
    if width < 1 or height < 1 or size < 1:
        raise MLError(f"Cannot tile a {width} x {height} image into {size} px tiles.")
    max_tiles = max(1, int(max_tiles))
    scale = 1 if min(width, height) >= size else -(-size // min(width, height))
    uw, uh = width * scale, height * scale
    cuts = tile_grid(uw, uh, size, max_tiles)
    boxes = []
    for c in cuts:
        left, top = c.left // scale, c.top // scale
        right, bottom = min(width, -(-(c.left + size) // scale)), min(height, -(-(c.top + size) // scale))
        boxes.append(CropBox(left, top, right - left, bottom - top))
    full = -(-uw // size) * -(-uh // size)
    return TilePlan(width, height, size, scale, tuple(boxes), tuple(cuts), full)


def cut_tiles(im: Image.Image, plan: TilePlan) -> list[Image.Image]:
    """The plan's tiles cut from ``im`` (RGB) at native resolution, ``size`` x ``size`` each."""
    if im.size != (plan.width, plan.height):
        raise MLError(f"The tile plan is for a {plan.width} x {plan.height} image, not {im.width} x {im.height}.")
    if plan.scale > 1:
        im = im.resize((im.width * plan.scale, im.height * plan.scale), Image.Resampling.NEAREST)
    s = plan.size
    return [im.crop((c.left, c.top, c.left + s, c.top + s)) for c in plan.cuts]


def judged_mask(width: int, height: int, boxes: list[CropBox] | tuple[CropBox, ...]) -> np.ndarray:
    """Boolean ``height`` x ``width`` array: True where some tile covers the pixel."""
    mask = np.zeros((height, width), dtype=bool)
    for b in boxes:
        mask[max(0, b.top):b.top + b.height, max(0, b.left):b.left + b.width] = True
    return mask


def judged_fraction(width: int, height: int, boxes: list[CropBox] | tuple[CropBox, ...]) -> float:
    """The fraction of the image's pixels that some tile covers."""
    return float(judged_mask(width, height, boxes).mean())


def box_list(box: CropBox) -> list[int]:
    return [box.left, box.top, box.width, box.height]
