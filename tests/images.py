"""Image bytes made by the tests themselves."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def photo_like(size: tuple[int, int] = (96, 80), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // max(1, w - 1)), (yy * 255 // max(1, h - 1)), ((xx + yy) * 127 // max(1, w + h))], -1)
    noise = rng.integers(0, 40, size=(h, w, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def encode(im: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def png_bytes(size: tuple[int, int] = (96, 80), seed: int = 0) -> bytes:
    return encode(photo_like(size, seed), "PNG")


def heatmap_png(size: tuple[int, int] = (8, 8)) -> bytes:
    """A stored-heatmap PNG as the worker writes it: a greyscale gradient, hot at the bottom right."""
    import numpy as np

    from ml.heatmaps import heatmap_image, png_bytes as encode_png

    w, h = size
    return encode_png(heatmap_image(np.add.outer(np.linspace(0, 0.5, h), np.linspace(0, 0.5, w))))


def jpeg_bytes(size: tuple[int, int] = (96, 80), seed: int = 0, **kwargs) -> bytes:
    return encode(photo_like(size, seed), "JPEG", quality=90, **kwargs)


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG that declares ``width`` x ``height`` pixels: its header says so, its data is short."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
