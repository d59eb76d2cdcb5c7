"""One Grad-CAM map over the whole image, stitched from the maps of its tiles.

Each tile's map is placed where the tile lies in the original, at the original's size and
aspect, so an overlay drawn from it lies exactly over the original; where tiles overlap the
maps are averaged; pixels no tile covered stay *not judged* (NaN in the float map, alpha 0 in
the stored PNG) and the overlay marks them with grey hatching rather than colouring them as
"no evidence".

The values are Grad-CAM's raw (ReLU'd) evidence divided by one scale for the whole image, so a
weak tile looks weaker than a strong one. How values become colours is not decided here
(:mod:`ml.heatmaps`); this module only places values and marks what was not judged.

numpy and Pillow only (no torch), so the web process can draw the overlay.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .heatmaps import fixed_scale
from .preprocess import CropBox


def resize_map(values: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of a float map (Pillow's F mode keeps float precision)."""
    if values.shape == (height, width):
        return values.astype(np.float32, copy=False)
    return np.asarray(Image.fromarray(values.astype(np.float32), mode="F")
                      .resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def stitch(width: int, height: int, boxes: Sequence[CropBox], maps: Sequence[np.ndarray]) -> np.ndarray:
    """A ``height`` x ``width`` float32 map: each tile's map resized to its box and placed there,
    overlaps averaged, NaN where no tile lies. Values are as given (not rescaled)."""
    if len(boxes) != len(maps):
        raise ValueError(f"{len(boxes)} boxes but {len(maps)} maps")
    total = np.zeros((height, width), dtype=np.float32)
    count = np.zeros((height, width), dtype=np.uint16)
    for b, m in zip(boxes, maps):
        w, h = min(b.width, width - b.left), min(b.height, height - b.top)
        if w <= 0 or h <= 0:
            continue
        placed = resize_map(np.asarray(m, dtype=np.float32), b.width, b.height)[:h, :w]
        total[b.top:b.top + h, b.left:b.left + w] += placed
        count[b.top:b.top + h, b.left:b.left + w] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count
    out[count == 0] = np.nan
    return out


def on_fixed_scale(stitched: np.ndarray) -> np.ndarray:
    """A stitched map of log-odds shares on the colour scale every image shares
    (:func:`ml.heatmaps.fixed_scale`), NaN (not judged) kept: weak evidence stays cool."""
    judged = ~np.isnan(stitched)
    return np.where(judged, fixed_scale(np.nan_to_num(stitched, nan=0.0)), np.nan).astype(np.float32)


def map_png(stitched: np.ndarray) -> bytes:
    """Store a stitched map in [0, 1] (NaN: not judged) as an 8-bit grey + alpha PNG: grey is the
    value, alpha 0 marks pixels not judged. Readers that drop alpha see 0 there."""
    judged = ~np.isnan(stitched)
    grey = (np.clip(np.nan_to_num(stitched, nan=0.0), 0, 1) * 255).round().astype(np.uint8)
    alpha = np.where(judged, 255, 0).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.dstack([grey, alpha]), mode="LA").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def judged_from_png(data: bytes) -> np.ndarray | None:
    """The judged mask of a map stored with :func:`map_png` (None for a map without alpha)."""
    with Image.open(io.BytesIO(data)) as im:
        if im.mode not in ("LA", "RGBA", "PA"):
            return None
        return np.asarray(im.getchannel("A")) > 127


HATCH_GREY = (128, 128, 128)


def mark_not_judged(overlay: Image.Image, judged: np.ndarray, *, period: int = 12) -> Image.Image:
    """Grey out and hatch (diagonal stripes) the pixels of ``overlay`` that no tile judged.

    ``judged`` is resized to the overlay if their sizes differ (nearest neighbour, so the border
    between judged and not judged stays sharp)."""
    h, w = overlay.height, overlay.width
    if judged.shape != (h, w):
        judged = np.asarray(Image.fromarray(judged.astype(np.uint8) * 255)
                            .resize((w, h), Image.Resampling.NEAREST)) > 127
    if judged.all():
        return overlay
    rgb = np.asarray(overlay.convert("RGB")).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    stripe = ((xx + yy) % period) < max(2, period // 4)
    grey = rgb.mean(axis=2, keepdims=True) * 0.5 + np.array(HATCH_GREY, np.float32) * 0.5
    marked = np.where(stripe[..., None], np.array((70, 70, 70), np.float32), grey)
    out = np.where(judged[..., None], rgb, marked)
    return Image.fromarray(out.round().astype(np.uint8), mode="RGB")
