"""Reads. Every query a user can reach is scoped here, in one place, to the user's teams."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, F, Func, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from ..evidence import PROVENANCE_FILTERS
from ..evidence import as_lines as evidence_lines
from .. import audit_display
from ..models import (Analysis, AnalysisStatus, AuditEvent, Case, CaseImage, CaseStatus, Comment, Dataset,
                     EvaluationSource, EvaluationStatus, HumanVerdict, Membership, ModelEvaluation, ModelVersion,
                     Review, Role, Tag, Team, TrainingRun)

User = AbstractBaseUser | AnonymousUser

# Before ``def datasets`` below: importing the submodule binds the package's ``datasets`` name to it.
from .datasets import datasets_for, datasets_on_dashboard  # noqa: E402,F401 - reads of datasets (selectors/datasets.py)


def user_teams(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user)


def default_team_for(user: AbstractBaseUser) -> Team | None:
    membership = Membership.objects.filter(user=user).select_related("team").order_by("id").first()
    return membership.team if membership else None


def cases_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Case]:
    if not user.is_authenticated:
        return Case.objects.none()
    return Case.objects.filter(team__memberships__user=user).select_related("team", "created_by")


def images_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[CaseImage]:
    return CaseImage.objects.filter(case__in=cases_for(user).values("id"))


def analyses_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Analysis]:
    return Analysis.objects.filter(image__case__in=cases_for(user).values("id"))


def count_of(rows: QuerySet[Any]) -> Coalesce:
    """A correlated ``COUNT(*)`` of ``rows`` (filtered on an ``OuterRef``) for ``annotate``.

    Unlike ``Count`` over a join, it leaves the outer query ungrouped, so a sorted, paginated list
    reads only its page's rows from the index and counts for those rows alone."""
    counted = rows.order_by().values(n=Func("pk", function="COUNT", output_field=IntegerField()))
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def images_of_case() -> QuerySet[CaseImage]:
    return CaseImage.objects.filter(case=OuterRef("pk"))


def analyses_of_case(**lookup: Any) -> QuerySet[Analysis]:
    return Analysis.objects.filter(image__case=OuterRef("pk"), **lookup)


def case_detail(user: AbstractBaseUser | AnonymousUser, case_id: int) -> Case:
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


def case_audit(case: Case) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(case=case).select_related("actor")


# --- Roles -------------------------------------------------------------------------------------

def role_in(user: User, team: Team) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, team=team).values_list("role", flat=True).first()


def is_lead_of(user: User, team: Team) -> bool:
    return bool(getattr(user, "is_superuser", False)) or role_in(user, team) in (Role.LEAD, Role.ADMIN)


def lead_teams(user: User) -> QuerySet[Team]:
    """Teams whose dashboards and audit log the user may see (all teams for a superuser)."""
    if not user.is_authenticated:
        return Team.objects.none()
    if getattr(user, "is_superuser", False):
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user, memberships__role__in=[Role.LEAD, Role.ADMIN])


def admin_teams(user: User) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    if getattr(user, "is_superuser", False):
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user, memberships__role=Role.ADMIN)


def is_admin(user: User) -> bool:
    return admin_teams(user).exists()


def team_members(team: Team) -> QuerySet[Any]:
    return get_user_model().objects.filter(memberships__team=team).order_by("username")


def memberships_for_admin(user: User) -> QuerySet[Membership]:
    return (Membership.objects.filter(team__in=admin_teams(user)).select_related("user", "team")
            .order_by("team__name", "user__username"))


# --- The case list -----------------------------------------------------------------------------

SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "title": ("title", "id"),
    "status": ("status", "-created_at", "-id"),
}


@dataclass
class CaseFilters:
    q: str = ""
    status: str = ""
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
    if filters.status:
        cases = cases.filter(status=filters.status)
    if filters.verdict:
        cases = cases.filter(final_verdict=filters.verdict)
    if filters.model:
        cases = cases.filter(model_verdict=filters.model)
    if filters.assignee == "me":
        cases = cases.filter(assignee=user)
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
        from ..archive_selectors import seen_before
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


# --- The audit log -----------------------------------------------------------------------------

# Team-less events that concern every team (the model every team's images are judged by, and the
# data and runs that make it): every team's admins see them.
SHARED_AUDIT_SUBJECTS = ("model", "training", "evaluation", "dataset")


def audit_log(user: User, *, q: str = "", action: str = "", date_from: date | None = None,
              date_to: date | None = None) -> QuerySet[AuditEvent]:
    """Events of the teams the user leads; a superuser sees everything.

    A team-less event is shown to admins only when it is about the shared model's life cycle (see
    SHARED_AUDIT_SUBJECTS). Any other team-less event (a token or login of someone in no team, a
    guess at an unknown username) may belong to anyone, so only superusers see it: a team's admin
    must never read another team's people's events."""
    if not user.is_authenticated:
        return AuditEvent.objects.none()
    events = AuditEvent.objects.select_related("actor", "team", "case")
    if not getattr(user, "is_superuser", False):
        scope = Q(team__in=lead_teams(user))
        if is_admin(user):
            shared = Q()
            for subject in SHARED_AUDIT_SUBJECTS:
                shared |= Q(action__startswith=f"{subject}.")
            scope |= Q(team__isnull=True) & shared
        events = events.filter(scope)
    if q:
        events = events.filter(audit_display.plain_search(q))
    if action:
        events = events.filter(action=action)
    if date_from:
        events = events.filter(created_at__date__gte=date_from)
    if date_to:
        events = events.filter(created_at__date__lte=date_to)
    return events.order_by("-created_at", "-id")


def audit_actions(user: User) -> list[str]:
    return sorted(set(audit_log(user).values_list("action", flat=True).distinct()))


def model_versions() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.order_by("-created_at")


def training_runs() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("dataset", "model_version", "base_model", "created_by").order_by(
        "-created_at", "-id")


def datasets() -> QuerySet[Dataset]:
    return Dataset.objects.order_by("name")


def _decided_in_finalised_cases() -> QuerySet[CaseImage]:
    """Images of finalised cases whose latest review says real or AI-generated, oldest first."""
    return (CaseImage.objects.filter(case__status=CaseStatus.FINALISED,
                                     human_verdict__in=[HumanVerdict.REAL, HumanVerdict.AI_GENERATED])
            .order_by("id"))


def reviewed_images(user: User) -> QuerySet[CaseImage]:
    """Images that may train a model: in finalised cases of the teams ``user`` administers (a
    superuser: every team), whose latest review says real or AI-generated."""
    return _decided_in_finalised_cases().filter(case__team__in=admin_teams(user))


def active_model() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def image_bytes(image: CaseImage) -> bytes:
    """The stored bytes of an uploaded image."""
    from .. import storage

    return storage.read(image.file)


# --- Model evaluations (admins; model-level figures that span every team) ------------------------

def reviewed_image_labels() -> list[list[Any]]:
    """``[image id, verdict]`` of every image that a reviewer decided real or AI-generated in a
    finalised case, across all teams, one per distinct file (the newest copy's verdict).

    Finalised cases only: a lead has closed them, so their reviews are settled decisions, whereas
    a review on an open case may still change. The image's own review, never the case's final
    verdict, which is case-level ("AI-generated if any image is"). Inconclusive is no label.
    Evaluations turn these into counts and metrics; they are never shown image by image."""
    rows = _decided_in_finalised_cases().values_list("id", "sha256", "human_verdict")
    newest = {digest: [pk, verdict] for pk, digest, verdict in rows}
    return sorted(newest.values())


def evaluations() -> QuerySet[ModelEvaluation]:
    # ``labels`` can hold thousands of pairs and is never shown: leave it out of lists.
    return (ModelEvaluation.objects.select_related("model_version", "dataset", "requested_by").defer("labels")
            .order_by("-created_at", "-id"))


def latest_reevaluation(version: ModelVersion | None) -> ModelEvaluation | None:
    """The newest finished evaluation of ``version`` on the reviewed cases (the drift check)."""
    if version is None:
        return None
    return (evaluations().filter(model_version=version, source=EvaluationSource.REVIEWED_CASES,
                                 status=EvaluationStatus.DONE).order_by("-finished_at", "-id").first())


def evaluations_on_shared_data(a: ModelVersion, b: ModelVersion) -> list[tuple[ModelEvaluation, ModelEvaluation]]:
    """For every data both versions were evaluated on (equal ``data_fingerprint``), the newest
    evaluation of each, newest data first. Queued, running and failed ones are included."""
    newest: dict[tuple[int, str], ModelEvaluation] = {}
    for ev in evaluations().filter(model_version__in=[a, b]).order_by("created_at", "id"):
        newest[(ev.model_version_id, ev.data_fingerprint)] = ev
    shared = {fp for (pk, fp) in newest if pk == a.pk} & {fp for (pk, fp) in newest if pk == b.pk}
    pairs = [(newest[(a.pk, fp)], newest[(b.pk, fp)]) for fp in shared]
    return sorted(pairs, key=lambda p: max(p[0].created_at, p[1].created_at), reverse=True)


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
