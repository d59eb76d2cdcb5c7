"""The case page and the web case list (filters, sorts, the CSV's evidence lines)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet

from ..evidence import PROVENANCE_FILTERS
from ..evidence import as_lines as evidence_lines
from ..models import Analysis, AnalysisStatus, AuditEvent, Case, CaseImage, Comment, HumanVerdict, Review, Tag
from .archive import seen_before
from .processing import with_processing_status
from .scope import User, analyses_of_case, cases_for, count_of, images_of_case

__all__ = ["CaseFilters", "SORTS", "case_audit", "case_comment", "case_detail", "case_evidence_lines", "case_list",
           "disagreeing", "next_unreviewed_image"]


def case_detail(user: User, case_id: int) -> Case:
    """The case with everything its page shows, in a fixed number of queries, or Case.DoesNotExist."""
    analyses = Analysis.objects.select_related("model_version").order_by("-created_at", "-id")
    reviews = Review.objects.select_related("reviewer").order_by("-created_at", "-id")
    originals = CaseImage.objects.select_related("case").prefetch_related(Prefetch("analyses", queryset=analyses))
    images = CaseImage.objects.prefetch_related(
        Prefetch("analyses", queryset=analyses), Prefetch("reviews", queryset=reviews),
        Prefetch("duplicate_of", queryset=originals))
    return cases_for(user).select_related("assignee", "finalised_by").prefetch_related(
        Prefetch("images", queryset=images), "tags",
        Prefetch("comments", queryset=Comment.objects.select_related("author")),
    ).get(pk=case_id)


def case_comment(case: Case, comment_id: int) -> Comment | None:
    """A comment of ``case`` (one the user may already see through the case), or None."""
    return Comment.objects.filter(case=case, pk=comment_id).first()


def next_unreviewed_image(image: CaseImage) -> CaseImage | None:
    """The first other image of ``image``'s case that has no review yet (the keyboard flow's next)."""
    return (CaseImage.objects.filter(case=image.case_id, human_verdict="").exclude(pk=image.pk)
            .order_by("pk").first())


def case_audit(case: Case) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(case=case).select_related("actor")


SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "title": ("title", "id"),
    "review_state": ("status", "-created_at", "-id"),
}


@dataclass
class CaseFilters:
    q: str = ""
    review_state: str = ""  # the reviewers' open or finalised (Case.status)
    processing_status: str = ""  # the analyses' pending, done or failed (see .processing)
    verdict: str = ""  # the final human verdict
    model: str = ""  # the model's case-level verdict
    assignee: str = ""  # a user id, "me" or "none"
    date_from: date | None = None
    date_to: date | None = None
    disagreement: bool = False
    seen_before: bool = False  # holds a near-duplicate of an earlier case's image (issue 14)
    sort: str = "newest"
    provenance: str = ""  # a key of evidence.PROVENANCE_FILTERS

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items() if v}


def case_list(user: User, filters: CaseFilters) -> QuerySet[Case]:
    """The user's cases, filtered and sorted, annotated with what the list shows.

    Counts are correlated subqueries and tags a prefetch, so the number of queries does not grow
    with rows and a page costs the same on 10 or 10,000 cases."""
    cases = cases_for(user).select_related("assignee")
    if filters.q:
        term = filters.q.strip()
        # Tags as EXISTS, not a join: no duplicate rows, so no DISTINCT over the whole result.
        tagged = Tag.objects.filter(cases=OuterRef("pk"), name__iexact=term.lower())
        cases = cases.filter(Q(title__icontains=term) | Q(source_url__icontains=term) | Q(Exists(tagged))
                             | Q(notes__icontains=term))
    if filters.review_state:
        cases = cases.filter(status=filters.review_state)
    cases = with_processing_status(cases, filters.processing_status)
    if filters.verdict:
        cases = cases.filter(final_verdict=filters.verdict)
    if filters.model:
        cases = cases.filter(model_verdict=filters.model)
    if filters.assignee == "me":
        cases = cases.filter(assignee=user.pk)
    elif filters.assignee == "none":
        cases = cases.filter(assignee__isnull=True)
    elif filters.assignee.isdigit():
        cases = cases.filter(assignee_id=int(filters.assignee))
    if filters.date_from:
        cases = cases.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        cases = cases.filter(created_at__date__lte=filters.date_to)
    if filters.disagreement:
        cases = disagreeing(cases)
    if filters.provenance in PROVENANCE_FILTERS:
        cases = cases.filter(Exists(Analysis.objects.filter(
            image__case=OuterRef("pk"), status=AnalysisStatus.DONE,
            provenance__in=PROVENANCE_FILTERS[filters.provenance][1])))
    if filters.seen_before:
        cases = seen_before(cases)
    pending = [AnalysisStatus.QUEUED, AnalysisStatus.RUNNING]
    cases = cases.annotate(
        n_images=count_of(images_of_case()),
        n_pending=count_of(analyses_of_case(status__in=pending)),
        n_failed=count_of(analyses_of_case(status=AnalysisStatus.FAILED)),
    ).prefetch_related("tags")
    return cases.order_by(*SORTS.get(filters.sort, SORTS["newest"]))


def disagreeing(cases: QuerySet[Case]) -> QuerySet[Case]:
    """Cases whose final human verdict (real or AI-generated) contradicts the model's."""
    return cases.filter(final_verdict__in=[HumanVerdict.REAL, HumanVerdict.AI_GENERATED]).exclude(
        model_verdict="").exclude(final_verdict=F("model_verdict"))


def case_evidence_lines(case_ids: list[int]) -> dict[int, list[str]]:
    """Per case, each image's verdict and evidence as lines (newest finished analysis of each image),
    for the case list's CSV: one query for the whole export."""
    lines: dict[int, list[str]] = {}
    seen: set[int] = set()
    rows = (Analysis.objects.filter(image__case_id__in=case_ids, status=AnalysisStatus.DONE)
            .order_by("image_id", "-created_at", "-id").values_list("image__case_id", "image_id",
                                                                   "image__original_name", "evidence"))
    for case_id, image_id, name, ev in rows:
        if image_id in seen:
            continue
        seen.add(image_id)
        lines.setdefault(case_id, []).extend(f"{name}: {line}" for line in evidence_lines(ev))
    return lines
