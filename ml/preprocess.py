"""Pixels to tensors, shared by training and inference.

Generator traces live in the high frequencies, so by default nothing is resampled: large images
are cropped (randomly in training, centrally at inference) and small images are enlarged by an
integer factor with nearest-neighbour, which copies pixels rather than inventing new ones.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

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


def to_tensor(im: Image.Image, config: PreprocessConfig) -> torch.Tensor:
    t = TF.pil_to_tensor(im).float().div_(255.0)
    return TF.normalize(t, list(config.mean), list(config.std))


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


def train_transform(im: Image.Image, config: PreprocessConfig, aug: Augment,
                    rng: random.Random) -> torch.Tensor:
    if aug.blur_prob and rng.random() < aug.blur_prob:
        im = im.filter(ImageFilter.GaussianBlur(radius=rng.uniform(*aug.blur_sigma)))
    if aug.jpeg_prob and rng.random() < aug.jpeg_prob:
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=rng.randint(*aug.jpeg_quality))
        buf.seek(0)
        im = Image.open(buf).convert("RGB")
    im = integer_upscale(im, config.train_crop)
    left = rng.randint(0, im.width - config.train_crop)
    top = rng.randint(0, im.height - config.train_crop)
    im = im.crop((left, top, left + config.train_crop, top + config.train_crop))
    if aug.hflip and rng.random() < 0.5:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return to_tensor(im, config)
