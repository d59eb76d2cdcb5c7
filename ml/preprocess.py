"""Pixels to tensors, shared by training and inference.

Generator traces live in the high frequencies, so by default nothing is resampled: large images
are cropped (randomly in training, centrally at inference) and small images are enlarged by an
integer factor with nearest-neighbour, which copies pixels rather than inventing new ones.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageFilter
from torchvision.transforms import functional as TF

from .config import PreprocessConfig


@dataclass(frozen=True)
class CropBox:
    """The region of the original image that the model saw, in original pixel coordinates."""

    left: int
    top: int
    width: int
    height: int


def integer_upscale(im: Image.Image, size: int) -> Image.Image:
    """Enlarge ``im`` by the smallest integer factor that makes both sides at least ``size``."""
    short = min(im.size)
    if short >= size:
        return im
    factor = -(-size // short)  # ceil
    return im.resize((im.width * factor, im.height * factor), Image.Resampling.NEAREST)


def center_crop(im: Image.Image, size: int) -> tuple[Image.Image, CropBox]:
    """Upscale if needed, then cut the central ``size`` square. Returns the crop and its box
    in the coordinates of ``im`` as given (before any upscale)."""
    scale = 1
    if min(im.size) < size:
        up = integer_upscale(im, size)
        scale = up.width // im.width
        im = up
    left = (im.width - size) // 2
    top = (im.height - size) // 2
    crop = im.crop((left, top, left + size, top + size))
    box = CropBox(left // scale, top // scale, max(1, size // scale), max(1, size // scale))
    return crop, box


def _spread(length: int, size: int, count: int) -> list[int]:
    """``count`` offsets of a ``size`` window spread evenly from 0 to ``length - size``."""
    if count <= 1:
        return [(length - size) // 2]
    return [round(i * (length - size) / (count - 1)) for i in range(count)]


def tile_grid(width: int, height: int, size: int, max_tiles: int) -> list[CropBox]:
    """Boxes of ``size`` squares that tile a ``width`` x ``height`` image for tiled inference.

    The grid has ``ceil(width / size)`` x ``ceil(height / size)`` tiles, evenly spread so that they
    cover the whole image (neighbours overlap when the size does not divide evenly). Past
    ``max_tiles`` the grid is thinned to the largest one within the bound whose shape is closest
    to the image's aspect, still spread evenly from edge to edge, so the cost per image is bounded. Images smaller than ``size`` on a side get
    one box: the centre crop after integer upscaling (see :func:`center_crop`).
    """
    if min(width, height) < size or max_tiles <= 1:
        return [CropBox((width - size) // 2, (height - size) // 2, size, size)]
    nx, ny = -(-width // size), -(-height // size)
    if nx * ny > max_tiles:
        # The largest grid within the bound, keeping the image's aspect as well as it can.
        aspect = nx / ny
        nx, ny = max(((min(nx, max_tiles // r), r) for r in range(1, min(ny, max_tiles) + 1)),
                     key=lambda g: (g[0] * g[1], -abs(math.log(g[0] / g[1] / aspect))))
    return [CropBox(x, y, size, size) for y in _spread(height, size, ny) for x in _spread(width, size, nx)]


def tile_crops(im: Image.Image, size: int, max_tiles: int) -> list[tuple[Image.Image, CropBox]]:
    """The tiles of :func:`tile_grid` cut from ``im`` at native resolution (no resampling)."""
    if min(im.size) < size or max_tiles <= 1:
        return [center_crop(im, size)]
    return [(im.crop((b.left, b.top, b.left + size, b.top + size)), b)
            for b in tile_grid(im.width, im.height, size, max_tiles)]


def _normalise(pixels: torch.Tensor, config: PreprocessConfig) -> torch.Tensor:
    """uint8 pixels (..., 3, H, W) to the model's input: scaled to [0, 1], then standardised per
    channel with ``config``'s mean and std (the one place this rule is written)."""
    t = pixels.float().div_(255.0)
    shape = (3, 1, 1)
    return t.sub_(torch.tensor(config.mean).view(shape)).div_(torch.tensor(config.std).view(shape))


def to_tensor(im: Image.Image, config: PreprocessConfig) -> torch.Tensor:
    """One image as a normalised 3 x H x W tensor (training and single images)."""
    return _normalise(TF.pil_to_tensor(im), config)


def to_batch(crops: Sequence[Image.Image], config: PreprocessConfig) -> torch.Tensor:
    """Equally sized crops as one normalised N x 3 x H x W batch in channels_last layout (the
    layout the model runs in), equal to stacking :func:`to_tensor` of each crop. The pixels are
    stacked once as N x H x W x 3 bytes, which is channels_last already: no per-crop tensor, no
    layout copy (about a third of the per-tile cost of stacking ``to_tensor`` results)."""
    if not crops:
        raise ValueError("to_batch needs at least one crop")
    pixels = np.stack([np.asarray(c.convert("RGB"), dtype=np.uint8) for c in crops])
    return _normalise(torch.from_numpy(pixels).permute(0, 3, 1, 2), config)


def eval_transform(im: Image.Image, config: PreprocessConfig) -> tuple[torch.Tensor, Image.Image, CropBox]:
    """The inference preset: returns the normalised tensor, the crop it came from, and its box."""
    crop, box = center_crop(im, config.input_size)
    return to_tensor(crop, config), crop, box


@dataclass(frozen=True)
class Augment:
    """Training augmentations. ``jpeg_prob`` and ``blur_prob`` are the robustness augmentations of
    Wang et al. 2020 (CNN-generated images are surprisingly easy to spot... for now)."""

    hflip: bool = True
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (30, 100)
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.0, 3.0)


# A baseline JPEG codes the image in independent 16 x 16 blocks (MCUs, with 4:2:0 chroma); the
# decoder smooths chroma across a block's edge into its neighbour, no further.
JPEG_MCU = 16


def _reencoded(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def reencoded_crop(im: Image.Image, box: tuple[int, int, int, int], quality: int) -> Image.Image:
    """``box`` of ``im`` after a JPEG re-encode of the whole image at ``quality``, at the cost of
    re-encoding a window around the box: the window lies on the whole image's block grid and reaches
    one block beyond the box on every side (clipped at the image's edges, which both then share), so
    every pixel of the box is coded and decoded exactly as in the whole image
    (tests/ml/test_training_crops.py checks the equality). A 32 px crop of a 1280 x 720 photo costs
    a re-encode of at most 80 x 80 pixels instead of 921,600."""
    left, top, right, bottom = box
    m = JPEG_MCU
    x0, y0 = max(0, (left // m - 1) * m), max(0, (top // m - 1) * m)
    x1, y1 = min(im.width, (-(-right // m) + 1) * m), min(im.height, (-(-bottom // m) + 1) * m)
    window = _reencoded(im.crop((x0, y0, x1, y1)), quality)
    return window.crop((left - x0, top - y0, right - x0, bottom - y0))


def train_transform(im: Image.Image, config: PreprocessConfig, aug: Augment,
                    rng: random.Random) -> torch.Tensor:
    """Blur, JPEG re-encode (both of the whole image), random ``train_crop`` square, flip.

    The re-encode is computed on a window around the square (:func:`reencoded_crop`: the same
    pixels), unless the image first has to be enlarged to hold the square."""
    if aug.blur_prob and rng.random() < aug.blur_prob:
        im = im.filter(ImageFilter.GaussianBlur(radius=rng.uniform(*aug.blur_sigma)))
    quality = None
    if aug.jpeg_prob and rng.random() < aug.jpeg_prob:
        quality = rng.randint(*aug.jpeg_quality)
    size = config.train_crop
    if quality is not None and min(im.size) < size:
        im, quality = _reencoded(im, quality), None
    im = integer_upscale(im, size)
    left = rng.randint(0, im.width - size)
    top = rng.randint(0, im.height - size)
    box = (left, top, left + size, top + size)
    im = im.crop(box) if quality is None else reencoded_crop(im, box, quality)
    if aug.hflip and rng.random() < 0.5:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return to_tensor(im, config)
