"""Content-addressed storage of image bytes and analysis artefacts through Django's storage API."""

from __future__ import annotations

import hashlib

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from ml.formats import EXTENSIONS


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_name(sha256: str, fmt: str) -> str:
    """``images/ab/cd/abcd....jpg``: two fan-out levels keep directories small."""
    return f"images/{sha256[:2]}/{sha256[2:4]}/{sha256}.{EXTENSIONS.get(fmt, 'bin')}"


def store_image(data: bytes, fmt: str) -> tuple[str, str]:
    """Store ``data`` under its SHA-256 (once: identical uploads share the file)."""
    digest = sha256_hex(data)
    name = image_name(digest, fmt)
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(data))
        if saved != name:  # a concurrent writer won the race and storage renamed ours
            default_storage.delete(saved)
    return name, digest


def store_artefact(name: str, data: bytes) -> str:
    """Store an analysis artefact (heatmap or overlay), replacing an earlier one of that name."""
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def store_artefact_once(name: str, data: bytes) -> str:
    """Store a derived artefact unless it exists: two requests drawing the same overlay at once
    both end up naming the one file, and neither deletes what the other is serving."""
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(data))
        if saved != name:  # a concurrent writer won the race and storage renamed ours
            default_storage.delete(saved)
    return name


def read(name: str) -> bytes:
    with default_storage.open(name, "rb") as f:
        return f.read()
