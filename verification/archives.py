"""Zip archives: the rules of what a member may be called (shared by every reader of zips) and
unpacking an admin's dataset into a folder (``extract_to``), with limits that a hostile archive
cannot get past. Submitted images are read out of zips in memory by ``services.intake``."""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import VerityError

ZIP_MAGIC = b"PK\x03\x04"


class ArchiveRejected(VerityError):
    code = "archive_rejected"


class ArchiveTooLarge(VerityError):
    code = "payload_too_large"
    status = 413


def unsafe_member_name(name: str) -> bool:
    """An absolute name, a drive letter or a ``..`` part: unpacking it could write outside the folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def is_packaging(name: str) -> bool:
    """Folders, macOS resource forks and hidden files are packaging, not submitted images."""
    path = PurePosixPath(name.replace("\\", "/"))
    # ".." is a hostile name (refused by name), not a hidden file to skip.
    hidden = any(p.startswith(".") and p not in (".", "..") for p in path.parts)
    return name.endswith("/") or "__MACOSX" in path.parts or hidden


_CHUNK = 1024 * 1024


def _refuse_hostile(archive: zipfile.ZipFile, label: str) -> None:
    """Refuse the whole archive when any entry is unsafe to unpack into a folder."""
    for member in archive.infolist():
        if unsafe_member_name(member.filename):
            raise ArchiveRejected(f"{label} names a file outside its own folder ({member.filename[:200]!r}); "
                                  "the archive was refused. Zip the dataset folder itself.")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise ArchiveRejected(f"{label} holds a symbolic link ({member.filename[:200]!r}); the archive was "
                                  "refused. Zip the image files themselves.")
        if member.flag_bits & 0x1:
            raise ArchiveRejected(f"{label} is encrypted ({member.filename[:200]!r}); zip it without a password.")


def _copy_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Write one member to ``target``; returns the bytes written. Counts what is really inflated:
    a member that grows past its declared size or the remaining budget is a zip bomb."""
    written = 0
    with archive.open(member) as src, target.open("xb") as dst:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > member.file_size or written > budget:
                raise ArchiveTooLarge("The archive expands beyond its declared sizes or the limit; it was "
                                      "refused as a possible zip bomb.")
            dst.write(chunk)
    return written


def _label(upload: Any) -> str:
    return PurePosixPath((getattr(upload, "name", "") or "archive.zip").replace("\\", "/")).name[:120]


def _open(upload: Any, label: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveRejected(f"{label} is not a readable zip archive.") from exc


def _members(archive: zipfile.ZipFile, label: str, *, max_members: int, max_bytes: int) -> list[zipfile.ZipInfo]:
    """The files to unpack, after the checks that need only the zip's directory."""
    _refuse_hostile(archive, label)
    members = [m for m in archive.infolist() if not m.is_dir() and not is_packaging(m.filename)]
    if not members:
        raise ArchiveRejected(f"{label} holds no files.")
    if len(members) > max_members:
        raise ArchiveRejected(f"{label} holds {len(members)} files; at most {max_members} are accepted.")
    declared = sum(m.file_size for m in members)
    if declared > max_bytes:
        raise ArchiveTooLarge(f"{label} would expand to {declared / 1e6:.0f} MB; the limit is "
                              f"{max_bytes / 1e6:.0f} MB. Archives that expand this much are refused "
                              "(a possible zip bomb).")
    return members


def check(upload: Any, *, max_members: int, max_bytes: int) -> int:
    """Refuse a zip that extract_to would refuse from its directory alone (not a zip, hostile
    names, links, encryption, too many files, declared sizes over the limit), reading only the
    directory: cheap enough for a web request. Returns the number of files to unpack."""
    label = _label(upload)
    with _open(upload, label) as archive:
        return len(_members(archive, label, max_members=max_members, max_bytes=max_bytes))


def extract_to(upload: Any, dest: Path, *, max_members: int, max_bytes: int) -> list[Path]:
    """Unpack the zip ``upload`` into the new folder ``dest`` and return the files written.

    Checked before anything is written: it is a zip, no entry is absolute, climbs out with ``..``,
    is a symbolic link or is encrypted (any of these refuses the whole archive), and the member
    count and declared sizes are within the limits. While writing, the real inflated sizes are
    counted too (a zip can lie about them). Packaging files (``__MACOSX``, hidden files) are
    skipped. On any refusal ``dest`` is removed, so nothing half-unpacked is left behind.
    """
    label = _label(upload)
    with _open(upload, label) as archive:
        members = _members(archive, label, max_members=max_members, max_bytes=max_bytes)
        dest.mkdir(parents=True)
        root = dest.resolve()
        written: list[Path] = []
        try:
            budget = max_bytes
            for member in members:
                target = root.joinpath(*PurePosixPath(member.filename.replace("\\", "/")).parts)
                if not target.resolve().is_relative_to(root):  # belt and braces after _refuse_hostile
                    raise ArchiveRejected(f"{label} names a file outside its own folder; it was refused.")
                target.parent.mkdir(parents=True, exist_ok=True)
                budget -= _copy_member(archive, member, target, budget)
                written.append(target)
        except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, EOFError) as exc:
            # A damaged member (bad CRC), an unknown compression, two entries of one name, a full disk.
            shutil.rmtree(dest, ignore_errors=True)
            raise ArchiveRejected(f"{label} could not be unpacked: {exc}") from exc
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    return written
