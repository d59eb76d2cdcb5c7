"""The portal serves the model `make model` made, with its card on the Models page and in the
API, and falls back to the demo model only when no real model exists."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from ml.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from ml.modelcard import ModelCard
from ml.recipe import attach_card
from verification.models import ModelVersion


def _card(name: str) -> ModelCard:
    return ModelCard(
        name=name, created="2026-11-26T12:00:00+00:00", is_demo=False, architecture="resnet50", input_size=64,
        training_data={"sources": [{"name": "cifake", "licence": "MIT (dataset authors)", "generators": ["sd-1.4"],
                                    "counts": {"train": {"real": 8000, "ai_generated": 8000}}}],
                       "held_out": ["commons-zimage"]},
        metrics={"cifake": {"n": 2000, "accuracy": 0.91, "precision": 0.9, "recall": 0.92, "roc_auc": 0.97,
                            "ece": 0.03},
                 "commons-zimage": {"n": 198, "accuracy": 0.55, "roc_auc": 0.61, "ece": 0.2}},
        calibration={"temperature": 1.7, "threshold": 0.45, "fitted_on": "val", "val_ece": 0.02},
        robustness={"chain": "JPEG 75",
                    "results": {"cifake": {"clean": {"accuracy": 0.91}, "reshared": {"accuracy": 0.8}}}},
        shortcut_baseline={"cifake": {"accuracy": 0.52, "roc_auc": 0.534}},
        known_limits={"not_trained_on": ["commons-zimage", "Midjourney"], "notes": ["32 px tiles"]},
        recipe={"command": "python -m ml served-recipe", "chain": {
            "rule": "kept if it beats", "served_stage": "ft", "stages": [
                {"stage": "base", "epochs": 5, "lr": 0.001, "val_roc_auc": 0.929, "training_cpu_seconds": 997,
                 "kept": True},
                {"stage": "ft", "epochs": 3, "lr": 0.0003, "val_roc_auc": 0.938, "training_cpu_seconds": 883,
                 "kept": True},
                {"stage": "ft2", "epochs": 3, "lr": 0.0002, "val_roc_auc": 0.931, "training_cpu_seconds": 1258,
                 "kept": False}]}},
        precision={"verified": ["bf16"], "tolerances": {"verdict_agreement": 0.995, "mean_abs_dp": 0.01,
                                                        "accuracy_points": 0.3},
                   "results": {"bf16": {"checked": True, "passes": True, "per_source": {"cifake": {
                       "n": 300, "verdict_agreement": 1.0, "mean_abs_dp": 0.0007, "accuracy_points": 0.0,
                       "passes": True}}},
                       "int8": {"checked": False, "passes": False, "reason": "no calibration data given"}}})


def _real_checkpoint(tiny_checkpoint: Path, dest: Path, name: str) -> Path:
    """The tiny test checkpoint re-saved as a non-demo model with a model card, where `make model`
    puts its output."""
    model, meta = load_checkpoint(tiny_checkpoint)
    meta.is_demo, meta.name = False, name
    save_checkpoint(dest, model, meta)
    attach_card(dest, _card(name))
    return dest


@pytest.fixture
def model_dir(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.VERITY_MODEL_DIR = tmp_path / "models"
    settings.VERITY_MODEL_CHECKPOINT = ""
    return settings.VERITY_MODEL_DIR


@pytest.fixture
def demo_training(monkeypatch, tiny_checkpoint):  # type: ignore[no-untyped-def]
    """ensure_model's demo training, replaced by copying the tiny demo checkpoint (seconds, not minutes)."""
    trained: list[Path] = []

    def fake_train(self, out_dir, *, pairs, epochs):  # type: ignore[no-untyped-def]
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_checkpoint, out_dir / "model.pt")
        trained.append(out_dir)

    monkeypatch.setattr("verification.management.commands.ensure_model.Command._train_demo", fake_train)
    return trained


def test_without_a_real_model_start_up_serves_the_demo_labelled_as_such(db, model_dir, demo_training):
    call_command("ensure_model")
    active = ModelVersion.objects.get(is_active=True)
    assert active.is_demo and demo_training and active.model_card == {}


def test_start_up_serves_the_model_make_model_made_and_replaces_an_active_demo(db, model_dir, demo_training,
                                                                                tiny_checkpoint):
    call_command("ensure_model")
    assert ModelVersion.objects.get(is_active=True).is_demo
    ckpt = _real_checkpoint(tiny_checkpoint, model_dir / "recipe" / "model.pt", "verity-resnet50")
    call_command("ensure_model")
    active = ModelVersion.objects.get(is_active=True)
    assert not active.is_demo and active.name == "verity-resnet50" and Path(active.checkpoint) == ckpt.resolve()
    assert active.model_card["metrics"]["cifake"]["accuracy"] == 0.91
    assert ModelVersion.objects.filter(is_demo=True).count() == 1  # kept, for a rollback
    call_command("ensure_model")  # idempotent: nothing new registered
    assert ModelVersion.objects.count() == 2 and ModelVersion.objects.get(is_active=True) == active


def test_register_model_registers_activates_and_renames_a_retrained_model(db, model_dir, tiny_checkpoint, tmp_path):
    first = _real_checkpoint(tiny_checkpoint, tmp_path / "a" / "model.pt", "verity-resnet50")
    call_command("register_model", str(first))
    second = _real_checkpoint(tiny_checkpoint, tmp_path / "b" / "model.pt", "verity-resnet50")
    payload = read_checkpoint(second)
    payload["threshold"] = 0.4  # another training run: other bytes, same name
    import torch
    torch.save(payload, second)
    call_command("register_model", str(second))
    active = ModelVersion.objects.get(is_active=True)
    assert active.name.startswith("verity-resnet50-") and Path(active.checkpoint) == second.resolve()
    call_command("register_model", str(first))  # already registered: activated again, not duplicated
    assert ModelVersion.objects.count() == 2 and ModelVersion.objects.get(is_active=True).name == "verity-resnet50"
    from django.core.management.base import CommandError
    with pytest.raises(CommandError, match="Checkpoint not found"):
        call_command("register_model", str(tmp_path / "missing.pt"))


def test_the_models_page_and_the_api_show_the_model_card(client, crew, db, model_dir, tiny_checkpoint):
    ckpt = _real_checkpoint(tiny_checkpoint, model_dir / "recipe" / "model.pt", "verity-resnet50")
    call_command("register_model", str(ckpt))
    client.force_login(crew["admin"])
    page = client.get(reverse("verification:models")).content.decode()
    assert 'data-model-card="verity-resnet50"' in page
    assert "MIT (dataset authors)" in page and "Held out, never trained on: commons-zimage" in page
    assert 'data-source="commons-zimage"' in page and "0.534" in page  # the shortcut beside the model
    assert "Midjourney" in page
    # How it was trained: the chain of stages, the losing one shown as not kept.
    chain = page[page.index("<table class=\"list\" data-chain>"):]
    chain = chain[:chain.index("</table>")]
    assert "Served: ft." in chain
    assert "<td>ft2</td><td>3</td><td>0.0002</td><td>0.931</td><td>1258</td><td>no</td>" in chain
    assert "may serve this model at bf16" in page and "0.0007" in page and "not checked: no calibration data" in page
    from rest_framework.test import APIClient

    from verification import services

    api = APIClient()  # any signed-in user, of any team, may see which model judges
    api.credentials(HTTP_AUTHORIZATION="Bearer " + services.token_create(
        user=crew["outsider"], name="reader", scopes=("read",)).secret)
    body = api.get("/api/v1/model-versions/active/").json()
    assert body["model_card"]["calibration"]["temperature"] == 1.7
    assert body["model_card"]["known_limits"]["not_trained_on"] == ["commons-zimage", "Midjourney"]
    assert body["model_card"]["precision"]["verified"] == ["bf16"]
