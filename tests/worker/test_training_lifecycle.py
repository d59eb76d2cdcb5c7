"""The model lifecycle on real worker processes: an admin registers a dataset and starts training
through the API, a worker on the training queue trains and registers a model version, the admin
promotes it, and the next analysis (on a separate inference worker) uses it. Inference keeps
flowing while a training runs; a run can be cancelled; a run whose data vanished fails readably."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.images import png_bytes
from tests.worker_process import celery_worker, wait_for
from verification import services
from verification.models import Analysis, AnalysisStatus, AuditEvent, ModelVersion, TrainingRun, TrainingStatus

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TINY = {"epochs": 1, "batch_size": 8, "input_size": 64, "train_crop": 32}


@pytest.fixture
def admin_api(django_user_model) -> APIClient:  # type: ignore[no-untyped-def]
    admin = django_user_model.objects.create_superuser("admin", password="pw-admin-123!")
    client = APIClient()
    secret = services.token_create(user=admin, name="lifecycle", scopes=("read", "submit")).secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def workers(tmp_path: Path):  # type: ignore[no-untyped-def]
    """One worker on the inference queue and another on the training queue."""
    env = {"VERITY_MODEL_DIR": str(tmp_path / "models"), "VERITY_DEVICE": "cpu",
           "VERITY_TRAINING_CANCEL_POLL_S": "1"}
    logs = tmp_path / "inference.log", tmp_path / "training.log"
    with celery_worker(logs[0], queues="inference", extra_env=env) as inference, \
            celery_worker(logs[1], queues="training", extra_env=env) as training:
        yield {"inference": (inference, logs[0]), "training": (training, logs[1]), "model_dir": tmp_path / "models"}


def _submit(people: dict[str, Any], title: str, seed: int) -> Analysis:
    from django.core.files.uploadedfile import SimpleUploadedFile

    result = services.case_submit(user=people["owner"], team=people["team"], title=title,
                                  files=[SimpleUploadedFile(f"{title}.png", png_bytes(seed=seed),
                                                            content_type="image/png")])
    return Analysis.objects.get(image=result.images[0])


def _register(admin_api: APIClient, name: str, path: Path, worker: tuple[Any, Path]) -> int:
    """Register through the API (202) and wait for the training worker to scan it."""
    response = admin_api.post("/api/v1/datasets/", {"name": name, "path": str(path)}, format="json")
    assert response.status_code == 202, response.content
    ready = wait_for(lambda: (lambda d: d if d["status"] in ("ready", "failed") else None)(
        admin_api.get(response["Location"]).json()), timeout=120, proc=worker[0], log_path=worker[1])
    assert ready["status"] == "ready", ready
    return response.json()["id"]


def _start(admin_api: APIClient, dataset_id: int, hyperparameters: dict[str, Any]) -> int:
    response = admin_api.post("/api/v1/training-runs/", {"dataset": dataset_id, "hyperparameters": hyperparameters},
                              format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _finished(run_id: int) -> TrainingRun | None:
    run = TrainingRun.objects.get(pk=run_id)
    return run if run.is_finished else None


def _analysis_done(pk: int) -> Analysis | None:
    analysis = Analysis.objects.get(pk=pk)
    return analysis if analysis.status in (AnalysisStatus.DONE, AnalysisStatus.FAILED) else None


def test_train_promote_and_analyse_with_the_new_version_while_inference_keeps_flowing(
        admin_api, people, active_version, workers, tmp_path):
    from ml.data.demo import generate_demo_dataset

    data = generate_demo_dataset(tmp_path / "demo", pairs=12, size=64, seed=5)
    dataset_id = _register(admin_api, "demo-lifecycle", data, workers["training"])
    training, training_log = workers["training"]
    inference, inference_log = workers["inference"]

    # 1. A long run (batch 2, many epochs) occupies the training worker; an image submitted
    #    meanwhile is analysed by the inference worker before the run ends. Then it is cancelled.
    long_id = _start(admin_api, dataset_id, {**TINY, "epochs": 100, "batch_size": 2})
    wait_for(lambda: TrainingRun.objects.get(pk=long_id).status == TrainingStatus.RUNNING, timeout=120,
             proc=training, log_path=training_log)
    meanwhile = _submit(people, "during-training", seed=11)
    done = wait_for(lambda: _analysis_done(meanwhile.pk), timeout=180, proc=inference, log_path=inference_log)
    assert done.status == AnalysisStatus.DONE and done.model_version_id == active_version.pk
    assert TrainingRun.objects.get(pk=long_id).status == TrainingStatus.RUNNING  # training still going
    progress = wait_for(lambda: TrainingRun.objects.filter(pk=long_id, epoch__gte=1).first(), timeout=180,
                        proc=training, log_path=training_log)
    assert progress.total_steps > 0 and progress.train_loss is not None and progress.eta_s is not None
    cancel = admin_api.post(f"/api/v1/training-runs/{long_id}/cancel/")
    assert cancel.status_code == 200 and cancel.json()["cancel_requested"] is True
    cancelled = wait_for(lambda: _finished(long_id), timeout=120, proc=training, log_path=training_log)
    assert cancelled.status == TrainingStatus.CANCELLED and "cancelled" in cancelled.error
    assert cancelled.model_version is None

    # 2. A tiny run succeeds and registers an inactive version with test metrics.
    run_id = _start(admin_api, dataset_id, TINY)
    run = wait_for(lambda: _finished(run_id), timeout=300, proc=training, log_path=training_log)
    assert run.status == TrainingStatus.SUCCEEDED, run.error
    body = admin_api.get(f"/api/v1/training-runs/{run_id}/").json()
    assert body["epoch"] == 1 and body["epochs"] == 1 and body["step"] == body["total_steps"] > 0
    version = run.model_version
    assert version is not None and not version.is_active
    assert Path(version.checkpoint).parent == workers["model_dir"] / "runs" / str(run_id)
    assert len(version.metrics["test"]["confusion_matrix"]) == 2
    assert ModelVersion.objects.count() == 2  # the original one and this one; the cancelled run made none

    # 3. The admin promotes it; the next analysis uses it.
    promoted = admin_api.post(f"/api/v1/model-versions/{version.pk}/promote/", {"note": "lifecycle test"},
                              format="json")
    assert promoted.status_code == 200 and promoted.json()["is_active"] is True
    after = _submit(people, "after-promotion", seed=12)
    done = wait_for(lambda: _analysis_done(after.pk), timeout=180, proc=inference, log_path=inference_log)
    assert done.status == AnalysisStatus.DONE and done.model_version_id == version.pk
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"dataset.registered", "training.triggered", "training.started", "training.cancel_requested",
            "training.cancelled", "training.succeeded", "model.registered", "model.activated"} <= actions


def test_a_run_whose_dataset_vanished_fails_with_a_reason_and_registers_nothing(
        admin_api, people, workers, tmp_path):
    from ml.data.demo import generate_demo_dataset

    data = generate_demo_dataset(tmp_path / "soon-gone", pairs=4, size=64, seed=6)
    dataset_id = _register(admin_api, "soon-gone", data, workers["training"])
    shutil.rmtree(data)
    training, training_log = workers["training"]
    run_id = _start(admin_api, dataset_id, TINY)
    run = wait_for(lambda: _finished(run_id), timeout=120, proc=training, log_path=training_log)
    assert run.status == TrainingStatus.FAILED and "No dataset at" in run.error
    assert admin_api.get(f"/api/v1/training-runs/{run_id}/").json()["error"] == run.error
    assert not ModelVersion.objects.exists()
