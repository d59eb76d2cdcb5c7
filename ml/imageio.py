"""Safe decoding of untrusted image bytes.

Every image that reaches the model goes through :func:`decode_image`, so one place enforces the
limits that keep a hostile file from exhausting memory: the declared pixel count is checked
*before* any pixel data is decoded (a decompression bomb declares huge dimensions in a few bytes),
the container format must be one we accept, and the whole file must decode (truncated files fail).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from .errors import ImageRejected
from .formats import ACCEPTED_FORMATS, HUMAN_LIST
DEFAULT_MAX_PIXELS = 40_000_000  # about 7,300 x 5,500: larger than any camera sensor we expect


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    mode: str
    frames: int


def inspect_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Check that ``data`` is a complete image of an accepted format within the pixel limit.

    Raises :class:`ImageRejected` with a sentence a reviewer can act on.
    """
    if not data:
        raise ImageRejected("The file is empty.")
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past 2x its limit raises) on large images; we apply our own limit
            # below, from the header alone, so silence its generic warning here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                fmt = (im.format or "").upper()
                width, height = im.size
                frames = getattr(im, "n_frames", 1)
                mode = im.mode
                if fmt not in ACCEPTED_FORMATS:
                    raise ImageRejected(
                        f"{fmt or 'This'} files are not accepted; upload a {HUMAN_LIST} image."
                    )
                _check_pixels(width, height, max_pixels)
                im.load()  # decodes all data: truncated or corrupt files fail here
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(
            "The image declares more pixels than allowed (a possible decompression bomb)."
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(
            "The file is not a readable image (it may be truncated, corrupt, or not an image at "
            "all). Upload the original JPEG, PNG or WebP file."
        ) from exc
    return ImageInfo(format=fmt, width=width, height=height, mode=mode, frames=frames)


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageRejected("The image has no pixels.")
    if width * height > max_pixels:
        raise ImageRejected(
            f"The image is {width} x {height} pixels; the limit is {max_pixels:,} pixels in all. "
            "Upload a smaller version."
        )


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode ``data`` into an RGB image, upright according to its EXIF orientation.

    Animated images contribute their first frame; alpha is composited on white; CMYK, 16-bit and
    palette images are converted to 8-bit RGB.
    """
    inspect_image(data, max_pixels=max_pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im: Image.Image = Image.open(io.BytesIO(data))
        im.seek(0)
        im = ImageOps.exif_transpose(im)
        return to_rgb(im)


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, compositing transparency on white.

    Transparency counts in all its forms: an alpha channel, a palette's, and a PNG tRNS colour key
    on an RGB or greyscale image (pixels of one colour are transparent). Float images (32-bit TIFF)
    in [0, 1] are scaled to 0..255 rather than clipped to black."""
    if im.mode in ("RGB", "L") and "transparency" in im.info:
        im = im.convert("RGBA")  # applies the colour key
    if im.mode == "RGB":
        return im.copy()
    if im.mode == "F":
        im = _float_to_l(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits rather than clipping at 255.
        im = im.point(lambda v: v / 256).convert("L")
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _float_to_l(im: Image.Image) -> Image.Image:
    """A float image as 8-bit greyscale: [0, 1] data (the usual convention) is scaled by 255;
    data with larger values is taken as 0..255. NaN becomes 0."""
    import numpy as np

    arr = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
    if arr.size and float(arr.max()) <= 1.0:
        arr = arr * 255.0
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")
