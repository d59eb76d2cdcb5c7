"""Datasets, training runs and promotion through the services, and the training task run in
this process on a tiny generated dataset (seconds on a CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dataset_scans import scanned
from verification import services
from verification.errors import InvalidTransition, VerityError
from verification.models import AuditEvent, Dataset, ModelVersion, TrainingRun, TrainingStatus

TINY = {"epochs": 1, "batch_size": 8, "input_size": 64, "train_crop": 32}


@pytest.fixture(scope="session")
def tiny_dataset(demo_dataset) -> Path:  # type: ignore[no-untyped-def]
    return demo_dataset(pairs=10, seed=2)


@pytest.fixture
def dataset(crew, tiny_dataset) -> Dataset:  # type: ignore[no-untyped-def]
    return scanned(services.dataset_register(actor=crew["admin"], name="demo-v1", path=str(tiny_dataset)))


def test_registering_a_dataset_stores_its_counts_fingerprint_and_an_audit_event(crew, tiny_dataset):
    dataset = scanned(services.dataset_register(actor=crew["admin"], name="demo-v1", path=str(tiny_dataset)))
    a = dataset.analysis
    assert a["total"] == 20 and a["by_class"] == {"real": 10, "ai_generated": 10}
    assert sum(a["by_split"].values()) == 20
    assert a["sizes"] == [{"label": "<256 px", "count": 20}]
    assert a["undecodable"] == 0 and len(dataset.fingerprint) == 64
    assert AuditEvent.objects.filter(action="dataset.registered", object_id=str(dataset.pk)).exists()


def test_the_datasets_dashboard_shows_a_registered_dataset(client, crew, dataset):
    client.force_login(crew["admin"])
    page = client.get("/dashboards/datasets/").content.decode()
    assert 'data-count="by_class-real">10<' in page and "20 images" in page


@pytest.mark.parametrize("who", ["owner", "lead", "outsider"])
def test_only_admins_register_datasets(crew, tiny_dataset, who):
    with pytest.raises(services.NotAllowed):
        services.dataset_register(actor=crew[who], name="x", path=str(tiny_dataset))
    assert not Dataset.objects.exists()


def test_a_dataset_path_that_does_not_exist_or_a_taken_name_is_refused(crew, dataset, tmp_path):
    with pytest.raises(VerityError, match="does not exist"):
        services.dataset_register(actor=crew["admin"], name="other", path=str(tmp_path / "nowhere"))
    with pytest.raises(VerityError, match="immutable"):
        services.dataset_register(actor=crew["admin"], name="demo-v1", path=dataset.path)
    assert Dataset.objects.count() == 1
    (tmp_path / "empty").mkdir()  # found by the scan, not the request
    empty = scanned(services.dataset_register(actor=crew["admin"], name="empty", path=str(tmp_path / "empty")))
    assert empty.status == "failed" and "could not be read" in empty.scan_error


def test_hyperparameters_get_defaults_and_bad_ones_are_named():
    assert services.training_hyperparameters({"epochs": 2}) == {
        "epochs": 2, "batch_size": 32, "lr": 1e-3, "input_size": 224, "train_crop": 224, "seed": 0}
    with pytest.raises(VerityError) as exc:
        services.training_hyperparameters({"epochs": 0, "lr": "fast", "dropout": 0.1, "train_crop": 512})
    assert set(exc.value.details) == {"epochs", "lr", "dropout", "train_crop"}


def test_starting_a_run_is_audited_and_enqueued_after_commit(crew, dataset, sent_runs,
                                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.training_run_start(actor=crew["admin"], dataset=dataset, hyperparameters=TINY)
    assert sent_runs == [run.pk]
    assert run.status == TrainingStatus.QUEUED and run.hyperparameters["lr"] == 1e-3 and run.epochs == 1
    event = AuditEvent.objects.get(action="training.triggered")
    assert event.actor == crew["admin"] and event.details["hyperparameters"]["epochs"] == 1


@pytest.mark.parametrize("who", ["owner", "lead", "outsider"])
def test_only_admins_start_or_cancel_training(crew, dataset, sent_runs, who):
    with pytest.raises(services.NotAllowed):
        services.training_run_start(actor=crew[who], dataset=dataset)
    run = services.training_run_start(actor=crew["admin"], dataset=dataset)
    with pytest.raises(services.NotAllowed):
        services.training_run_cancel(actor=crew[who], run=run)
    assert TrainingRun.objects.get().status == TrainingStatus.QUEUED


def test_a_queued_run_cancels_at_once_and_a_finished_one_cannot_be_cancelled(crew, dataset, sent_runs):
    run = services.training_run_start(actor=crew["admin"], dataset=dataset)
    services.training_run_cancel(actor=crew["admin"], run=run)
    run.refresh_from_db()
    assert run.status == TrainingStatus.CANCELLED and run.cancel_requested and run.finished_at
    with pytest.raises(InvalidTransition):
        services.training_run_cancel(actor=crew["admin"], run=run)
    assert services.training_run_begin(run_id=run.pk, out_dir="/tmp/unused") is None


def test_a_finished_run_registers_an_inactive_version_with_the_checkpoint_metrics(crew, dataset, sent_runs,
                                                                                   tiny_checkpoint, tmp_path):
    run = services.training_run_start(actor=crew["admin"], dataset=dataset)
    assert services.training_run_begin(run_id=run.pk, out_dir=tmp_path) is not None
    assert services.training_run_begin(run_id=run.pk, out_dir=tmp_path) is None  # a second delivery
    services.training_run_finish(run_id=run.pk, checkpoint=tiny_checkpoint)
    run.refresh_from_db()
    assert run.status == TrainingStatus.SUCCEEDED and run.model_version is not None
    assert not run.model_version.is_active and "confusion_matrix" in run.model_version.metrics["test"]
    with pytest.raises(InvalidTransition):
        services.training_run_finish(run_id=run.pk, checkpoint=tiny_checkpoint)
    assert ModelVersion.objects.count() == 1


def test_a_checkpoint_that_cannot_be_registered_leaves_no_version_and_the_run_running(crew, dataset, sent_runs,
                                                                                       tmp_path):
    run = services.training_run_start(actor=crew["admin"], dataset=dataset)
    services.training_run_begin(run_id=run.pk, out_dir=tmp_path)
    with pytest.raises(VerityError):
        services.training_run_finish(run_id=run.pk, checkpoint=tmp_path / "missing.pt")
    assert not ModelVersion.objects.exists()
    assert TrainingRun.objects.get().status == TrainingStatus.RUNNING
    services.training_run_fail(run_id=run.pk, reason="no checkpoint")
    run.refresh_from_db()
    assert run.status == TrainingStatus.FAILED and run.error == "no checkpoint"
    assert AuditEvent.objects.filter(action="training.failed").exists()


def test_promotion_needs_an_admin_and_a_note(crew, version):
    with pytest.raises(services.NotAllowed):
        services.model_version_promote(actor=crew["lead"], version=version, note="better")
    with pytest.raises(VerityError, match="note is required"):
        services.model_version_promote(actor=crew["admin"], version=version, note="  ")
    services.model_version_promote(actor=crew["admin"], version=version, note="better on test")
    version.refresh_from_db()
    assert version.is_active
    assert AuditEvent.objects.get(action="model.activated").details["note"] == "better on test"


@pytest.mark.slow
def test_the_task_trains_reports_progress_and_registers_a_version(crew, dataset, sent_runs, settings, tmp_path):
    from worker.tasks import train_model

    settings.VERITY_MODEL_DIR = tmp_path / "models"
    settings.VERITY_DEVICE = "cpu"
    run = services.training_run_start(actor=crew["admin"], dataset=dataset, hyperparameters=TINY)
    assert train_model(run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.status == TrainingStatus.SUCCEEDED, run.error
    assert run.epoch == 1 and run.epochs == 1 and run.total_steps >= 1 and run.train_loss is not None
    assert Path(run.model_version.checkpoint) == tmp_path / "models" / "runs" / str(run.pk) / "model.pt"
    assert not run.model_version.is_active
    assert train_model(run.pk) == "not queued"  # a redelivery does nothing


def test_the_task_fails_readably_when_the_dataset_vanished(crew, dataset, sent_runs, settings, tmp_path):
    from worker.tasks import train_model

    settings.VERITY_MODEL_DIR = tmp_path / "models"
    Dataset.objects.filter(pk=dataset.pk).update(path=str(tmp_path / "gone"))
    run = services.training_run_start(actor=crew["admin"], dataset=dataset, hyperparameters=TINY)
    assert train_model(run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == TrainingStatus.FAILED and "No dataset at" in run.error
    assert not ModelVersion.objects.exists()


def test_the_task_stops_when_cancel_is_requested(crew, dataset, sent_runs, settings, tmp_path):
    from worker.tasks import train_model

    settings.VERITY_MODEL_DIR = tmp_path / "models"
    settings.VERITY_TRAINING_CANCEL_POLL_S = 0
    run = services.training_run_start(actor=crew["admin"], dataset=dataset, hyperparameters=TINY)
    TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)  # as if requested after it started
    original = services.training_run_begin

    def begin_even_if_requested(*, run_id, out_dir):  # type: ignore[no-untyped-def]
        TrainingRun.objects.filter(pk=run_id).update(cancel_requested=False)
        claimed = original(run_id=run_id, out_dir=out_dir)
        TrainingRun.objects.filter(pk=run_id).update(cancel_requested=True)
        return claimed

    import worker.tasks
    worker.tasks.services.training_run_begin = begin_even_if_requested  # type: ignore[attr-defined]
    try:
        assert train_model(run.pk) == "cancelled"
    finally:
        worker.tasks.services.training_run_begin = original  # type: ignore[attr-defined]
    run.refresh_from_db()
    assert run.status == TrainingStatus.CANCELLED and "cancelled" in run.error
    assert not ModelVersion.objects.exists()


def test_the_task_stores_step_progress_on_the_run_within_an_epoch(crew, dataset, sent_runs, settings, tmp_path,
                                                                   monkeypatch):
    from worker.tasks import train_model

    settings.VERITY_MODEL_DIR = tmp_path / "models"
    settings.VERITY_DEVICE = "cpu"
    settings.VERITY_TRAINING_PROGRESS_EVERY_S = 0
    run = services.training_run_start(actor=crew["admin"], dataset=dataset,
                                      hyperparameters={**TINY, "batch_size": 2})
    original, rows = services.training_run_progress, []

    def store_and_read_back(*, run_id, event):  # type: ignore[no-untyped-def]
        original(run_id=run_id, event=event)
        rows.append((event["event"], TrainingRun.objects.values(
            "epoch", "step", "total_steps", "train_loss", "train_accuracy", "eta_s").get(pk=run_id)))

    monkeypatch.setattr(services, "training_run_progress", store_and_read_back)
    assert train_model(run.pk) == "succeeded"
    steps = [row for kind, row in rows if kind == "step"]
    total = steps[0]["total_steps"]
    assert total == 5  # 10 training images at batch 2
    assert [row["step"] for row in steps] == list(range(1, total + 1))
    middle = steps[2]
    assert middle["epoch"] == 1 and middle["train_loss"] > 0 and 0 <= middle["train_accuracy"] <= 1
    assert middle["eta_s"] > 0


def test_a_run_with_a_base_model_trains_from_its_weights(crew, dataset, sent_runs, settings, tmp_path,
                                                         tiny_checkpoint):
    import torch

    from worker.tasks import train_model

    settings.VERITY_MODEL_DIR = tmp_path / "models"
    settings.VERITY_DEVICE = "cpu"
    base = services.model_version_register(checkpoint=tiny_checkpoint)
    # The smallest learning rate allowed: the weights stay where the base model left them.
    run = services.training_run_start(actor=crew["admin"], dataset=dataset, base_model=base,
                                      hyperparameters={**TINY, "lr": 1e-7})
    assert train_model(run.pk) == "succeeded"
    run.refresh_from_db()
    new = torch.load(run.model_version.checkpoint, weights_only=True)
    old = torch.load(base.checkpoint, weights_only=True)["state_dict"]
    weights = [k for k in old if k.endswith((".weight", ".bias"))]  # BatchNorm's running statistics move
    assert weights and all(torch.allclose(new["state_dict"][k], old[k], rtol=0, atol=1e-5) for k in weights)
    assert new["train_config"]["init_checkpoint"] == base.checkpoint
    assert AuditEvent.objects.get(action="training.started").details["base_model"] == base.pk


def test_the_run_starts_from_the_base_model_else_from_configured_imagenet_weights(crew, dataset, sent_runs,
                                                                                   settings, tmp_path, version):
    from worker.training import training_config

    settings.VERITY_PRETRAINED_WEIGHTS = "/weights/resnet50-imagenet.pth"
    plain = services.training_run_start(actor=crew["admin"], dataset=dataset)
    config = training_config(plain, tmp_path)
    assert config.init_checkpoint is None and config.model.pretrained_weights == "/weights/resnet50-imagenet.pth"
    based = services.training_run_start(actor=crew["admin"], dataset=dataset, base_model=version)
    config = training_config(based, tmp_path)
    assert config.init_checkpoint == version.checkpoint and config.model.pretrained_weights is None
    config.validate()
    settings.VERITY_PRETRAINED_WEIGHTS = ""
    assert training_config(plain, tmp_path).model.pretrained_weights is None
