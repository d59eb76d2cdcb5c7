"""Submitting a case: files (single images or zip archives) are checked, stored and queued."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction

from ml.errors import ImageRejected
from ml.imageio import ImageInfo, inspect_image

from .. import queue, storage
from ..archives import unsafe_member_name
from ..audit import record_event
from ..errors import SubmissionRejected, VerityError
from ..metadata import read_metadata
from ..models import Analysis, Case, CaseImage, Tag, Team
from ._common import refresh_model_verdicts, require_member
from .archive import archive_remember


class Upload(Protocol):
    """What Django's UploadedFile offers, and all that submission needs of it."""

    name: str
    size: int

    def read(self, size: int = -1) -> bytes: ...


@dataclass
class Rejection:
    name: str
    reason: str


@dataclass
class AcceptedFile:
    name: str
    data: bytes
    info: ImageInfo


@dataclass
class SubmissionResult:
    case: Case
    images: list[CaseImage]
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: list[CaseImage] = field(default_factory=list)


@dataclass
class _MemberUpload:
    """One image read out of a zip archive, shaped like an upload."""

    name: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, size: int = -1) -> bytes:
        return self.data if size < 0 else self.data[:size]


def _display_name(name: str | None, default: str = "file") -> str:
    return PurePosixPath((name or default).replace("\\", "/")).name[:255] or default


def _name_of(upload: Upload) -> str:
    # Images from an archive keep "archive.zip/member.png", so reviewers know where they came from.
    return upload.name[:255] if isinstance(upload, _MemberUpload) else _display_name(upload.name, "image")


def validate_upload(upload: Upload) -> AcceptedFile:
    """Check one uploaded file by its content. Raises VerityError with a reason to show."""
    limit = settings.VERITY_MAX_UPLOAD_BYTES
    if upload.size == 0:
        raise VerityError("The file is empty (0 bytes); choose it again, it may not have finished downloading.")
    # The size is known before the body is read: refuse large files without loading them.
    if upload.size is not None and upload.size > limit:
        raise VerityError(f"The file is {upload.size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB.")
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise VerityError(f"The file is larger than the {limit / 1e6:.0f} MB limit.")
    try:
        info = inspect_image(data, max_pixels=settings.VERITY_MAX_IMAGE_PIXELS)
    except ImageRejected as exc:
        raise VerityError(str(exc)) from exc
    return AcceptedFile(name=_name_of(upload), data=data, info=info)


def _is_zip(upload: Upload) -> bool:
    name = (upload.name or "").lower()
    if name.endswith(".zip"):
        return True
    head = upload.read(4)
    if hasattr(upload, "seek"):
        upload.seek(0)  # type: ignore[attr-defined]
    return head == b"PK\x03\x04"


def expand_zip(upload: Upload) -> tuple[list[_MemberUpload], list[Rejection]]:
    """The images inside a zip archive, never written to disk.

    Limits are checked from the archive's directory *before* anything is inflated (a zip bomb
    declares its sizes there), and again while reading, in case the directory lies. Members with
    absolute or ``..`` paths are refused; names are reduced to their last part.
    """
    zip_name = _display_name(upload.name, "archive.zip")
    limit_bytes = settings.VERITY_MAX_ZIP_UNCOMPRESSED_BYTES
    if upload.size is not None and upload.size > settings.VERITY_MAX_UPLOAD_BYTES:
        raise VerityError(f"{zip_name}: the archive is larger than the "
                          f"{settings.VERITY_MAX_UPLOAD_BYTES / 1e6:.0f} MB upload limit.")
    try:
        archive = zipfile.ZipFile(upload)  # type: ignore[arg-type]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise VerityError(f"{zip_name} is not a readable zip archive.") from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()
                   and not m.filename.startswith("__MACOSX/") and not _display_name(m.filename).startswith(".")]
        if len(members) > settings.VERITY_MAX_ZIP_MEMBERS:
            raise VerityError(f"{zip_name} holds {len(members)} files; at most "
                              f"{settings.VERITY_MAX_ZIP_MEMBERS} are accepted per archive. Split it into smaller ones.")
        declared = sum(m.file_size for m in members)
        if declared > limit_bytes:
            raise VerityError(
                f"{zip_name} would expand to {declared / 1e6:.0f} MB; the limit is {limit_bytes / 1e6:.0f} MB. "
                "Archives that expand this much are refused (a possible zip bomb); upload the images themselves.")
        out: list[_MemberUpload] = []
        rejected: list[Rejection] = []
        total = 0
        for member in members:
            label = f"{zip_name}/{_display_name(member.filename)}"
            if unsafe_member_name(member.filename):
                rejected.append(Rejection(name=label, reason="Its path inside the archive is unsafe (absolute or "
                                                              "with '..'), so it was not read."))
                continue
            if member.flag_bits & 0x1:
                rejected.append(Rejection(name=label, reason="It is encrypted; upload it without a password."))
                continue
            per_file = min(settings.VERITY_MAX_UPLOAD_BYTES, limit_bytes - total)
            try:
                with archive.open(member) as fh:
                    data = fh.read(per_file + 1)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                rejected.append(Rejection(name=label, reason=f"It could not be read from the archive ({exc})."))
                continue
            if len(data) > per_file:
                raise VerityError(f"{zip_name} expands beyond its declared size or the "
                                  f"{limit_bytes / 1e6:.0f} MB limit; it was refused as a possible zip bomb.")
            total += len(data)
            out.append(_MemberUpload(name=label, data=data))
        return out, rejected


def _expand(files: Iterable[Upload]) -> tuple[list[Upload], list[Rejection]]:
    expanded: list[Upload] = []
    rejected: list[Rejection] = []
    for upload in files:
        if _is_zip(upload):
            try:
                members, bad = expand_zip(upload)
            except VerityError as exc:
                rejected.append(Rejection(name=_display_name(upload.name), reason=exc.message))
                continue
            expanded.extend(members)
            rejected.extend(bad)
        else:
            expanded.append(upload)
    return expanded, rejected


def normalise_tags(tags: Iterable[str] | str) -> list[str]:
    """``"Flood, flood ,  Elections"`` -> ``["flood", "elections"]`` (order kept, duplicates dropped)."""
    if isinstance(tags, str):
        tags = tags.split(",")
    seen: dict[str, None] = {}
    for tag in tags:
        clean = " ".join(tag.strip().lower().split())[:50]
        if clean:
            seen.setdefault(clean, None)
    return list(seen)


def case_tags_set(*, case: Case, tags: Iterable[str] | str) -> list[Tag]:
    """Replace a case's tags (creating the team's tags as needed). Call inside a transaction."""
    objs = [Tag.objects.get_or_create(team=case.team, name=name)[0] for name in normalise_tags(tags)]
    case.tags.set(objs)
    return objs


def case_submit(*, user: Any, team: Team, title: str, files: Iterable[Upload], source_url: str = "",
                notes: str = "", tags: Iterable[str] | str = ()) -> SubmissionResult:
    """Create a case with one queued analysis per new valid image and enqueue them after commit.

    Zip archives are expanded (see expand_zip). Invalid files are reported in ``rejected`` and do
    not stop the valid ones. An image whose bytes this team already submitted is linked to the
    earlier image (``duplicate_of``) and reuses its analysis instead of being analysed again. If no
    file is valid, nothing is created and SubmissionRejected lists every reason.
    """
    require_member(user, team)
    files, rejected = _expand(list(files))
    if not files and not rejected:
        raise SubmissionRejected("Choose at least one image to upload.")
    if len(files) > settings.VERITY_MAX_FILES_PER_CASE:
        raise SubmissionRejected(f"At most {settings.VERITY_MAX_FILES_PER_CASE} images per case; "
                                 f"this upload holds {len(files)}.")
    accepted: list[AcceptedFile] = []
    for upload in files:
        try:
            accepted.append(validate_upload(upload))
        except VerityError as exc:
            rejected.append(Rejection(name=_name_of(upload), reason=exc.message))
    if not accepted:
        raise SubmissionRejected(
            "None of the files could be accepted.",
            details=[{"file": r.name, "reason": r.reason} for r in rejected],
        )

    with transaction.atomic():
        case = Case.objects.create(team=team, title=title.strip() or accepted[0].name, source_url=source_url,
                                   notes=notes, created_by=user)
        case_tags_set(case=case, tags=tags)
        stored = [(item, *storage.store_image(item.data, item.info.format)) for item in accepted]
        # The earliest analysed copy of each file's bytes in this team, if any (one query for all).
        earlier: dict[str, CaseImage] = {}
        for row in (CaseImage.objects.filter(case__team=team, sha256__in={d for _, _, d in stored},
                                             duplicate_of__isnull=True).order_by("-id")):
            earlier[row.sha256] = row  # newest first, so the earliest wins
        images = CaseImage.objects.bulk_create([
            CaseImage(case=case, file=name, sha256=digest, original_name=item.name, format=item.info.format,
                      width=item.info.width, height=item.info.height, size_bytes=len(item.data),
                      metadata=read_metadata(item.data, item.info.format), duplicate_of=earlier.get(digest),
                      model_label=earlier[digest].model_label if digest in earlier else "")
            for item, name, digest in stored])
        # The same bytes twice in this upload: the later copies reuse the first one's analysis.
        first_here: dict[str, CaseImage] = {}
        for image in images:
            if image.duplicate_of is None and image.sha256 in first_here:
                image.duplicate_of = first_here[image.sha256]
                CaseImage.objects.filter(pk=image.pk).update(duplicate_of=image.duplicate_of)
            elif image.duplicate_of is None:
                first_here[image.sha256] = image
        # Near-duplicates (resized, recompressed, cropped copies) in the team's archive (issue 14).
        archive_remember(images=images, data={digest: item.data for item, _, digest in stored})
        duplicates = [image for image in images if image.duplicate_of is not None]
        queued = [a.pk for a in Analysis.objects.bulk_create(
            [Analysis(image=image) for image in images if image.duplicate_of is None])]
        # Enqueue only once the rows are committed, or a fast worker would not find them.
        if queued:
            transaction.on_commit(lambda: queue.enqueue_analyses(queued))
        refresh_model_verdicts([case.pk])
        record_event(action="case.submitted", obj=case, actor=user, team=team, case=case, details={
            "images": [{"id": i.pk, "name": i.original_name, "sha256": i.sha256,
                        **({"duplicate_of": i.duplicate_of_id} if i.duplicate_of_id else {})} for i in images],
            "rejected": [{"file": r.name, "reason": r.reason} for r in rejected],
            "tags": normalise_tags(tags),
        })
    return SubmissionResult(case=case, images=images, rejected=rejected, duplicates=duplicates)
