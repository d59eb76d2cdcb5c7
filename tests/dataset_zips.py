"""Zip archives for the dataset upload tests: a well-formed dataset and hostile ones."""

from __future__ import annotations

import io
import stat
import struct
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.images import png_bytes


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def as_upload(data: bytes, name: str = "data.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/zip")


def split_layout() -> dict[str, bytes]:
    """``<split>/<CLASS>/``: 2 real and 3 AI-generated images (one of them not decodable), and a
    text file that is not an image."""
    return {"train/REAL/r1.png": png_bytes((40, 32), seed=101), "train/FAKE/f1.png": png_bytes((40, 32), seed=102),
            "test/REAL/r2.png": png_bytes((40, 32), seed=103), "test/FAKE/f2.png": png_bytes((40, 32), seed=104),
            "train/FAKE/broken.png": b"this is not a png", "train/REAL/notes.txt": b"collected in 2026"}


def symlink_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("REAL/a.png", png_bytes((40, 32), seed=1))
        link = zipfile.ZipInfo("REAL/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    return buf.getvalue()


def lying_zip(real_size: int = 200_000, declared: int = 100) -> bytes:
    """A member that inflates to ``real_size`` bytes while its headers declare ``declared``."""
    data = bytearray(zip_bytes({"REAL/zeros.png": b"\0" * real_size}))
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, declared)
    struct.pack_into("<I", data, central + 24, declared)
    return bytes(data)


HOSTILE = {
    "traversal": (lambda: zip_bytes({"REAL/a.png": png_bytes((40, 32), seed=1),
                                     "../escaped/REAL/b.png": png_bytes((40, 32), seed=2)}), "outside its own folder"),
    "absolute": (lambda: zip_bytes({"/tmp/REAL/b.png": png_bytes((40, 32), seed=2)}), "outside its own folder"),
    "symlink": (symlink_zip, "symbolic link"),
    "bomb": (lambda: zip_bytes({"REAL/zeros.png": b"\0" * 200_000}), "zip bomb"),
    "lying sizes": (lying_zip, "could not be unpacked"),
    "not a zip": (lambda: png_bytes((40, 32), seed=3), "not a readable zip archive"),
    "empty": (lambda: zip_bytes({}), "holds no files"),
    "no images": (lambda: zip_bytes({"readme.txt": b"hello", "REAL/notes.txt": b"x"}), "No labelled images"),
}
