"""What the upload keeps on CaseImage.metadata for the file-details panel: whether EXIF is present
and its camera fields, so pages never re-open image files.

Provenance (C2PA, XMP DigitalSourceType, generator parameters, EXIF Software) is no longer judged
here: the worker reads it lane by lane (verification.provenance) beside the model, and
verification.evidence weighs it. None of this metadata proves anything by itself."""

from __future__ import annotations

from typing import Any

from .provenance import camera_metadata


def read_metadata(data: bytes, fmt: str) -> dict[str, Any]:  # noqa: ARG001 - fmt kept for the caller's signature
    """EXIF presence and camera fields (strings); never raises on odd metadata."""
    return camera_metadata(data)
