"""Unpacking a zip of images into uploads, with limits that a hostile archive cannot get past."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from .errors import VerityError

ZIP_MAGIC = b"PK\x03\x04"


class ArchiveRejected(VerityError):
    code = "archive_rejected"


class ArchiveTooLarge(VerityError):
    code = "payload_too_large"
    status = 413


def is_zip(upload: Any) -> bool:
    head = upload.read(4)
    upload.seek(0)
    return head == ZIP_MAGIC


def _skip(name: str) -> bool:
    path = PurePosixPath(name)
    # Folders, macOS resource forks and hidden files are packaging, not submitted images.
    return name.endswith("/") or "__MACOSX" in path.parts or any(p.startswith(".") for p in path.parts)


def expand(uploads: Iterable[Any]) -> list[Any]:
    """Each upload as itself, or a zip as the files in it.

    The member count and sizes are checked against the limits while reading, not only from the
    archive's directory: a zip can declare small sizes and inflate to gigabytes.
    """
    per_file = settings.VERITY_MAX_UPLOAD_BYTES
    budget = settings.VERITY_MAX_ARCHIVE_BYTES
    out: list[Any] = []
    for upload in uploads:
        if not is_zip(upload):
            out.append(upload)
            continue
        try:
            archive = zipfile.ZipFile(upload)
            members = [m for m in archive.infolist() if not _skip(m.filename)]
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ArchiveRejected(f"{upload.name} is not a readable zip archive.") from exc
        if len(out) + len(members) > settings.VERITY_MAX_FILES_PER_CASE:
            raise ArchiveRejected(f"At most {settings.VERITY_MAX_FILES_PER_CASE} images per case; "
                                  f"{upload.name} holds {len(members)}.")
        for member in members:
            name = PurePosixPath(member.filename).name
            try:
                with archive.open(member) as f:
                    # One byte over the per-file limit is enough for validate_upload to refuse it.
                    data = f.read(per_file + 1)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                # RuntimeError: an encrypted member; NotImplementedError: an unknown compression.
                data = b""
                name = f"{name} (unreadable in {upload.name}: {exc})"[:255]
            budget -= len(data)
            if budget < 0:
                raise ArchiveTooLarge(
                    f"The archives unpack to more than {settings.VERITY_MAX_ARCHIVE_BYTES / 1e6:.0f} MB.")
            out.append(SimpleUploadedFile(name, data))
    return out
