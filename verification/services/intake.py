"""What a submission's files become: accepted images, and refused files each with a reason.

The one intake of both doors (the web form and ``POST /api/v1/cases/``), used by
``services.case_submit``. One set of limits, all from settings:

- ``VERITY_MAX_UPLOAD_BYTES``: one image, whether uploaded alone or read out of a zip;
- ``VERITY_MAX_FILES_PER_CASE``: images in one submission, the files inside zips counted;
- ``VERITY_MAX_ARCHIVE_BYTES``: what the zips of one submission unpack to, together (a zip file
  itself may be at most this large too).

One rule for zips: a zip is opened once, never recursively (a zip inside it is refused by name);
a member whose path is absolute or climbs out with ``..``, a symbolic link or an encrypted member
is refused by name, the rest are read; packaging (folders, ``__MACOSX``, hidden files) is skipped.
A zip that would take the submission past the file count or the unpacked-size limit is refused as
a whole, by its name (a zip bomb declares small sizes or inflates past them: both are counted).

Every refused file is a :class:`Rejection` with a ``kind`` that says which answer it calls for:
``too_large``, ``unsupported`` (not an image or zip at all) or ``invalid`` (anything else).
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol

from django.conf import settings

from ml.errors import ImageRejected
from ml.formats import looks_like_image
from ml.imageio import ImageInfo, inspect_image

from ..archives import ZIP_MAGIC, is_packaging, unsafe_member_name
from ..errors import SubmissionRejected, VerityError

TOO_LARGE = "too_large"
UNSUPPORTED = "unsupported"
INVALID = "invalid"


class Upload(Protocol):
    """What Django's UploadedFile offers, and all that submission needs of it."""

    @property
    def name(self) -> str | None: ...

    @property
    def size(self) -> int | None: ...

    def read(self, size: int = -1) -> bytes: ...


@dataclass
class Rejection:
    name: str
    reason: str
    kind: str = INVALID

    def as_dict(self) -> dict[str, str]:
        """How both doors list it: the form shows ``file: reason``, the API returns this dict."""
        return {"file": self.name, "reason": self.reason, "kind": self.kind}

    @classmethod
    def from_dict(cls, item: dict[str, str]) -> Rejection:
        return cls(name=item["file"], reason=item["reason"], kind=item.get("kind", INVALID))


@dataclass
class AcceptedFile:
    name: str
    data: bytes
    info: ImageInfo


class Refused(VerityError):
    """One file refused, with the kind of refusal."""

    def __init__(self, message: str, *, kind: str = INVALID) -> None:
        super().__init__(message)
        self.kind = kind


class SubmissionTooLarge(SubmissionRejected):
    code = "payload_too_large"
    status = 413


class SubmissionUnsupported(SubmissionRejected):
    code = "unsupported_media_type"
    status = 415


@dataclass
class _MemberUpload:
    """One file read out of a zip archive, shaped like an upload."""

    name: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, size: int = -1) -> bytes:
        return self.data if size < 0 else self.data[:size]


def display_name(name: str | None, default: str = "file") -> str:
    return PurePosixPath((name or default).replace("\\", "/")).name[:255] or default


def _name_of(upload: Upload) -> str:
    # Images from an archive keep "archive.zip/member.png", so reviewers know where they came from.
    return upload.name[:255] if isinstance(upload, _MemberUpload) else display_name(upload.name, "image")


def _mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB"


def _head(upload: Upload, n: int = 12) -> bytes:
    head = upload.read(n)
    if hasattr(upload, "seek"):
        upload.seek(0)
    return head


def validate_upload(upload: Upload) -> AcceptedFile:
    """Check one file by its content. Raises :class:`Refused` with a reason to show."""
    limit = settings.VERITY_MAX_UPLOAD_BYTES
    if upload.size == 0:
        raise Refused("The file is empty (0 bytes); choose it again, it may not have finished downloading.")
    # The size is known before the body is read: refuse large files without loading them.
    if upload.size is not None and upload.size > limit:
        raise Refused(f"The file is {upload.size / 1e6:.1f} MB; the limit is {_mb(limit)}.", kind=TOO_LARGE)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"The file is larger than the {_mb(limit)} limit.", kind=TOO_LARGE)
    try:
        info = inspect_image(data, max_pixels=settings.VERITY_MAX_IMAGE_PIXELS)
    except ImageRejected as exc:
        # "Not an image at all" and "an image that does not decode" call for different answers.
        raise Refused(str(exc), kind=INVALID if looks_like_image(data[:12]) else UNSUPPORTED) from exc
    return AcceptedFile(name=_name_of(upload), data=data, info=info)


def _is_zip(upload: Upload) -> bool:
    return (upload.name or "").lower().endswith(".zip") or _head(upload, 4) == ZIP_MAGIC


class _Budget:
    """What the rest of one submission may still hold: files and unpacked bytes."""

    def __init__(self) -> None:
        self.files = settings.VERITY_MAX_FILES_PER_CASE
        self.bytes = settings.VERITY_MAX_ARCHIVE_BYTES


def _member_refusal(member: zipfile.ZipInfo) -> str | None:
    if unsafe_member_name(member.filename):
        return "Its path inside the archive is unsafe (absolute or with '..'), so it was not read."
    if stat.S_ISLNK(member.external_attr >> 16):
        return "It is a symbolic link, not a file, so it was not read."
    if member.flag_bits & 0x1:
        return "It is encrypted; upload it without a password."
    return None


def _expand_zip(upload: Upload, budget: _Budget) -> tuple[list[_MemberUpload], list[Rejection]]:
    """The files of one zip, never written to disk, or Refused for the whole zip."""
    zip_name = display_name(upload.name, "archive.zip")
    limit = settings.VERITY_MAX_ARCHIVE_BYTES
    if upload.size is not None and upload.size > limit:
        raise Refused(f"The archive is {upload.size / 1e6:.1f} MB; the limit is {_mb(limit)}.", kind=TOO_LARGE)
    try:
        archive = zipfile.ZipFile(upload)  # type: ignore[call-overload]  # an upload is a readable, seekable file
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Refused(f"{zip_name} is not a readable zip archive.") from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not is_packaging(m.filename)]
        if len(members) > budget.files:
            already = settings.VERITY_MAX_FILES_PER_CASE - budget.files
            raise Refused(f"{zip_name} holds {len(members)} files; at most {settings.VERITY_MAX_FILES_PER_CASE} "
                          "are accepted per case" + (f" ({already} already in this submission)" if already else "")
                          + ". Split them over several cases.", kind=TOO_LARGE)
        # Checked from the archive's directory before anything is inflated: a zip bomb declares its sizes there.
        declared = sum(m.file_size for m in members)
        if declared > budget.bytes:
            raise Refused(f"{zip_name} would expand to {_mb(declared)}; the limit is {_mb(limit)} for the archives "
                          "of one submission. Archives that expand this much are refused (a possible zip bomb); "
                          "upload the images themselves.", kind=TOO_LARGE)
        out: list[_MemberUpload] = []
        rejected: list[Rejection] = []
        left = budget.bytes
        for member in members:
            label = f"{zip_name}/{display_name(member.filename)}"
            reason = _member_refusal(member)
            if reason is not None:
                rejected.append(Rejection(name=label, reason=reason))
                continue
            # One byte over the per-file limit is enough for validate_upload to refuse the member.
            want = min(settings.VERITY_MAX_UPLOAD_BYTES + 1, left + 1)
            try:
                with archive.open(member) as fh:
                    data = fh.read(want)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, EOFError) as exc:
                rejected.append(Rejection(name=label, reason=f"It could not be read from the archive ({exc})."))
                continue
            if len(data) > left:  # the directory lied about the sizes
                raise Refused(f"{zip_name} expands beyond its declared size or the {_mb(limit)} limit; it was "
                              "refused as a possible zip bomb.", kind=TOO_LARGE)
            left -= len(data)
            if data[:4] == ZIP_MAGIC or label.lower().endswith(".zip"):
                rejected.append(Rejection(name=label, kind=UNSUPPORTED, reason=(
                    "A zip inside a zip is not opened; unzip it and upload the images it holds.")))
                continue
            out.append(_MemberUpload(name=label, data=data))
        budget.bytes = left
        budget.files -= len(out)
        return out, rejected


def expand(files: Iterable[Upload]) -> tuple[list[Upload], list[Rejection]]:
    """Each upload as itself, or a zip as the files in it; refused zips and members are listed."""
    budget = _Budget()
    expanded: list[Upload] = []
    rejected: list[Rejection] = []
    for upload in files:
        if not _is_zip(upload):
            expanded.append(upload)
            budget.files -= 1
            continue
        try:
            members, bad = _expand_zip(upload, budget)
        except Refused as exc:
            rejected.append(Rejection(name=display_name(upload.name, "archive.zip"), reason=exc.message,
                                      kind=exc.kind))
            continue
        expanded.extend(members)
        rejected.extend(bad)
    return expanded, rejected


def intake(files: Iterable[Upload]) -> tuple[list[AcceptedFile], list[Rejection]]:
    """The accepted images and the refused files of one submission.

    Raises SubmissionRejected when nothing is sent or there are more files than a case takes, and
    when no file is acceptable: then with every refusal listed, as the subclass that names the
    answer (413 when every refusal is for size, 415 when none of the files is an image or a zip).
    """
    files, rejected = expand(list(files))
    if not files and not rejected:
        raise SubmissionRejected("Choose at least one image to upload.")
    limit = settings.VERITY_MAX_FILES_PER_CASE
    if len(files) > limit:
        raise SubmissionTooLarge(f"At most {limit} files can be sent with one case; this upload holds "
                                 f"{len(files)}. Nothing was saved; split them over several cases.")
    accepted: list[AcceptedFile] = []
    for upload in files:
        try:
            accepted.append(validate_upload(upload))
        except Refused as exc:
            rejected.append(Rejection(name=_name_of(upload), reason=exc.message, kind=exc.kind))
    if not accepted:
        kinds = {r.kind for r in rejected}
        error = (SubmissionTooLarge if kinds == {TOO_LARGE} else
                 SubmissionUnsupported if kinds == {UNSUPPORTED} else SubmissionRejected)
        raise error("None of the files could be accepted.", details=[r.as_dict() for r in rejected])
    return accepted, rejected
