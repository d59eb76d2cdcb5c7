"""The admin API of the model lifecycle: datasets, training runs, cancel and promotion."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dataset_scans import scanned
from verification.models import AuditEvent, Dataset, Membership, ModelVersion, Role, TrainingRun


@pytest.fixture(scope="session")
def api_dataset_dir(demo_dataset) -> Path:  # type: ignore[no-untyped-def]
    return demo_dataset(pairs=6, seed=3)


@pytest.fixture
def dataset(api_dataset_dir, admin_user) -> Dataset:  # type: ignore[no-untyped-def]
    from verification import services

    return scanned(services.dataset_register(actor=admin_user, name="demo", path=str(api_dataset_dir)))


@pytest.mark.parametrize("who", ["owner", "teammate", "outsider", "lead"])
def test_people_who_are_not_admins_get_403_everywhere(api, people, lead, dataset, active_version, sent_runs, who):
    client = api("teammate" if who == "lead" else who)
    assert client.get("/api/v1/datasets/").status_code == 403
    assert client.post("/api/v1/datasets/", {"name": "x", "path": dataset.path}, format="json").status_code == 403
    assert client.get("/api/v1/training-runs/").status_code == 403
    response = client.post("/api/v1/training-runs/", {"dataset": dataset.pk}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    promote = client.post(f"/api/v1/model-versions/{active_version.pk}/promote/", {"note": "x"}, format="json")
    assert promote.status_code == 403
    assert Dataset.objects.count() == 1 and not TrainingRun.objects.exists()


def test_an_admin_of_a_team_may_use_it(api, people, dataset, sent_runs):
    Membership.objects.filter(user=people["owner"]).update(role=Role.ADMIN)
    assert api("owner").get("/api/v1/datasets/").status_code == 200


def test_an_admin_registers_a_dataset_by_path(api, api_dataset_dir, admin_user):
    response = api("admin").post("/api/v1/datasets/", {"name": "demo-2", "path": str(api_dataset_dir)},
                                 format="json")
    assert response.status_code == 202, response.content
    assert response["Location"].endswith(f"/api/v1/datasets/{response.json()['id']}/")
    scanned(Dataset.objects.get(pk=response.json()["id"]))
    body = api("admin").get(response["Location"]).json()
    assert body["status"] == "ready" and body["analysis"]["total"] == 12
    assert body["analysis"]["by_class"] == {"real": 6, "ai_generated": 6}
    assert Dataset.objects.get(pk=body["id"]).fingerprint == body["fingerprint"]
    listed = api("admin").get("/api/v1/datasets/").json()
    assert [d["name"] for d in listed["results"]] == ["demo-2"]


def test_a_bad_dataset_path_is_a_400_that_names_the_field(api, admin_user, tmp_path):
    response = api("admin").post("/api/v1/datasets/", {"name": "x", "path": str(tmp_path / "none")}, format="json")
    assert response.status_code == 400 and "path" in response.json()["error"]["details"]
    assert not Dataset.objects.exists()


def test_an_admin_starts_lists_reads_and_cancels_a_run(api, dataset, sent_runs, django_capture_on_commit_callbacks):
    client = api("admin")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/training-runs/", {"dataset": dataset.pk,
                                                          "hyperparameters": {"epochs": 2, "seed": 7}},
                               format="json")
    assert response.status_code == 201, response.content
    run = response.json()
    assert run["status"] == "queued" and run["hyperparameters"]["epochs"] == 2
    assert run["hyperparameters"]["batch_size"] == 32 and sent_runs == [run["id"]]
    assert client.get("/api/v1/training-runs/").json()["results"][0]["id"] == run["id"]
    assert client.get(f"/api/v1/training-runs/{run['id']}/").json()["dataset_name"] == "demo"
    cancelled = client.post(f"/api/v1/training-runs/{run['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/training-runs/{run['id']}/cancel/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"
    assert AuditEvent.objects.filter(action="training.triggered").count() == 1


def test_bad_hyperparameters_and_unknown_ids(api, dataset, sent_runs):
    client = api("admin")
    bad = client.post("/api/v1/training-runs/", {"dataset": dataset.pk, "hyperparameters": {"epochs": 0}},
                      format="json")
    assert bad.status_code == 400 and "hyperparameters" in bad.json()["error"]["details"]
    crop = client.post("/api/v1/training-runs/", {"dataset": dataset.pk,
                                                  "hyperparameters": {"input_size": 64, "train_crop": 128}},
                       format="json")
    assert crop.status_code == 400 and "train_crop" in crop.json()["error"]["details"]
    missing = client.post("/api/v1/training-runs/", {"dataset": 999}, format="json")
    assert missing.status_code == 400 and "dataset" in missing.json()["error"]["details"]
    assert client.get("/api/v1/training-runs/999/").status_code == 404
    assert client.post("/api/v1/training-runs/999/cancel/").status_code == 404
    assert client.get("/api/v1/datasets/999/").status_code == 404
    assert client.post("/api/v1/model-versions/999/promote/", {"note": "x"}, format="json").status_code == 404
    assert not TrainingRun.objects.exists()


def test_promotion_needs_a_note_and_is_audited(api, active_version, tiny_checkpoint):
    older = ModelVersion.objects.create(name="older", checkpoint=str(tiny_checkpoint),
                                        checkpoint_sha256=active_version.checkpoint_sha256)
    client = api("admin")
    no_note = client.post(f"/api/v1/model-versions/{older.pk}/promote/", {}, format="json")
    assert no_note.status_code == 400 and "note" in no_note.json()["error"]["details"]
    response = client.post(f"/api/v1/model-versions/{older.pk}/promote/", {"note": "rollback"}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is True
    assert ModelVersion.objects.get(is_active=True) == older
    event = AuditEvent.objects.filter(action="model.activated").first()
    assert event.details["note"] == "rollback" and event.details["previous"] == active_version.pk


def test_a_read_only_token_cannot_start_training(api, dataset, sent_runs):
    response = api("admin", scopes=("read",)).post("/api/v1/training-runs/", {"dataset": dataset.pk}, format="json")
    assert response.status_code == 403 and not TrainingRun.objects.exists()
