"""The accepted image formats, in one place: Pillow's format names, their media types, the file
name suffixes that mark them, the stored extension and the leading bytes that identify them.

Everything else reads from here: decoding (``ml.imageio``), dataset scans (``ml.data.sources``),
storage names, file serving and the API's content types, the upload form's help text and the
provenance readers. Adding a format means adding it here (and to Pillow's decoders)."""

from __future__ import annotations

from types import MappingProxyType

# Pillow format name -> media type. MPO is a JPEG with extra frames (many phone cameras write it).
MEDIA_TYPES: MappingProxyType[str, str] = MappingProxyType({
    "JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp",
    "TIFF": "image/tiff", "BMP": "image/bmp", "GIF": "image/gif",
})
ACCEPTED_FORMATS: frozenset[str] = frozenset(MEDIA_TYPES)

# Pillow format name -> the extension its bytes are stored under.
EXTENSIONS: MappingProxyType[str, str] = MappingProxyType({
    "JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "TIFF": "tif", "BMP": "bmp", "GIF": "gif",
})

# File name suffixes of these formats (dataset folders are scanned by name).
SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})

# How the formats are named to people, in messages and help texts.
HUMAN_LIST = "JPEG, PNG, WebP, TIFF, BMP or GIF"

# Leading bytes of each accepted format (WebP is RIFF....WEBP, checked apart).
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM")


def media_type(fmt: str) -> str:
    """The media type of a Pillow format name; ``application/octet-stream`` for anything else."""
    return MEDIA_TYPES.get(fmt.upper(), "application/octet-stream")


def looks_like_image(head: bytes) -> bool:
    """Whether ``head`` (the first 12 bytes or more) starts like one of the accepted formats.

    A signature says what a file claims to be, not that it decodes: this tells "not an image at
    all" apart from "an image that could not be read"."""
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
