"""A case's processing status: where the model's analyses of its images stand (pending, done,
failed). Not its review state (``Case.status``: open or finalised), which says where the reviewers
stand; the API and the case list name the two apart (API 1.1)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from ..models import Analysis, AnalysisStatus, Case

__all__ = ["PROCESSING_STATES", "processing_status", "with_processing_status"]

PENDING = "pending"
DONE = "done"
FAILED = "failed"
PROCESSING_STATES = [(PENDING, "Some analysis is queued or running"),
                     (DONE, "Every analysis finished and at least one succeeded"),
                     (FAILED, "Every analysis failed")]


def processing_status(case: Case) -> str:
    """The status of a case annotated with its analysis counts (``n_queued``, ``n_running``, ``n_done``,
    as ``api_cases`` does)."""
    if case.n_queued or case.n_running:  # type: ignore[attr-defined]
        return PENDING
    return DONE if case.n_done else FAILED  # type: ignore[attr-defined]


def with_processing_status(cases: QuerySet[Case], state: str) -> QuerySet[Case]:
    """Cases in processing ``state`` (one of PROCESSING_STATES; anything else filters nothing)."""
    if state not in (PENDING, DONE, FAILED):
        return cases
    pending = Exists(Analysis.objects.filter(image__case=OuterRef("pk"),
                                             status__in=[AnalysisStatus.QUEUED, AnalysisStatus.RUNNING]))
    if state == PENDING:
        return cases.filter(pending)
    done = Exists(Analysis.objects.filter(image__case=OuterRef("pk"), status=AnalysisStatus.DONE))
    return cases.filter(~pending, done if state == DONE else ~done)
