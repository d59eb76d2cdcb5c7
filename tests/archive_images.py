"""Distinct photo-like scenes for the archive memory tests: different seeds give pictures that a
perceptual hash tells apart (the gradients of tests.images.photo_like all look alike to PDQ)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def scene(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    im = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(im)
    for _ in range(14):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    noise = rng.integers(-12, 12, size=(h, w, 3))
    return Image.fromarray(np.clip(np.asarray(im.filter(ImageFilter.GaussianBlur(2)), dtype=np.int16) + noise,
                                   0, 255).astype(np.uint8))


def jpeg(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def reshared(im: Image.Image) -> bytes:
    """The copy a re-share would pass on: 6 % cropped off, resized to 70 %, JPEG quality 70."""
    w, h = im.size
    dx, dy = round(w * 0.03), round(h * 0.03)
    copy = im.crop((dx, dy, w - dx, h - dy))
    copy = copy.resize((round(copy.width * 0.7), round(copy.height * 0.7)), Image.Resampling.LANCZOS)
    return jpeg(copy, 70)
