"""The recipe (``python -m ml recipe`` / ``make model``) end to end on a tiny shared-data layout,
and the model card's round trip."""

from __future__ import annotations

import json

import pytest
import torch

from ml.checkpoint import load_checkpoint, read_checkpoint
from ml.cli import main as ml_main
from ml.data.sources import load_samples
from ml.errors import MLError
from ml.precision import native_precisions
from ml.modelcard import (
    CARD_FILE,
    ModelCard,
    card_from_dict,
    card_markdown,
    read_card,
    write_card,
)
from ml.recipe import dedupe_across_splits, held_out_sources, reshare, training_samples
from ml.shortcuts import estimate_quality, file_features

from .fake_shared_data import make_shared_data


def _card() -> ModelCard:
    return ModelCard(name="m", created="2026-11-26T12:00:00+00:00", is_demo=False, architecture="resnet50",
                     input_size=32, training_data={"sources": [{"name": "a", "licence": "MIT", "generators": ["g"],
                                                                 "counts": {"train": {"real": 1, "ai_generated": 2}}}],
                                                    "held_out": ["b"]},
                     metrics={"a": {"n": 4, "accuracy": 0.75, "roc_auc": 0.5, "ece": 0.1}},
                     calibration={"temperature": 1.5, "threshold": 0.4, "fitted_on": "val", "val_ece": 0.02},
                     known_limits={"not_trained_on": ["b"], "notes": []},
                     precision={"verified": ["bf16"], "results": {
                         "bf16": {"checked": True, "passes": True, "per_source": {"a": {
                             "n": 4, "verdict_agreement": 1.0, "mean_abs_dp": 0.001, "accuracy_points": 0.0,
                             "passes": True}}, "all": {
                             "n": 4, "verdict_agreement": 1.0, "mean_abs_dp": 0.001, "accuracy_points": 0.0,
                             "passes": True}},
                         "int8": {"checked": False, "reason": "no calibration data", "passes": False}}})


def test_model_card_round_trips_through_json(tmp_path):
    card = _card()
    path = write_card(card, tmp_path / CARD_FILE)
    assert read_card(path) == card
    assert card_from_dict(json.loads(json.dumps(card.to_dict()))) == card
    text = card_markdown(card)
    assert "| a | 4 | 0.750" in text and "Not trained on: b." in text
    assert "| bf16 | a | 4 | 1.000 | 0.0010 | +0.0 |  |" in text
    assert "| bf16 | all | 4 | 1.000 | 0.0010 | +0.0 | yes |" in text and "not checked: no calibration data" in text


def test_a_card_written_before_the_precision_field_still_reads():
    d = _card().to_dict()
    del d["precision"]
    assert card_from_dict(d).precision == {}


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("metrics"), "missing metrics"),
    (lambda d: d.update(extra=1), "unknown extra"),
    (lambda d: d.update(schema=2), "schema 2"),
    (lambda d: d.update(input_size="32"), "'input_size' must be int"),
    (lambda d: d.update(is_demo=1), "'is_demo' must be bool"),
])
def test_a_damaged_model_card_is_refused(mutate, message):
    d = _card().to_dict()
    mutate(d)
    with pytest.raises(MLError, match=message):
        card_from_dict(d)


def test_jpeg_quality_is_estimated_from_the_quantisation_tables():
    from io import BytesIO

    from PIL import Image

    for q in (35, 75, 92):
        buf = BytesIO()
        Image.new("RGB", (24, 16), (90, 140, 30)).save(buf, format="JPEG", quality=q)
        feats = file_features(buf.getvalue())
        assert feats["jpeg_quality"] == q and feats["width"] == 24 and feats["height"] == 16
    assert estimate_quality([1] * 64) == 100


def test_training_samples_hold_out_test_only_sources_and_drop_train_duplicates_from_test(tmp_path):
    root = make_shared_data(tmp_path / "data")
    samples = load_samples(root)
    assert held_out_sources(samples) == ["heldout"]
    # A test image that is byte-identical to a training image is dropped from test.
    train0 = next(s for s in samples if s.split == "train")
    from dataclasses import replace
    copied = samples + [replace(train0, split="test")]
    kept, dropped = dedupe_across_splits(copied)
    assert dropped == 1 and len(kept) == len(samples)
    picked, summary = training_samples(root, repeat={"large": 3}, val_per_class=1, include_test=False)
    assert summary["held_out"] == ["heldout"] and summary["sources"] == ["large", "small"]
    assert {s.source for s in picked} == {"large", "small"}
    assert sum(1 for s in picked if s.source == "large" and s.split == "train") == 3 * 6
    assert sum(1 for s in picked if s.split == "val") == 4 and not any(s.split == "test" for s in picked)
    with pytest.raises(MLError, match="No trainable source named heldout"):
        training_samples(root, sources=["heldout"])


def test_reshare_downscales_large_images_and_reencodes_small_ones():
    from PIL import Image

    big = reshare(Image.new("RGB", (2160, 1000), (10, 200, 30)))
    assert big.size == (1080, 500)
    small = reshare(Image.new("RGB", (32, 32), (10, 200, 30)))
    assert small.size == (32, 32)


@pytest.mark.slow
def test_recipe_command_trains_evaluates_each_source_and_writes_the_card(tmp_path, capsys):
    root = make_shared_data(tmp_path / "data")
    out = tmp_path / "run"
    code = ml_main(["recipe", "--data", str(root), "--out", str(out), "--name", "tiny", "--input-size", "32",
                    "--epochs", "1", "--max-steps", "2", "--batch-size", "8", "--num-workers", "0", "--eval-tiles", "2",
                    "--robustness-per-class", "1", "--repeat", "large=2", "--quiet", "--train-precision", "bf16"])
    assert code == 0

    card = read_card(out / CARD_FILE)
    assert set(card.metrics) == {"small", "large", "heldout"}  # every source's test split, held-out too
    assert card.metrics["heldout"]["n"] == 4 and card.metrics["small"]["n"] == 4
    assert card.training_data["held_out"] == ["heldout"]
    assert {s["name"]: s["licence"] for s in card.training_data["sources"]} == {
        "large": "CC0-1.0 (test data)", "small": "CC0-1.0 (test data)"}
    assert "heldout" in card.known_limits["not_trained_on"]
    assert card.calibration["fitted_on"] == "val" and card.calibration["temperature"] > 0
    assert set(card.robustness["results"]) == {"small", "large", "heldout"}
    assert set(card.shortcut_baseline) == {"small", "large", "heldout"}
    assert card.recipe["training_seconds"] > 0 and card.input_size == 32
    payload = read_checkpoint(out / "model.pt")
    assert card_from_dict(payload["model_card"]) == card  # the card travels inside the checkpoint
    assert (out / "model_card.md").read_text().startswith("# Model card: tiny")
    # How it was trained: bf16 autocast, as the logits of its first step show.
    assert card.recipe["train_precision"]["precision"] == "bf16"
    assert card.recipe["train_precision"]["logits_dtype"] == "bfloat16"
    assert "s CPU, in bf16 autocast (asked: bf16;" in (out / "model_card.md").read_text()
    assert torch.load(out / "model.pt", weights_only=True)["name"] == "tiny"
    # bf16/int8 agreement with fp32 measured on validation for each precision this CPU runs natively,
    # and the passing ones recorded in the checkpoint for ``auto`` to choose among.
    lower = [p for p in native_precisions(torch.device("cpu")) if p != "fp32"]
    assert card.precision["measured_on"] == "validation" and set(card.precision["results"]) == set(lower)
    for result in card.precision["results"].values():
        assert result["checked"] and set(result["per_source"]) == {"small", "large"}  # heldout has no val
        assert result["all"]["n"] == sum(a["n"] for a in result["per_source"].values())
        assert result["passes"] == (result["all"]["passes"] and all(
            a["mean_abs_dp"] <= 0.01 for a in result["per_source"].values()))
    assert load_checkpoint(out / "model.pt")[1].verified_precisions == tuple(card.precision["verified"])


def test_npr_is_each_pixel_minus_its_2x2_blocks_top_left_and_survives_a_checkpoint(tmp_path):
    from ml.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
    from ml.config import ModelConfig, PreprocessConfig
    from ml.model import build_model, npr

    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert npr(x).tolist() == [[[[0, 1, 0, 1], [4, 5, 4, 5], [0, 1, 0, 1], [4, 5, 4, 5]]]]
    assert npr(torch.ones(1, 3, 5, 7)).shape == (1, 3, 4, 6)  # odd sides lose their last row/column
    config = ModelConfig(input_representation="npr")
    model = build_model(config).eval()
    meta = CheckpointMeta(model=config, preprocess=PreprocessConfig(input_size=32, train_crop=32), name="npr")
    loaded, loaded_meta = load_checkpoint(save_checkpoint(tmp_path / "m.pt", model, meta))
    assert loaded_meta.model.input_representation == "npr"
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(images), model(images))
        # The network sees only the residual: adding a constant to every pixel changes nothing.
        assert torch.allclose(loaded(images + 0.5), loaded(images), atol=1e-5)
    with pytest.raises(MLError, match="Unknown input representation"):
        build_model(ModelConfig(input_representation="fft"))


def test_precision_check_records_its_result_in_an_existing_checkpoint_and_card(tmp_path, capsys):
    from ml.checkpoint import CheckpointMeta, save_checkpoint
    from ml.config import ModelConfig, PreprocessConfig
    from ml.model import build_model
    from ml.recipe import attach_card

    root = make_shared_data(tmp_path / "data")
    meta = CheckpointMeta(model=ModelConfig(), preprocess=PreprocessConfig(input_size=16, train_crop=16))
    ckpt = save_checkpoint(tmp_path / "run" / "model.pt", build_model(ModelConfig()).eval(), meta)
    attach_card(ckpt, _card())
    assert load_checkpoint(ckpt)[1].verified_precisions is None
    assert ml_main(["precision-check", str(ckpt), "--data", str(root), "--eval-tiles", "1", "--record"]) == 0
    result = json.loads(capsys.readouterr().out)
    lower = [p for p in native_precisions(torch.device("cpu")) if p != "fp32"]
    assert set(result["results"]) == set(lower)
    assert all(set(r["per_source"]) == {"small", "large"} for r in result["results"].values() if r["checked"])
    assert load_checkpoint(ckpt)[1].verified_precisions == tuple(result["verified"])
    assert read_card(tmp_path / "run" / CARD_FILE).precision == result
    assert card_from_dict(read_checkpoint(ckpt)["model_card"]).precision == result
