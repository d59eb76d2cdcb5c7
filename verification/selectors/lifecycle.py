"""Model versions, datasets (scoped to the teams that may see them), training runs and evaluations."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from ..models import (CaseImage, CaseStatus, Dataset, EvaluationSource, EvaluationStatus, HumanVerdict,
                      ModelEvaluation, ModelVersion, ScanStatus, Team, TrainingRun)
from .roles import admin_teams, lead_teams
from .scope import User

__all__ = [
    "active_model", "datasets", "datasets_for", "datasets_on_dashboard", "evaluations", "evaluations_for",
    "evaluations_on_shared_data",
    "image_bytes", "images_by_id", "latest_reevaluation", "model_versions", "reviewed_image_labels", "reviewed_images",
    "training_runs", "training_runs_for",
]


def model_versions() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.order_by("-created_at")


def training_runs() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("dataset", "model_version", "base_model", "created_by").order_by(
        "-created_at", "-id")


def training_runs_for(user: User) -> QuerySet[TrainingRun]:
    """Training runs ``user`` may see and cancel: those on a dataset they may see (datasets_for).
    Another team's run is not listed and is a 404, as its dataset is."""
    return training_runs().filter(dataset__in=datasets_for(user).values("pk"))


def datasets() -> QuerySet[Dataset]:
    return Dataset.objects.order_by("name")


def datasets_for(user: User) -> QuerySet[Dataset]:
    """Datasets ``user`` may see, train on and rescan: those of the teams they administer (a
    superuser: all), and those registered before datasets had a team (seen by every admin, as
    before). An admin of another team sees none of a team's datasets, not even by id; a user who
    administers no team (a reviewer, a lead, someone in no team) sees none, team-less ones included."""
    if not user.is_authenticated:
        return Dataset.objects.none()
    if getattr(user, "is_superuser", False):
        return Dataset.objects.select_related("team").order_by("name")
    teams = admin_teams(user)
    if not teams.exists():
        return Dataset.objects.none()
    return (Dataset.objects.filter(Q(team__in=teams) | Q(team__isnull=True))
            .select_related("team").order_by("name"))


def datasets_on_dashboard(user: User) -> QuerySet[Dataset]:
    """The ready datasets the Datasets dashboard shows ``user`` (a lead or admin): those of the teams
    they lead (a superuser: all) and the team-less ones. Another team's datasets are not shown."""
    if not user.is_authenticated:
        return Dataset.objects.none()
    ready = Dataset.objects.filter(status=ScanStatus.READY).select_related("team").order_by("name")
    if getattr(user, "is_superuser", False):
        return ready
    return ready.filter(Q(team__in=lead_teams(user)) | Q(team__isnull=True))


def _decided_in_finalised_cases() -> QuerySet[CaseImage]:
    """Images of finalised cases whose latest review says real or AI-generated, oldest first."""
    return (CaseImage.objects.filter(case__status=CaseStatus.FINALISED,
                                     human_verdict__in=[HumanVerdict.REAL, HumanVerdict.AI_GENERATED])
            .order_by("id"))


def reviewed_images(user: User, team: Team) -> QuerySet[CaseImage]:
    """Images that may train a model of ``team``: in finalised cases of that team alone, whose
    latest review says real or AI-generated. None unless ``user`` administers ``team`` (a superuser:
    any team). Another team's cases are never included, even when ``user`` administers it too:
    the dataset is seen by ``team``'s admins only."""
    return _decided_in_finalised_cases().filter(case__team=team, case__team__in=admin_teams(user))


def active_model() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def images_by_id(ids: list[int]) -> dict[int, CaseImage]:
    """The case images with these ids (an evaluation's labelled images; unscoped: the evaluation
    was scoped when it was requested), by id; an id whose image was deleted is absent."""
    return CaseImage.objects.in_bulk(ids)


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


def evaluations_for(user: User) -> QuerySet[ModelEvaluation]:
    """Evaluations ``user`` (an admin) may see: those on the reviewed cases (counts and metrics
    only, across teams) and those on a dataset they may see. One on another team's dataset is not
    shown: it would name that dataset."""
    return evaluations().filter(Q(dataset__isnull=True) | Q(dataset__in=datasets_for(user).values("pk")))


def latest_reevaluation(version: ModelVersion | None) -> ModelEvaluation | None:
    """The newest finished evaluation of ``version`` on the reviewed cases (the drift check)."""
    if version is None:
        return None
    return (evaluations().filter(model_version=version, source=EvaluationSource.REVIEWED_CASES,
                                 status=EvaluationStatus.DONE).order_by("-finished_at", "-id").first())


def evaluations_on_shared_data(a: ModelVersion, b: ModelVersion, *,
                               user: User) -> list[tuple[ModelEvaluation, ModelEvaluation]]:
    """For every data both versions were evaluated on (equal ``data_fingerprint``), the newest
    evaluation of each that ``user`` may see (evaluations_for), newest data first. Queued, running
    and failed ones are included."""
    newest: dict[tuple[int, str], ModelEvaluation] = {}
    for ev in evaluations_for(user).filter(model_version__in=[a, b]).order_by("created_at", "id"):
        newest[(ev.model_version_id, ev.data_fingerprint)] = ev
    shared = {fp for (pk, fp) in newest if pk == a.pk} & {fp for (pk, fp) in newest if pk == b.pk}
    pairs = [(newest[(a.pk, fp)], newest[(b.pk, fp)]) for fp in shared]
    return sorted(pairs, key=lambda p: max(p[0].created_at, p[1].created_at), reverse=True)
