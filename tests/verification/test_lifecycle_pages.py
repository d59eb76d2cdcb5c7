"""The admins' lifecycle pages: datasets, training runs, run status and cancel, compare, promote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse

from tests.dataset_scans import scanned
from verification import services
from verification.models import AuditEvent, Dataset, ModelVersion, TrainingRun, TrainingStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def page_dataset_dir(demo_dataset) -> Path:  # type: ignore[no-untyped-def]
    return demo_dataset(pairs=4, seed=4)


@pytest.fixture
def run(crew, sent_runs) -> TrainingRun:  # type: ignore[no-untyped-def]
    dataset = Dataset.objects.create(status="ready", name="rows-only", path="/data/x", analysis={"total": 8})
    return services.training_run_start(actor=crew["admin"], dataset=dataset, hyperparameters={"epochs": 2})


@pytest.mark.parametrize("who", ["owner", "lead", "outsider"])
def test_people_who_are_not_admins_are_refused_every_lifecycle_page(client, crew, run, version, who):
    client.force_login(crew[who])
    for url in (reverse("verification:datasets"), reverse("verification:training_runs"),
                reverse("verification:training_run", args=[run.pk]),
                reverse("verification:training_run_status", args=[run.pk]), reverse("verification:models_compare")):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("verification:training_run_cancel", args=[run.pk])).status_code == 403
    assert client.post(reverse("verification:datasets"), {"name": "x", "path": "/"}).status_code == 403
    assert TrainingRun.objects.get().status == TrainingStatus.QUEUED


def test_an_admin_registers_a_dataset_on_the_page(client, crew, page_dataset_dir):
    client.force_login(crew["admin"])
    response = client.post(reverse("verification:datasets"), {"name": "demo", "path": str(page_dataset_dir)})
    assert response.status_code == 302
    page = client.get(reverse("verification:datasets")).content.decode()
    assert 'data-dataset="demo"' in page and scanned(Dataset.objects.get()).analysis["total"] == 8
    bad = client.post(reverse("verification:datasets"), {"name": "other", "path": "/no/such/place"})
    assert bad.status_code == 400 and "Datasets can only be registered from under" in bad.content.decode()
    missing = client.post(reverse("verification:datasets"), {"name": "other", "path": str(page_dataset_dir / "x")})
    assert missing.status_code == 400 and "does not exist" in missing.content.decode()


def test_an_admin_starts_a_run_watches_it_and_cancels_it(client, crew, sent_runs, django_capture_on_commit_callbacks):
    dataset = Dataset.objects.create(status="ready", name="rows-only", path="/data/x", analysis={"total": 8})
    client.force_login(crew["admin"])
    form = client.get(reverse("verification:training_runs")).content.decode()
    assert 'name="epochs"' in form and 'value="224"' in form  # defaults are shown
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("verification:training_runs"), {
            "dataset": dataset.pk, "epochs": 2, "batch_size": 16, "lr": 0.001, "input_size": 128,
            "train_crop": 64, "seed": 1})
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and sent_runs == [run.pk]
    assert run.hyperparameters == {"epochs": 2, "batch_size": 16, "lr": 0.001, "input_size": 128, "train_crop": 64,
                                   "seed": 1}
    page = client.get(reverse("verification:training_run", args=[run.pk])).content.decode()
    assert "training.js" in page and "Cancel this run" in page
    services.training_run_begin(run_id=run.pk, out_dir="/tmp/run")
    services.training_run_progress(run_id=run.pk, event={"event": "epoch", "epoch": 1, "epochs": 2, "step": 3,
                                                         "total_steps": 6, "train_loss": 0.5, "eta_s": 12.0})
    status = json.loads(client.get(reverse("verification:training_run_status", args=[run.pk])).content)
    assert status["status"] == "running" and status["epoch"] == 1 and status["total_steps"] == 6
    client.post(reverse("verification:training_run_cancel", args=[run.pk]))
    run.refresh_from_db()
    assert run.cancel_requested and run.status == TrainingStatus.RUNNING  # the task stops it
    assert AuditEvent.objects.filter(action="training.cancel_requested", actor=crew["admin"]).exists()


def test_a_crop_larger_than_the_input_is_refused_on_the_form(client, crew, sent_runs):
    dataset = Dataset.objects.create(status="ready", name="rows-only", path="/data/x", analysis={"total": 8})
    client.force_login(crew["admin"])
    response = client.post(reverse("verification:training_runs"), {
        "dataset": dataset.pk, "epochs": 1, "batch_size": 8, "lr": 0.001, "input_size": 64, "train_crop": 128,
        "seed": 0})
    assert response.status_code == 400 and not TrainingRun.objects.exists()


def test_compare_shows_both_versions_metrics_and_matrices(client, crew, version):
    other = ModelVersion.objects.create(name="resnet50-v2", checkpoint="/m/v2.pt", checkpoint_sha256="f" * 64,
                                        metrics={"test": {"accuracy": 0.9, "n": 10,
                                                          "confusion_matrix": [[5, 0], [1, 4]]}})
    client.force_login(crew["admin"])
    page = client.get(reverse("verification:models_compare"), {"a": version.pk, "b": other.pk}).content.decode()
    assert "resnet50-v1" in page and "resnet50-v2" in page and "90.0%" in page
    assert page.count('class="matrix"') >= 1 and "Why promote it?" in page
    assert client.get(reverse("verification:models_compare"), {"a": 999}).status_code == 404


def test_promoting_from_the_models_page_requires_a_note(client, crew, version):
    other = ModelVersion.objects.create(name="resnet50-v2", checkpoint="/m/v2.pt", checkpoint_sha256="f" * 64)
    client.force_login(crew["admin"])
    client.post(reverse("verification:models"), {"version": other.pk, "note": ""})
    assert ModelVersion.objects.get(is_active=True) == version
    client.post(reverse("verification:models"), {"version": other.pk, "note": "fewer false positives"})
    assert ModelVersion.objects.get(is_active=True) == other


def test_admins_see_the_lifecycle_links(client, crew):
    client.force_login(crew["admin"])
    page = client.get(reverse("verification:models")).content.decode()
    assert reverse("verification:datasets") in page and reverse("verification:training_runs") in page


def test_the_django_admin_action_starts_training_on_a_dataset(client, crew, sent_runs, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw-root-12345!")
    dataset = Dataset.objects.create(status="ready", name="rows-only", path="/data/x", analysis={"total": 8})
    client.force_login(root)
    client.post(reverse("admin:verification_dataset_changelist"),
                {"action": "start_training", "_selected_action": [dataset.pk]})
    run = TrainingRun.objects.get()
    assert run.dataset == dataset and run.created_by == root and run.hyperparameters["epochs"] == 3


def test_the_run_page_shows_step_progress_with_its_eta_and_the_status_poll_carries_it(client, crew, sent_runs):
    dataset = Dataset.objects.create(status="ready", name="steps", path="/data/x", analysis={"total": 8})
    run = services.training_run_start(actor=crew["admin"], dataset=dataset, hyperparameters={"epochs": 2})
    services.training_run_begin(run_id=run.pk, out_dir="/tmp/run")
    services.training_run_progress(run_id=run.pk, event={
        "event": "step", "epoch": 1, "epochs": 2, "step": 3, "total_steps": 8, "train_loss": 0.61,
        "train_accuracy": 0.75, "eta_s": 95.2})
    client.force_login(crew["admin"])
    page = client.get(reverse("verification:training_run", args=[run.pk])).content.decode()
    assert '<progress id="step-progress" max="8" value="3"' in page
    assert '"step_percent">38%<' in page and '"eta">1 min 35 s<' in page and '"train_accuracy">75.0%<' in page
    status = json.loads(client.get(reverse("verification:training_run_status", args=[run.pk])).content)
    assert (status["step"], status["total_steps"], status["train_accuracy"], status["eta_s"]) == (3, 8, 0.75, 95.2)
    assert status["attempts"] == 1
