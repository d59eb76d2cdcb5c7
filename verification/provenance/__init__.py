"""Provenance lanes: what an image file says about where it came from, read lane by lane.

Pure Python (no Django): the worker calls :func:`read_lanes` beside the model, the upload calls
:func:`camera_metadata`, and :mod:`verification.evidence` turns the lanes into evidence. Each lane
is one module:

- :mod:`.c2pa_lane`: C2PA manifest store, read and validated offline by c2pa-python;
- :mod:`.xmp`: IPTC DigitalSourceType in XMP;
- :mod:`.generators`: generator parameters in PNG text chunks / EXIF UserComment;
- :mod:`.exif`: EXIF Software naming a generator; camera EXIF (weak).

A lane that cannot read the file reports an error for that lane; it never raises, so bad metadata
never fails an image's analysis.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

from PIL import Image

from . import c2pa_lane, exif, generators, xmp
from ._lane import (ABSENT, DECISIVE, DECLARES_AI, DECLARES_CAPTURE, ERROR, FOUND, NONE, SUPPORTING, WEAK,
                    LaneResult, lane_error)
from .pngtext import has_chunk, text_chunks

__all__ = ["ABSENT", "DECISIVE", "DECLARES_AI", "DECLARES_CAPTURE", "ERROR", "FOUND", "LANES", "NONE", "SUPPORTING",
           "WEAK", "LaneResult", "camera_metadata", "read_lanes"]

LANES = (c2pa_lane.LANE, xmp.LANE, generators.LANE, exif.SOFTWARE_LANE, exif.CAMERA_LANE)


def _guard(lane: str, read: Callable[[], LaneResult]) -> LaneResult:
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - any failure of one lane is that lane's error, nothing more
        return lane_error(lane, exc)


def _open(data: bytes) -> tuple[dict[str, Any], tuple[bool, dict[str, str]]]:
    """Pillow's header info and the EXIF fields (headers only: no pixels are decoded)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data)) as im:
            if im.format == "PNG" and not has_chunk(data, b"eXIf"):
                # Pillow looks for a late eXIf chunk by decoding the whole image (~60 ms for 1024 px):
                # with no such chunk anywhere in the bytes there is nothing to find.
                return {str(k): v for k, v in im.info.items()}, (False, {})
            return {str(k): v for k, v in im.info.items()}, exif.exif_fields(im)


def read_lanes(data: bytes, fmt: str, *, trust_anchors_pem: str | None = None) -> list[dict[str, Any]]:
    """Every lane's result for one image, as JSON-ready dicts, in a fixed order. Never raises."""
    results: list[LaneResult] = [_guard(c2pa_lane.LANE, lambda: c2pa_lane.read(
        data, fmt, trust_anchors_pem=trust_anchors_pem))]
    opened: dict[str, Any] = {}
    try:
        opened["info"], opened["exif"] = _open(data)
    except Exception as exc:  # noqa: BLE001 - a file Pillow cannot open: its metadata lanes say so
        opened["error"] = exc
    png: dict[str, Any] = {}
    try:
        png["text"] = text_chunks(data)
    except Exception as exc:  # noqa: BLE001
        png["error"] = exc

    def need(*parts: str) -> None:
        for part in parts:
            if part in (opened if part in ("info", "exif") else png):
                continue
            raise (opened if part in ("info", "exif") else png)["error"]

    def xmp_lane() -> LaneResult:
        need("info")
        return xmp.read(data, opened["info"], png.get("text", {}), fmt)

    def generator_lane() -> LaneResult:
        need("text")
        text = dict(png["text"])
        if "exif" in opened and "UserComment" in opened["exif"][1]:
            text.setdefault("UserComment", opened["exif"][1]["UserComment"])
        return generators.read(text)

    def software_lane() -> LaneResult:
        need("exif")
        return exif.read_software(opened["exif"][1])

    def camera_lane() -> LaneResult:
        need("exif")
        return exif.read_camera(opened["exif"][1])

    results += [_guard(xmp.LANE, xmp_lane), _guard(generators.LANE, generator_lane),
                _guard(exif.SOFTWARE_LANE, software_lane), _guard(exif.CAMERA_LANE, camera_lane)]
    return [r.as_dict() for r in results]


def camera_metadata(data: bytes) -> dict[str, Any]:
    """What the upload keeps on the image for the file-details panel: whether EXIF is present and
    its camera fields. Never raises on odd metadata."""
    try:
        _info, (has_exif, fields) = _open(data)
    except Exception:  # noqa: BLE001 - unreadable metadata: nothing to show
        return {"has_exif": False, "camera": {}}
    return {"has_exif": has_exif, "camera": {k: v for k, v in fields.items() if k in exif.CAMERA_TAGS}}

