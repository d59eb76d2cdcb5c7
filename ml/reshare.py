"""What happens to an image when people re-share it: the re-share transform set.

Each transform takes the encoded bytes of an image and returns the encoded bytes of the copy a
platform or a person would pass on, because a re-share is a file: its codec, quality and metadata
matter, not only its pixels. The set is used twice, with the same functions: by the archive
memory's matching benchmark (is a re-shared copy still recognised?) and by the verdict stability
check (does the detector still say the same thing about the copy?).

Sizes and qualities are those of common platforms (2026): Instagram and Facebook serve 1080 px on
the long side, X/Twitter about 1200 px (larger uploads), WhatsApp and Telegram previews 640 px or
less; their JPEG re-encodes sit between about 70 and 85.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageOps

Transform = Callable[[bytes], bytes]


def _open(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def _jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=quality)  # PIL writes no EXIF unless given
    return buf.getvalue()


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="PNG", compress_level=1)  # phones favour speed too
    return buf.getvalue()


def resize_long_side(data: bytes, side: int, quality: int = 85) -> bytes:
    """Downscale so the long side is ``side`` px (never upscale), then JPEG at ``quality``: a platform
    re-encodes whatever it resizes."""
    im = ImageOps.exif_transpose(_open(data)).convert("RGB")
    if max(im.size) > side:
        scale = side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.LANCZOS)
    return _jpeg(im, quality)


def jpeg(data: bytes, quality: int) -> bytes:
    """Re-encode as JPEG at ``quality`` with the same pixel size."""
    if not 1 <= quality <= 100:
        raise ValueError("JPEG quality must be in 1..100")
    return _jpeg(_open(data), quality)


def crop(data: bytes, fraction: float, quality: int = 90) -> bytes:
    """Cut ``fraction`` of the width and of the height off, half on each side (a reframing crop)."""
    if not 0 <= fraction < 0.5:
        raise ValueError("crop fraction must be in [0, 0.5)")
    im = _open(data).convert("RGB")
    dx, dy = round(im.width * fraction / 2), round(im.height * fraction / 2)
    return _jpeg(im.crop((dx, dy, im.width - dx, im.height - dy)), quality)


def screenshot(data: bytes, *, device_width: int = 1170, bar_fraction: float = 0.06) -> bytes:
    """A phone screenshot of the image: rescaled to the screen's width, a plain bar above and below
    (status and navigation bars), saved as PNG as phones do."""
    im = _open(data).convert("RGB")
    scale = device_width / im.width
    shown = im.resize((device_width, max(1, round(im.height * scale))), Image.Resampling.BICUBIC)
    bar = max(1, round(shown.height * bar_fraction))
    canvas = Image.new("RGB", (device_width, shown.height + 2 * bar), (18, 18, 18))
    canvas.paste(shown, (0, bar))
    return _png(canvas)


def _strip_jpeg(data: bytes) -> bytes:
    """Drop APP1..APP15 and COM segments of a JPEG without touching the compressed image data.
    APP0 (JFIF) stays, and APP14 (Adobe), which says how to read the colours."""
    out = bytearray(data[:2])
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            out += data[i:]
            return bytes(out)
        length = int.from_bytes(data[i + 2:i + 4], "big")
        segment = data[i:i + 2 + length]
        if not (0xE1 <= marker <= 0xEF and marker != 0xEE) and marker != 0xFE:
            out += segment
        i += 2 + length
    return data  # not a JPEG we understand: leave it as it is


def strip_metadata(data: bytes) -> bytes:
    """Remove EXIF, XMP, IPTC, comments and C2PA manifests. JPEG: losslessly (the pixels stay
    byte-identical); other formats: re-saved as PNG, which is lossless too."""
    if data[:3] == b"\xff\xd8\xff":
        return _strip_jpeg(data)
    return _png(_open(data))


def transpose(data: bytes, op: Image.Transpose, quality: int = 90) -> bytes:
    """A mirrored or rotated copy (re-encoded, as an editor would save it)."""
    return _jpeg(_open(data).convert("RGB").transpose(op), quality)


def social_chain(data: bytes) -> bytes:
    """The typical viral path: a 3 % reframing crop, resized to 1080 px, JPEG 75, then resized to
    640 px for a messaging preview (JPEG 70)."""
    return resize_long_side(resize_long_side(crop(data, 0.03), 1080, 75), 640, 70)


@dataclass(frozen=True)
class Reshare:
    name: str
    fn: Transform
    description: str


def _t(name: str, fn: Transform, description: str) -> Reshare:
    return Reshare(name, fn, description)


def matching_set() -> list[Reshare]:
    """Every re-share the archive memory must recognise (benchmarks/archive_matching.md)."""
    return [
        _t("resize_1080", lambda d: resize_long_side(d, 1080), "long side 1080 px, JPEG 85 (Instagram, Facebook)"),
        _t("resize_640", lambda d: resize_long_side(d, 640), "long side 640 px, JPEG 85 (messaging preview)"),
        _t("resize_320", lambda d: resize_long_side(d, 320, 80), "long side 320 px, JPEG 80 (thumbnail)"),
        _t("jpeg_q85", lambda d: jpeg(d, 85), "JPEG re-encode, quality 85"),
        _t("jpeg_q70", lambda d: jpeg(d, 70), "JPEG re-encode, quality 70"),
        _t("jpeg_q50", lambda d: jpeg(d, 50), "JPEG re-encode, quality 50"),
        _t("crop_5pct", lambda d: crop(d, 0.05), "5 % cut off width and height, centred"),
        _t("crop_10pct", lambda d: crop(d, 0.10), "10 % cut off width and height, centred"),
        _t("screenshot", screenshot, "phone screenshot: 1170 px wide, bars above and below, PNG"),
        _t("strip_metadata", strip_metadata, "EXIF/XMP/C2PA removed, pixels untouched"),
        _t("social_chain", social_chain, "crop 3 %, 1080 px JPEG 75, then 640 px JPEG 70"),
        _t("mirror", lambda d: transpose(d, Image.Transpose.FLIP_LEFT_RIGHT), "mirrored left-right"),
        _t("rotate_90", lambda d: transpose(d, Image.Transpose.ROTATE_90), "rotated 90 degrees"),
        _t("rotate_180", lambda d: transpose(d, Image.Transpose.ROTATE_180), "rotated 180 degrees"),
    ]


# The eight re-shares a verdict is checked under ("stable under 8 of 8 re-shares"). Metadata
# stripping is left out because it leaves the pixels the model judges untouched.
STABILITY_NAMES = ("resize_1080", "resize_640", "jpeg_q85", "jpeg_q70", "crop_5pct", "screenshot", "mirror",
                   "rotate_90")


def stability_set() -> list[Reshare]:
    by_name = {t.name: t for t in matching_set()}
    return [by_name[name] for name in STABILITY_NAMES]
