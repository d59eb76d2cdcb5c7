"""Drawing the overlay of a stored Grad-CAM map over the image the model judged.

The map of a whole-image analysis has the original's size and aspect (ml.tilemaps), with the
parts no tile judged marked in its alpha; those parts are hatched grey on the overlay instead of
being coloured as "no evidence". A map of a single crop (analyses made before whole-image
analysis) is drawn over that crop, as before. Colours come from ml.heatmaps.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ml.heatmaps import heatmap_from_png, render_overlay
from ml.tilemaps import judged_from_png, mark_not_judged

# The overlay of a 12-megapixel photo is drawn at most this many pixels on its long side: the page
# shows it scaled to the original's box anyway, and colouring 12 M pixels costs ~400 MB of floats.
# Same aspect as the original, so it still lies exactly over it.
MAX_OVERLAY_SIDE = 2048


def _fit(size: tuple[int, int], limit: int) -> tuple[int, int]:
    w, h = size
    if max(w, h) <= limit:
        return w, h
    k = limit / max(w, h)
    return max(1, round(w * k)), max(1, round(h * k))


def draw(region: Image.Image, heatmap_png: bytes, *, max_side: int = MAX_OVERLAY_SIDE) -> Image.Image:
    """The stored map (PNG bytes) blended over ``region`` (the pixels it covers), not-judged parts
    hatched."""
    size = _fit(region.size, max_side)
    base = region.convert("RGB")
    if base.size != size:
        base = base.resize(size, Image.Resampling.LANCZOS)
    heat = heatmap_from_png(heatmap_png)
    if heat.shape[0] > size[1] or heat.shape[1] > size[0]:  # only shrink; a crop's small map is coloured, then enlarged
        heat = np.asarray(Image.fromarray(heat, mode="F").resize(size, Image.Resampling.BILINEAR))
    overlay = render_overlay(base, heat)
    judged = judged_from_png(heatmap_png)
    return overlay if judged is None else mark_not_judged(overlay, judged)
