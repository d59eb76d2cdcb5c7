"""The API's lists: annotations, filters and ordering on top of the scoped reads in .scope (so every
row is limited to the caller's teams). The parameters come validated from the API's filter serializers.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from ..models import Analysis, AnalysisStatus, ArchiveMatch, Case, CaseImage, Review, StabilityCheck, Tag, Verdict
from .archive import seen_before
from .processing import with_processing_status
from .scope import User, analyses_for, analyses_of_case, cases_for, count_of, images_for, images_of_case

__all__ = [
    "api_analyses", "api_case_details", "api_cases", "api_filter_cases", "api_images", "api_reviews",
    "archive_prefetch",
]

def _analysis_count(**lookup: Any) -> Any:
    return count_of(analyses_of_case(**lookup))


def analyses_newest_first() -> QuerySet[Analysis]:
    return Analysis.objects.select_related("model_version", "image").order_by("-created_at", "-id")


def api_cases(user: User) -> QuerySet[Case]:
    """The user's cases with the counts that their processing status and verdict are computed from."""
    return cases_for(user).annotate(
        n_images=count_of(images_of_case()),
        n_queued=_analysis_count(status=AnalysisStatus.QUEUED),
        n_running=_analysis_count(status=AnalysisStatus.RUNNING),
        n_done=_analysis_count(status=AnalysisStatus.DONE),
        n_failed=_analysis_count(status=AnalysisStatus.FAILED),
        n_ai=_analysis_count(status=AnalysisStatus.DONE, label=Verdict.AI_GENERATED),
        n_real=_analysis_count(status=AnalysisStatus.DONE, label=Verdict.REAL),
    ).prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))


def api_case_details(user: User) -> QuerySet[Case]:
    return api_cases(user).prefetch_related(
        Prefetch("images", queryset=CaseImage.objects.prefetch_related(
            Prefetch("analyses", queryset=analyses_newest_first()), *archive_prefetch())))


def archive_prefetch() -> list[Prefetch]:
    """An image's near-duplicate matches and stability checks (issue 14), in two queries."""
    return [Prefetch("archive_matches", queryset=ArchiveMatch.objects.select_related("matched__case__finalised_by")),
            Prefetch("stability_checks", queryset=StabilityCheck.objects.order_by("-created_at", "-id"))]


def api_filter_cases(qs: QuerySet[Case], params: dict[str, Any]) -> QuerySet[Case]:
    # ``status``: the deprecated name of ``processing_status`` (API 1.0).
    qs = with_processing_status(qs, params.get("processing_status") or params.get("status") or "")
    if params.get("review_state"):
        qs = qs.filter(status=params["review_state"])
    # n_ai and n_real are api_cases' annotations, which the type checker's plugin cannot see.
    verdict = params.get("verdict")
    if verdict == Verdict.AI_GENERATED:
        qs = qs.filter(n_ai__gt=0)  # type: ignore[misc]
    elif verdict == Verdict.REAL:
        qs = qs.filter(n_ai=0, n_real__gt=0)  # type: ignore[misc]
    elif verdict == "none":
        qs = qs.filter(n_ai=0, n_real=0)  # type: ignore[misc]
    if params.get("created_after"):
        qs = qs.filter(created_at__gte=params["created_after"])
    if params.get("created_before"):
        qs = qs.filter(created_at__lt=params["created_before"])
    if params.get("team") is not None:
        qs = qs.filter(team_id=params["team"])
    if params.get("seen_before"):
        qs = seen_before(qs)
    if params.get("tag"):
        qs = qs.filter(pk__in=Case.tags.through.objects.filter(
            tag__name=" ".join(params["tag"].split()).lower()).values("case"))
    for word in (params.get("search") or "").split()[:10]:
        qs = qs.filter(Q(title__icontains=word) | Q(source_url__icontains=word) | Q(notes__icontains=word))
    ordering = params.get("ordering") or "-created_at"
    return qs.order_by(ordering, "-id" if ordering.startswith("-") else "id")


def api_images(user: User, params: dict[str, Any]) -> QuerySet[CaseImage]:
    qs = images_for(user).prefetch_related(Prefetch("analyses", queryset=analyses_newest_first()),
                                           *archive_prefetch())
    if params.get("case") is not None:
        qs = qs.filter(case_id=params["case"])
    if params.get("sha256"):
        qs = qs.filter(sha256=params["sha256"])
    return qs.order_by("id")


def api_analyses(user: User, params: dict[str, Any]) -> QuerySet[Analysis]:
    qs = _of_case_or_image(analyses_for(user).select_related("model_version", "image"), params)
    if params.get("status"):
        qs = qs.filter(status=params["status"])
    if params.get("label"):
        qs = qs.filter(label=params["label"])
    ordering = params.get("ordering") or "-created_at"
    return qs.order_by(ordering, "-id" if ordering.startswith("-") else "id")


def api_reviews(user: User, params: dict[str, Any]) -> QuerySet[Review]:
    qs = Review.objects.filter(image__in=images_for(user).values("id")).select_related("image", "reviewer")
    return _of_case_or_image(qs, params).order_by("-created_at", "-id")


def _of_case_or_image(qs: QuerySet[Any], params: dict[str, Any]) -> QuerySet[Any]:
    """Rows about one image (analyses, reviews), narrowed by the ``case`` and ``image`` parameters."""
    if params.get("case") is not None:
        qs = qs.filter(image__case_id=params["case"])
    if params.get("image") is not None:
        qs = qs.filter(image_id=params["image"])
    return qs
