"""The archive memory's writes: fingerprinting images at intake and linking near-duplicates,
flagging the cases that hold a near-duplicate when a final verdict changes (with portal
notifications and webhooks), resolving flags and reading notifications.

Team boundaries: fingerprints carry their team, every lookup names it (archive_index), so an
image is only ever linked to an image of the same team."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from ml import phash
from ml.errors import MLError

from .. import archive_index
from ..audit import record_event
from ..errors import VerityError
from ..models import (ArchiveFlag, ArchiveMatch, AuditEvent, Case, CaseImage, Comment, HumanVerdict,
                      Membership, Notification, Review)
from ..selectors import User
from ._common import require_member
from .webhooks import webhook_delivery_for_case

logger = logging.getLogger(__name__)

FLAG_EVENT = "case.archive_flagged"


Fingerprint = tuple[list[phash.PerceptualHash], list[phash.PerceptualHash]]  # (stored, query) hashes


def archive_fingerprint(data: bytes) -> Fingerprint | None:
    """(stored, query) hashes of an image, or None when it cannot be hashed meaningfully. Pure
    (no database): case_submit computes them before its transaction opens."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            stored, queries = phash.fingerprints(im)
    except (OSError, UnidentifiedImageError, MLError, ValueError):
        logger.warning("could not fingerprint an image", exc_info=True)
        return None
    # Quality below MIN_QUALITY (flat or tiny pictures) means the hash says nothing: keep none,
    # rather than link unrelated plain images.
    if not queries[0].usable:
        return None
    return [h for h in stored if h.usable], queries


def archive_remember(*, images: Sequence[CaseImage],
                     fingerprints: Mapping[str, Fingerprint | None]) -> list[ArchiveMatch]:
    """Link each new image of one case to the near-duplicates already in its team's archive (other
    cases only) and add it to the archive; ``fingerprints``: each image's
    :func:`archive_fingerprint` by SHA-256 (missing or None: not remembered).

    Called by case_submit inside its transaction, so the links exist when the case does. A fixed
    number of queries for any number of images."""
    hashed = []
    for image in images:
        found = fingerprints.get(image.sha256)
        if found is not None:
            hashed.append((image, *found))
    if not hashed:
        return []
    case = hashed[0][0].case
    # No exclusion of this case is needed: its own images are stored only after the lookup, and
    # leaving it out spares the query a join (benchmarks/archive.md).
    hits = archive_index.lookup_many(team_id=case.team_id, queries=[q for _, _, q in hashed])
    matches = ArchiveMatch.objects.bulk_create([
        ArchiveMatch(image=image, matched_id=hit.image_id, distance=hit.distance, variant=hit.variant)
        for (image, _, _), found in zip(hashed, hits) for hit in found])
    archive_index.store(items=[(image, stored) for image, stored, _ in hashed], team_id=case.team_id)
    return matches


def _previous_final_verdict(case: Case) -> str | None:
    """The verdict of the case's latest finalisation before this one (the audit history keeps it;
    reopening clears the case's own field)."""
    event = (AuditEvent.objects.filter(case=case, action="case.finalised").order_by("-created_at", "-id")
             .values_list("details", flat=True).first())
    return (event or {}).get("verdict")


def linked_case_ids(case: Case) -> set[int]:
    """Cases of the same team holding a near-duplicate of one of ``case``'s images, either way."""
    rows = ArchiveMatch.objects.filter(Q(image__case=case) | Q(matched__case=case)).values_list(
        "image__case_id", "matched__case_id")
    ids = {pk for pair in rows for pk in pair} - {case.pk}
    return set(Case.objects.filter(pk__in=ids, team_id=case.team_id).values_list("pk", flat=True))


def watchers(case: Case) -> set[int]:
    """Who follows a case: its submitter and assignee, and whoever reviewed or discussed it,
    as long as they are still in its team."""
    ids = {case.created_by_id, case.assignee_id, case.finalised_by_id}
    ids |= set(Review.objects.filter(image__case=case).values_list("reviewer_id", flat=True))
    ids |= set(Comment.objects.filter(case=case).values_list("author_id", flat=True))
    members = set(Membership.objects.filter(team_id=case.team_id).values_list("user_id", flat=True))
    return {pk for pk in ids if pk is not None} & members


def _label(verdict: str | None) -> str:
    return HumanVerdict(verdict).label if verdict in HumanVerdict.values else "none"


def archive_on_final_verdict(*, case: Case, verdict: str, actor: User) -> list[ArchiveFlag]:
    """Called by case_finalise before it records its own event: if the case was finalised before
    with another verdict, flag every case holding a near-duplicate of its images and tell their
    watchers (portal notifications; a webhook for a case submitted through the API)."""
    previous = _previous_final_verdict(case)
    if previous is None or previous == verdict:
        return []
    flags: list[ArchiveFlag] = []
    for linked in Case.objects.filter(pk__in=linked_case_ids(case)).select_related("team"):
        flag = ArchiveFlag.objects.create(case=linked, source_case=case, previous_verdict=previous,
                                          new_verdict=verdict,
                                          changed_by_id=actor.pk if actor.is_authenticated else None)
        message = (f"“{case.title}” holds a near-duplicate of an image in “{linked.title}”; its final verdict "
                   f"changed from {_label(previous)} to {_label(verdict)}. Review “{linked.title}”.")
        Notification.objects.bulk_create([Notification(user_id=pk, case=linked, message=message)
                                           for pk in sorted(watchers(linked))])
        record_event(action=FLAG_EVENT, obj=flag, actor=actor, team=linked.team, case=linked, details={
            "source_case": case.pk, "previous_verdict": previous, "verdict": verdict,
            "reason": f"a near-duplicate's final verdict changed ({_label(previous)} → {_label(verdict)})"})
        _webhook(flag)
        flags.append(flag)
    return flags


def flag_payload(flag: ArchiveFlag) -> dict[str, Any]:
    return {"event": FLAG_EVENT, "created_at": timezone.now().isoformat(), "data": {
        "case": {"id": flag.case_id},
        "source_case": {"id": flag.source_case_id},
        "previous_verdict": flag.previous_verdict, "verdict": flag.new_verdict, "flag": {"id": flag.pk}}}


def _webhook(flag: ArchiveFlag) -> None:
    webhook_delivery_for_case(case_id=flag.case_id, event=FLAG_EVENT, payload=flag_payload(flag))


def archive_flag_resolve(*, user: User, flag: ArchiveFlag) -> ArchiveFlag:
    """A member says the flagged case was looked at again."""
    case = flag.case
    require_member(user, case.team)
    with transaction.atomic():
        updated = ArchiveFlag.objects.filter(pk=flag.pk, resolved_at__isnull=True).update(
            resolved_at=timezone.now(), resolved_by=user)
        if not updated:
            raise VerityError("This flag was already resolved.")
        flag.refresh_from_db()
        record_event(action="case.archive_flag_resolved", obj=flag, actor=user, team=case.team, case=case,
                     details={"source_case": flag.source_case_id})
    return flag


def notifications_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    rows = Notification.objects.filter(user=user.pk, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return rows.update(read_at=timezone.now())

