"""Submitting a case: files (single images or zip archives) are checked (``intake``), stored and
queued; an Idempotency-Key makes a retry return the first case, and the submitting API token is
recorded (webhooks follow it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from .. import queue, storage
from ..audit import record_event
from ..metadata import read_metadata
from ..models import Analysis, ApiSubmission, ApiToken, Case, CaseImage, Tag, Team
from ..selectors import User
from ._common import account_id, refresh_model_verdicts, require_member
from .archive import Fingerprint, archive_fingerprint, archive_remember
from .idempotency import check_key, fingerprint, idempotency_claim, idempotency_record
from .intake import AcceptedFile, Rejection, Upload, intake


@dataclass
class SubmissionResult:
    case: Case
    images: list[CaseImage]
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: list[CaseImage] = field(default_factory=list)
    replayed: bool = False  # an earlier request with the same Idempotency-Key created the case


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


def case_submit(*, user: User, team: Team, title: str, files: Iterable[Upload], source_url: str = "",
                notes: str = "", tags: Iterable[str] | str = (), token: ApiToken | None = None,
                idempotency_key: str | None = None) -> SubmissionResult:
    """Create a case with one queued analysis per new valid image and enqueue them after commit.

    Files go through ``intake`` (zip expansion and checks, one set of limits). Invalid files are
    reported in ``rejected`` and do not stop the valid ones; if no file is valid, nothing is
    created and SubmissionRejected (or its 413/415 kinds) lists every reason. An image whose bytes
    this team already submitted is linked to the earlier image (``duplicate_of``) and reuses its
    analysis instead of being analysed again.

    ``token``: the API token that submitted, recorded with the case. ``idempotency_key``: the same
    key with the same request returns the first request's case (``replayed``); with a different
    request it is an IdempotencyConflict.

    The files are read, checked and fingerprinted for the archive before the transaction opens:
    on SQLite a write transaction holds the one write lock, and decoding and hashing an upload of
    many photos inside it would keep the workers from recording results (and reviewers from
    saving) for as long.
    """
    require_member(user, team)
    files = list(files)
    key = check_key(idempotency_key) if idempotency_key is not None else None
    request_sha256 = ""
    if key is not None:
        fields: dict[str, Any] = {"title": title, "source_url": source_url, "notes": notes, "team": team.pk}
        if normalise_tags(tags):
            fields["tags"] = ",".join(normalise_tags(tags))
        request_sha256 = fingerprint(fields, files)
    accepted, rejected = intake(files)
    prints = [archive_fingerprint(item.data) for item in accepted]
    with transaction.atomic():
        record = None
        if key is not None:
            record, earlier_case, earlier_rejected = idempotency_claim(user=user, key=key,
                                                                       request_sha256=request_sha256)
            if earlier_case is not None:
                return SubmissionResult(case=earlier_case, images=list(earlier_case.images.all()),
                                        rejected=[Rejection.from_dict(r) for r in earlier_rejected], replayed=True)
        result = _create(user=user, team=team, title=title, accepted=accepted, rejected=rejected,
                         source_url=source_url, notes=notes, tags=tags, prints=prints)
        if record is not None:
            idempotency_record(record=record, case=result.case, rejected=[r.as_dict() for r in rejected])
        if token is not None:
            ApiSubmission.objects.create(case=result.case, token=token)
    return result


def _create(*, user: User, team: Team, title: str, accepted: list[AcceptedFile], rejected: list[Rejection],
            source_url: str, notes: str, tags: Iterable[str] | str,
            prints: Sequence[Fingerprint | None]) -> SubmissionResult:
    with transaction.atomic():
        case = Case.objects.create(team=team, title=title.strip() or accepted[0].name, source_url=source_url,
                                   notes=notes, created_by_id=account_id(user))
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
        archive_remember(images=images, fingerprints={digest: p for (_, _, digest), p in zip(stored, prints)})
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
            "rejected": [r.as_dict() for r in rejected],
            "tags": normalise_tags(tags),
        })
    return SubmissionResult(case=case, images=images, rejected=rejected, duplicates=duplicates)
