"""The API's list queries: validated query parameters, then annotations, filters and ordering on top
of the scoped selectors.

Scoping is not done here: every queryset starts from verification.selectors (cases_for,
images_for, analyses_for), which limit it to the caller's teams.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from rest_framework.request import Request

from .. import selectors
from ..models import Analysis, AnalysisStatus, Case, CaseImage, Review, Tag, Verdict


def query_params(serializer_class: type, request: Request) -> dict[str, Any]:
    """Validated query parameters; unknown values are a 400 with the field named."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _analysis_count(**lookup: Any) -> Any:
    return selectors.count_of(selectors.analyses_of_case(**lookup))


def analyses_newest_first() -> QuerySet[Analysis]:
    return Analysis.objects.select_related("model_version", "image").order_by("-created_at", "-id")


def cases(user: Any) -> QuerySet[Case]:
    """The user's cases with the counts that their status and verdict are computed from."""
    return selectors.cases_for(user).annotate(
        n_images=selectors.count_of(selectors.images_of_case()),
        n_queued=_analysis_count(status=AnalysisStatus.QUEUED),
        n_running=_analysis_count(status=AnalysisStatus.RUNNING),
        n_done=_analysis_count(status=AnalysisStatus.DONE),
        n_failed=_analysis_count(status=AnalysisStatus.FAILED),
        n_ai=_analysis_count(status=AnalysisStatus.DONE, label=Verdict.AI_GENERATED),
        n_real=_analysis_count(status=AnalysisStatus.DONE, label=Verdict.REAL),
    ).prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))


def case_details(user: Any) -> QuerySet[Case]:
    return cases(user).prefetch_related(
        Prefetch("images", queryset=CaseImage.objects.prefetch_related(
            Prefetch("analyses", queryset=analyses_newest_first()), *archive_prefetch())))


def archive_prefetch() -> list[Prefetch]:
    """An image's near-duplicate matches and stability checks (issue 14), in two queries."""
    from ..models import ArchiveMatch, StabilityCheck

    return [Prefetch("archive_matches", queryset=ArchiveMatch.objects.select_related("matched__case__finalised_by")),
            Prefetch("stability_checks", queryset=StabilityCheck.objects.order_by("-created_at", "-id"))]


def filter_cases(qs: QuerySet[Case], params: dict[str, Any]) -> QuerySet[Case]:
    status = params.get("status")
    if status == "pending":
        qs = qs.filter(Q(n_queued__gt=0) | Q(n_running__gt=0))
    elif status == "done":
        qs = qs.filter(n_queued=0, n_running=0, n_done__gt=0)
    elif status == "failed":
        qs = qs.filter(n_queued=0, n_running=0, n_done=0)
    verdict = params.get("verdict")
    if verdict == Verdict.AI_GENERATED:
        qs = qs.filter(n_ai__gt=0)
    elif verdict == Verdict.REAL:
        qs = qs.filter(n_ai=0, n_real__gt=0)
    elif verdict == "none":
        qs = qs.filter(n_ai=0, n_real=0)
    if params.get("created_after"):
        qs = qs.filter(created_at__gte=params["created_after"])
    if params.get("created_before"):
        qs = qs.filter(created_at__lt=params["created_before"])
    if params.get("team") is not None:
        qs = qs.filter(team_id=params["team"])
    if params.get("seen_before"):
        from ..archive_selectors import seen_before
        qs = seen_before(qs)
    if params.get("tag"):
        qs = qs.filter(pk__in=Case.tags.through.objects.filter(
            tag__name=" ".join(params["tag"].split()).lower()).values("case"))
    for word in (params.get("search") or "").split()[:10]:
        qs = qs.filter(Q(title__icontains=word) | Q(source_url__icontains=word) | Q(notes__icontains=word))
    ordering = params.get("ordering") or "-created_at"
    return qs.order_by(ordering, "-id" if ordering.startswith("-") else "id")


def images(user: Any, params: dict[str, Any]) -> QuerySet[CaseImage]:
    qs = selectors.images_for(user).prefetch_related(Prefetch("analyses", queryset=analyses_newest_first()),
                                                     *archive_prefetch())
    if params.get("case") is not None:
        qs = qs.filter(case_id=params["case"])
    if params.get("sha256"):
        qs = qs.filter(sha256=params["sha256"])
    return qs.order_by("id")


def analyses(user: Any, params: dict[str, Any]) -> QuerySet[Analysis]:
    qs = _of_case_or_image(selectors.analyses_for(user).select_related("model_version", "image"), params)
    if params.get("status"):
        qs = qs.filter(status=params["status"])
    if params.get("label"):
        qs = qs.filter(label=params["label"])
    ordering = params.get("ordering") or "-created_at"
    return qs.order_by(ordering, "-id" if ordering.startswith("-") else "id")


def reviews(user: Any, params: dict[str, Any]) -> QuerySet[Review]:
    qs = Review.objects.filter(image__in=selectors.images_for(user).values("id")).select_related("image", "reviewer")
    return _of_case_or_image(qs, params).order_by("-created_at", "-id")


def _of_case_or_image(qs: QuerySet[Any], params: dict[str, Any]) -> QuerySet[Any]:
    """Rows about one image (analyses, reviews), narrowed by the ``case`` and ``image`` parameters."""
    if params.get("case") is not None:
        qs = qs.filter(image__case_id=params["case"])
    if params.get("image") is not None:
        qs = qs.filter(image_id=params["image"])
    return qs
