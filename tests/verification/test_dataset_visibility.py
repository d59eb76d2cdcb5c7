"""A user sees only the datasets their team may see (issue 16), at every door that takes one: the
compare page's evaluation form, the evaluation API, training and building from reviews. Another
team's dataset is answered exactly as one that does not exist, so ids cannot be probed."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from verification import selectors, services
from verification.errors import VerityError
from verification.forms import DatasetFromReviewsForm, EvaluationRequestForm, TrainingStartForm
from verification.models import Dataset, Membership, ModelEvaluation, ModelVersion, Role, TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

MISSING = 987654


@pytest.fixture
def rival(crew, django_user_model) -> Any:  # type: ignore[no-untyped-def]
    """An admin of the other team (team B)."""
    user = django_user_model.objects.create_user("rival", password="pw-rival-123!")
    Membership.objects.create(user=user, team=crew["other_team"], role=Role.ADMIN)
    return user


@pytest.fixture
def loner(db, django_user_model) -> Any:  # type: ignore[no-untyped-def]
    """A user in no team."""
    return django_user_model.objects.create_user("loner", password="pw-loner-123!")


def _ready(name: str, team: Any) -> Dataset:
    return Dataset.objects.create(status="ready", name=name, path=f"/data/{name}", fingerprint=name[0] * 64,
                                  team=team, analysis={"total": 8, "by_split": {"train": 4, "val": 2, "test": 2}})


@pytest.fixture
def theirs(crew) -> Dataset:  # type: ignore[no-untyped-def]
    """Team A's dataset (the crew's team)."""
    return _ready("metro-only", crew["team"])


@pytest.fixture
def pair(version) -> tuple[ModelVersion, ModelVersion]:  # type: ignore[no-untyped-def]
    other = ModelVersion.objects.create(name="resnet50-v2", checkpoint="/m/v2.pt", checkpoint_sha256="f" * 64)
    return version, other


def api_for(user: Any) -> APIClient:
    client = APIClient()
    name = f"t-{user.pk}-{user.api_tokens.count()}"
    secret = services.token_create(user=user, name=name, scopes=("read", "submit")).secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _choices(form: EvaluationRequestForm | TrainingStartForm) -> set[int]:
    return {dataset.pk for dataset in form.fields["dataset"].queryset}  # type: ignore[attr-defined]


def test_another_teams_admin_is_not_offered_nor_allowed_a_teams_dataset_on_the_compare_page(
        client, crew, rival, theirs, pair, sent_evaluations):
    a, b = pair
    mine = _ready("foreign-only", crew["other_team"])
    client.force_login(rival)
    page = client.get(reverse("verification:models_compare"), {"a": a.pk, "b": b.pk})
    assert _choices(page.context["evaluate_form"]) == {mine.pk}
    assert "metro-only" not in page.content.decode() and "foreign-only" in page.content.decode()

    answers = []
    for pk in (theirs.pk, MISSING):
        response = client.post(reverse("verification:models_evaluate"),
                               {"a": a.pk, "b": b.pk, "source": "dataset", "dataset": pk}, follow=True)
        answers.append([str(m) for m in response.context["messages"]])
    assert answers[0] == answers[1] and answers[0]
    assert not ModelEvaluation.objects.exists() and sent_evaluations == []
    # Team A's admin is offered it and may use it.
    client.force_login(crew["admin"])
    page = client.get(reverse("verification:models_compare"), {"a": a.pk, "b": b.pk})
    offered = _choices(page.context["evaluate_form"])
    assert theirs.pk in offered and mine.pk not in offered


def test_the_evaluation_api_answers_another_teams_dataset_as_a_missing_one(crew, rival, loner, theirs, pair,
                                                                          sent_evaluations):
    a, b = pair

    def ask(user: Any, pk: int) -> tuple[int, Any]:
        response = api_for(user).post("/api/v1/evaluations/", {"versions": [a.pk, b.pk], "source": "dataset",
                                                               "dataset": pk}, format="json")
        return response.status_code, response.json()

    refused = ask(rival, theirs.pk)
    assert refused == ask(rival, MISSING) and refused[0] == 400
    assert refused[1]["error"]["details"] == {"dataset": ["No such dataset."]}
    outsider = ask(loner, theirs.pk)
    assert outsider == ask(loner, MISSING) and outsider[0] == 403
    assert not ModelEvaluation.objects.exists() and sent_evaluations == []
    assert ask(crew["admin"], theirs.pk)[0] == 201


def test_the_services_refuse_another_teams_dataset_whatever_door_calls_them(crew, rival, theirs, pair, sent_runs):
    with pytest.raises(VerityError, match="No such dataset"):
        services.evaluation_request(actor=rival, versions=list(pair), source="dataset", dataset=theirs)
    with pytest.raises(VerityError, match="No such dataset"):
        services.training_run_start(actor=rival, dataset=theirs)
    with pytest.raises(VerityError, match="No such dataset") as refused:
        services.dataset_build_from_reviews(actor=rival, name="mixed", mix_with=theirs)
    assert refused.value.details == {"mix_with": ["No such dataset."]}
    assert not ModelEvaluation.objects.exists() and not TrainingRun.objects.exists()
    assert Dataset.objects.count() == 1


def test_a_user_who_administers_no_team_sees_no_dataset_not_even_a_team_less_one(crew, loner, theirs):
    teamless = _ready("legacy", None)
    for user in (loner, crew["owner"], crew["lead"]):
        assert list(selectors.datasets_for(user)) == []
        assert _choices(EvaluationRequestForm(datasets=selectors.datasets_for(user))) == set()
    assert {d.pk for d in selectors.datasets_for(crew["admin"])} == {theirs.pk, teamless.pk}
    # A form that was not given the user's datasets offers none, rather than every team's.
    assert _choices(EvaluationRequestForm()) == set()
    assert list(DatasetFromReviewsForm().fields["mix_with"].queryset) == []  # type: ignore[attr-defined]


def test_another_teams_training_runs_and_evaluations_are_neither_listed_nor_reachable(
        client, crew, rival, theirs, pair, sent_runs, sent_evaluations):
    """A run or an evaluation on team A's dataset names it: team B's admin sees neither, and a run's
    pages and cancel are a 404 for them, as the dataset is. Evaluations on the reviewed cases
    (no dataset) stay shared between admins."""
    a, b = pair
    run = services.training_run_start(actor=crew["admin"], dataset=theirs)
    on_theirs = services.evaluation_request(actor=crew["admin"], versions=[a, b], source="dataset", dataset=theirs)
    shared = ModelEvaluation.objects.create(model_version=a, source="reviewed_cases", data_fingerprint="r" * 64)

    api = api_for(rival)
    assert api.get("/api/v1/training-runs/").json()["results"] == []
    assert api.get(f"/api/v1/training-runs/{run.pk}/").status_code == 404
    assert api.post(f"/api/v1/training-runs/{run.pk}/cancel/").status_code == 404
    assert [e["id"] for e in api.get("/api/v1/evaluations/").json()["results"]] == [shared.pk]
    assert api.get(f"/api/v1/evaluations/{on_theirs[0].pk}/").status_code == 404
    client.force_login(rival)
    assert "metro-only" not in client.get(reverse("verification:training_runs")).content.decode()
    for name in ("training_run", "training_run_status"):
        assert client.get(reverse(f"verification:{name}", args=[run.pk])).status_code == 404
    assert client.post(reverse("verification:training_run_cancel", args=[run.pk])).status_code == 404
    assert selectors.evaluations_on_shared_data(a, b, user=rival) == []
    assert TrainingRun.objects.get(pk=run.pk).cancel_requested is False

    # Team A's admin sees all of it.
    mine = api_for(crew["admin"])
    assert [r["id"] for r in mine.get("/api/v1/training-runs/").json()["results"]] == [run.pk]
    assert {e["id"] for e in mine.get("/api/v1/evaluations/").json()["results"]} == {
        shared.pk, *(e.pk for e in on_theirs)}
    assert len(selectors.evaluations_on_shared_data(a, b, user=crew["admin"])) == 1


def test_the_training_form_offers_no_dataset_unless_given_the_users_datasets(crew, rival, theirs):
    """A caller that forgets to scope the training form offers and accepts no dataset, rather than
    every team's; given datasets_for(user), it offers that user's only."""
    bare = TrainingStartForm(data={"dataset": theirs.pk})
    assert _choices(bare) == set()
    assert not bare.is_valid() and "dataset" in bare.errors
    assert _choices(TrainingStartForm(datasets=selectors.datasets_for(rival))) == set()
    assert _choices(TrainingStartForm(datasets=selectors.datasets_for(crew["admin"]))) == {theirs.pk}
