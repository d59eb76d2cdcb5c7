"""What an image file says about itself: EXIF camera fields and whether C2PA provenance is present.

Read once at upload and kept on CaseImage.metadata, so pages never re-open image files. None of this
proves anything (metadata is easy to strip or forge); it is context for the reviewer.
"""

from __future__ import annotations

import io
import struct
import warnings
from typing import Any

from PIL import ExifTags, Image

# EXIF tags a reviewer asks about first: which camera, when, and which software touched the file.
_CAMERA_TAGS = ("Make", "Model", "LensModel", "DateTimeOriginal", "DateTime", "Software")


def _jpeg_app11_has_c2pa(data: bytes) -> bool:
    """Walk the JPEG marker segments before the image data and look for an APP11 (0xFFEB) JUMBF
    box labelled 'c2pa', which is where C2PA manifests live in JPEG files."""
    pos = 2  # after SOI
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: no more metadata segments
            break
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segment = data[pos + 4:pos + 2 + length]
        if marker == 0xEB and b"jumb" in segment and b"c2pa" in segment:
            return True
        pos += 2 + length
    return False


def has_c2pa(data: bytes, fmt: str) -> bool:
    if fmt in ("JPEG", "MPO"):
        return data[:2] == b"\xff\xd8" and _jpeg_app11_has_c2pa(data)
    # PNG keeps the JUMBF store in a caBX chunk; other containers in a 'jumb' box. Either way the
    # manifest store is labelled 'c2pa'.
    return (b"caBX" in data or b"jumb" in data) and b"c2pa" in data


def read_metadata(data: bytes, fmt: str) -> dict[str, Any]:
    """EXIF camera fields (strings) and provenance flags; never raises on odd metadata."""
    camera: dict[str, str] = {}
    has_exif = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                exif = im.getexif()
                has_exif = len(exif) > 0
                merged = dict(exif)
                try:
                    merged.update(exif.get_ifd(ExifTags.IFD.Exif))
                except (KeyError, OSError, ValueError):
                    pass
                names = {v: k for k, v in ExifTags.TAGS.items()}
                for tag in _CAMERA_TAGS:
                    value = merged.get(names[tag])
                    if value not in (None, ""):
                        camera[tag] = str(value).strip("\x00 ")[:120]
    except (OSError, SyntaxError, ValueError):
        pass
    return {"has_exif": has_exif, "camera": camera, "has_c2pa": has_c2pa(data, fmt)}
