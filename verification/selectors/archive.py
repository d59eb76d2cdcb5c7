"""Reads of the archive memory, scoped like the rest of the selectors: a match, a flag or a stability
check is shown only through a case the user may see, and a match only ever points at a case of
the same team (see services.archive), which the user may see too."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from ..models import ArchiveFlag, ArchiveMatch, Case, CaseImage, Notification, Review, StabilityCheck
from .scope import User, cases_for, images_for

__all__ = [
    "CaseMemory", "ImageMemory", "case_memory", "flag_for", "image_for", "latest_stability", "matches_for",
    "notifications_for", "seen_before", "stability_checks_for", "unread_notifications",
]


@dataclass
class ImageMemory:
    matches: list[ArchiveMatch] = field(default_factory=list)
    stability: StabilityCheck | None = None


@dataclass
class CaseMemory:
    images: dict[int, ImageMemory]
    open_flags: list[ArchiveFlag]

    @property
    def any_pending(self) -> bool:
        return any(m.stability is not None and m.stability.is_pending for m in self.images.values())


def matches_for(user: User, image_ids: list[int]) -> QuerySet[ArchiveMatch]:
    """Matches of these images with the earlier case's verdict and who finalised it, and the
    matched image's latest review."""
    visible = cases_for(user).values("id")
    reviews = Review.objects.select_related("reviewer").order_by("-created_at", "-id")
    return (ArchiveMatch.objects.filter(image_id__in=image_ids, image__case__in=visible,
                                        matched__case__in=visible)
            .select_related("matched__case__finalised_by")
            .prefetch_related(Prefetch("matched__reviews", queryset=reviews))
            .order_by("image_id", "distance", "-matched_id"))


def latest_stability(image_ids: list[int]) -> dict[int, StabilityCheck]:
    latest: dict[int, StabilityCheck] = {}
    for check in (StabilityCheck.objects.filter(image_id__in=image_ids).select_related("model_version")
                  .order_by("created_at", "id")):
        latest[check.image_id] = check
    return latest


def case_memory(user: User, case: Case) -> CaseMemory:
    """Everything the case page shows of the archive memory, in four queries. ``case`` must come
    from a scoped selector (case_or_404)."""
    ids = [image.pk for image in case.images.all()]
    memory = {pk: ImageMemory() for pk in ids}
    for match in matches_for(user, ids):
        memory[match.image_id].matches.append(match)
    for pk, check in latest_stability(ids).items():
        memory[pk].stability = check
    flags = list(ArchiveFlag.objects.filter(case=case, resolved_at__isnull=True)
                 .select_related("source_case", "changed_by"))
    return CaseMemory(images=memory, open_flags=flags)


def seen_before(cases: QuerySet[Case]) -> QuerySet[Case]:
    """Cases holding at least one image that is a near-duplicate of an earlier one of the team."""
    return cases.filter(Exists(ArchiveMatch.objects.filter(image__case=OuterRef("pk"))))


def stability_checks_for(user: User) -> QuerySet[StabilityCheck]:
    return StabilityCheck.objects.filter(image__in=images_for(user)).select_related("model_version")


def flag_for(user: User, flag_id: int) -> ArchiveFlag:
    return ArchiveFlag.objects.select_related("case__team").get(pk=flag_id, case__in=cases_for(user))


def image_for(user: User, image_id: int) -> CaseImage:
    return images_for(user).select_related("case__team").get(pk=image_id)


def notifications_for(user: User) -> QuerySet[Notification]:
    """The user's notifications about cases they can still see, newest first."""
    if not user.is_authenticated:
        return Notification.objects.none()
    return (Notification.objects.filter(user_id=user.pk, case__in=cases_for(user).values("id"))
            .select_related("case"))


def unread_notifications(user: User) -> int:
    return notifications_for(user).filter(read_at__isnull=True).count()
