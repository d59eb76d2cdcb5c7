"""Drawing and storing Grad-CAM heatmaps: numpy and Pillow only (no torch), so web processes can
draw an overlay from a stored heatmap without loading the model code."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


# The colour scale of every Grad-CAM map, the same for all images (see ml.explain): a cell's
# share of the verdict's calibrated log-odds, from 0 (no evidence for the verdict: transparent
# blue) to ln(99) = 4.6 and above (evidence that, spread over the whole crop, would on its own
# make the verdict 99% certain: full red). A map of weak evidence therefore stays cool.
FULL_SCALE_LOG_ODDS = float(np.log(99.0))


def fixed_scale(share: np.ndarray) -> np.ndarray:
    """Map per-pixel shares of the verdict's log-odds onto [0, 1] with :data:`FULL_SCALE_LOG_ODDS`
    as 1; negative shares (evidence against the verdict) are 0, as in Grad-CAM's ReLU."""
    return np.clip(np.asarray(share, dtype=np.float32) / FULL_SCALE_LOG_ODDS, 0.0, 1.0)


def render_overlay(crop: Image.Image, heatmap: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """Blend a jet-coloured ``heatmap`` onto ``crop`` (RGB) with the heat at ``alpha`` opacity."""
    import matplotlib

    cmap = matplotlib.colormaps["jet"]
    coloured = (cmap(np.clip(heatmap, 0, 1))[..., :3] * 255).astype(np.uint8)
    heat = Image.fromarray(coloured).resize(crop.size, Image.Resampling.BILINEAR)
    return Image.blend(crop.convert("RGB"), heat, alpha)


def heatmap_image(heatmap: np.ndarray) -> Image.Image:
    """The bare heatmap as an 8-bit greyscale image (for storage and opacity sliders)."""
    return Image.fromarray((np.clip(heatmap, 0, 1) * 255).astype(np.uint8), mode="L")


def heatmap_from_png(data: bytes) -> np.ndarray:
    """A heatmap stored with :func:`heatmap_image` and :func:`png_bytes`, back in [0, 1] (8-bit steps)."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)  # fast: 6 ms less per image than the default 6, ~8% larger
    return buf.getvalue()
