"""The compare page's "evaluate both on the same data", its side-by-side table, and who may ask.
Evaluations here are rows finished through the services (the real scoring is in test_evaluations)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from verification import services
from verification.errors import VerityError
from verification.models import AuditEvent, Dataset, EvaluationStatus, ModelEvaluation, ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(version) -> tuple[ModelVersion, ModelVersion]:  # type: ignore[no-untyped-def]
    other = ModelVersion.objects.create(name="resnet50-v2", checkpoint="/m/v2.pt", checkpoint_sha256="f" * 64,
                                        metrics={"test": {"accuracy": 0.97, "n": 10}})
    return version, other


@pytest.fixture
def dataset(db) -> Dataset:  # type: ignore[no-untyped-def]
    return Dataset.objects.create(status="ready", name="newsroom-2026", path="/data/newsroom", fingerprint="d" * 64,
                                  analysis={"total": 8, "by_split": {"train": 4, "val": 2, "test": 2}})


def _finish(evaluation: ModelEvaluation, matrix: list[list[int]]) -> ModelEvaluation:
    n = sum(map(sum, matrix))
    services.evaluation_begin(evaluation_id=evaluation.pk)
    return services.evaluation_finish(evaluation_id=evaluation.pk, metrics={
        "n": n, "threshold": 0.5, "accuracy": (matrix[0][0] + matrix[1][1]) / n, "precision": 0.5, "recall": 0.5,
        "f1": 0.5, "roc_auc": 0.6, "average_precision": 0.6, "ece": 0.1, "confusion_matrix": matrix})


def test_an_admin_queues_both_versions_on_the_same_dataset_and_sees_them_side_by_side(
        client, crew, pair, dataset, sent_evaluations, django_capture_on_commit_callbacks):
    a, b = pair
    client.force_login(crew["admin"])
    url = reverse("verification:models_compare")
    page = client.get(url, {"a": a.pk, "b": b.pk}).content.decode()
    assert "Evaluate both on the same data" in page and 'data-shared="none"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("verification:models_evaluate"),
                               {"a": a.pk, "b": b.pk, "source": "dataset", "dataset": dataset.pk})
    assert response.status_code == 302 and response["Location"] == f"{url}?a={a.pk}&b={b.pk}"
    ea, eb = (ModelEvaluation.objects.get(model_version=v) for v in (a, b))
    assert sorted(sent_evaluations) == sorted([ea.pk, eb.pk]) and ea.data_fingerprint == eb.data_fingerprint
    assert ea.requested_by == crew["admin"] and ea.dataset == dataset

    page = client.get(url, {"a": a.pk, "b": b.pk}).content.decode()
    assert f'data-evaluation="{ea.pk}" data-status="queued"' in page
    assert f'data-evaluation="{eb.pk}" data-status="queued"' in page and "reload to see the result" in page

    _finish(ea, [[1, 1], [0, 2]])
    services.evaluation_begin(evaluation_id=eb.pk)
    page = client.get(url, {"a": a.pk, "b": b.pk}).content.decode()
    assert f'data-metric="eval-{ea.pk}-accuracy">75.0%<' in page and f'data-status="running"' in page
    _finish(eb, [[2, 0], [1, 1]])
    page = client.get(url, {"a": a.pk, "b": b.pk}).content.decode()
    assert f'data-metric="eval-{eb.pk}-accuracy">75.0%<' in page and f'data-metric="eval-{eb.pk}-n">4<' in page
    assert "Test split of dataset newsroom-2026" in page and f'data-matrix="{eb.pk}">2 · 0<br>1 · 1<' in page


def test_evaluations_on_different_data_are_not_put_side_by_side(
        client, crew, pair, dataset, sent_evaluations):
    a, b = pair
    other = Dataset.objects.create(status="ready", name="other-data", path="/data/other", fingerprint="e" * 64,
                                   analysis={"total": 4, "by_split": {"test": 4}})
    _finish(services.evaluation_request(actor=crew["admin"], versions=[a], source="dataset", dataset=dataset)[0],
            [[1, 0], [0, 1]])
    _finish(services.evaluation_request(actor=crew["admin"], versions=[b], source="dataset", dataset=other)[0],
            [[1, 0], [0, 1]])
    client.force_login(crew["admin"])
    page = client.get(reverse("verification:models_compare"), {"a": a.pk, "b": b.pk}).content.decode()
    assert 'data-shared="none"' in page
    # Asked separately but on the same data, they are comparable.
    _finish(services.evaluation_request(actor=crew["admin"], versions=[b], source="dataset", dataset=dataset)[0],
            [[0, 1], [0, 1]])
    page = client.get(reverse("verification:models_compare"), {"a": a.pk, "b": b.pk}).content.decode()
    assert page.count("data-shared=") == 1 and "newsroom-2026" in page


def test_refusals_say_what_to_do(client, crew, pair, sent_evaluations):
    a, b = pair
    client.force_login(crew["admin"])
    response = client.post(reverse("verification:models_evaluate"),
                           {"a": a.pk, "b": b.pk, "source": "reviewed_cases"}, follow=True)
    assert "No reviewed images yet" in response.content.decode()
    response = client.post(reverse("verification:models_evaluate"), {"a": a.pk, "b": b.pk, "source": "dataset"},
                           follow=True)
    assert "Choose the dataset to evaluate on." in response.content.decode()
    assert not ModelEvaluation.objects.exists() and not sent_evaluations


def test_a_dataset_both_versions_trained_on_with_other_seeds_has_no_common_test_split(
        crew, pair, sent_evaluations):
    from verification.models import TrainingRun

    a, b = pair
    unsplit = Dataset.objects.create(status="ready", name="unsplit", path="/data/u",
                                     analysis={"total": 10, "by_split": {}})
    for version, seed in ((a, 1), (b, 2)):
        TrainingRun.objects.create(dataset=unsplit, model_version=version, hyperparameters={"seed": seed})
    with pytest.raises(VerityError, match="different split seeds"):
        services.evaluation_request(actor=crew["admin"], versions=[a, b], source="dataset", dataset=unsplit)
    [alone] = services.evaluation_request(actor=crew["admin"], versions=[b], source="dataset", dataset=unsplit)
    assert alone.split_seed == 2  # the seed b trained with: its test split is held out from b


@pytest.mark.parametrize("who", ["owner", "lead", "outsider"])
def test_people_who_are_not_admins_cannot_ask_for_evaluations(
        client, crew, pair, dataset, sent_evaluations, who):
    a, b = pair
    client.force_login(crew[who])
    response = client.post(reverse("verification:models_evaluate"),
                           {"a": a.pk, "b": b.pk, "source": "dataset", "dataset": dataset.pk})
    assert response.status_code == 403
    assert not ModelEvaluation.objects.exists() and not AuditEvent.objects.filter(
        action="evaluation.requested").exists()
    with pytest.raises(services.NotAllowed):
        services.evaluation_request(actor=crew[who], versions=[a, b], source="dataset", dataset=dataset)


def test_an_admin_asks_through_the_api_and_lists_counts_and_metrics_only(
        crew, pair, dataset, sent_evaluations):
    from rest_framework.test import APIClient

    a, b = pair
    admin = APIClient()
    admin.force_authenticate(crew["admin"])
    response = admin.post("/api/v1/evaluations/", {"versions": [a.pk, b.pk], "source": "dataset",
                                                   "dataset": dataset.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert [e["model_version"] for e in body] == [a.pk, b.pk] and {e["status"] for e in body} == {"queued"}
    listed = admin.get("/api/v1/evaluations/", {"model_version": b.pk}).json()["results"]
    assert [e["id"] for e in listed] == [body[1]["id"]] and "labels" not in listed[0]
    assert admin.post("/api/v1/evaluations/", {"versions": [999], "source": "dataset", "dataset": dataset.pk},
                      format="json").status_code == 400
    assert ModelEvaluation.objects.count() == 2

    for who in ("owner", "lead", "outsider"):
        other: Any = APIClient()
        other.force_authenticate(crew[who])
        assert other.get("/api/v1/evaluations/").status_code == 403
        assert other.post("/api/v1/evaluations/", {"versions": [a.pk], "source": "dataset",
                                                   "dataset": dataset.pk}, format="json").status_code == 403
    assert ModelEvaluation.objects.filter(status=EvaluationStatus.QUEUED).count() == 2
