"""Metrics only on data the model never saw (issue 18): the checkpoint lists the images its
lineage trained on; evaluation splits with the checkpoint's seed and leaves those images out;
fine-tuning never scores a base model's training images; copies never cross a manifest's splits;
a run without a validation split carves one; validation metrics say they are in-sample."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from ml.checkpoint import load_checkpoint
from ml.config import PreprocessConfig, TrainConfig
from ml.data import load_samples
from ml.errors import MLError
from ml.evaluate import evaluate, unseen_split
from ml.splits import assign_splits, split_samples
from ml.train import STATE_FILE, train
from tests.images import png_bytes


def _config(data: Path, out: Path, **kw) -> TrainConfig:
    base: dict[str, Any] = dict(data=str(data), out_dir=str(out), epochs=1, batch_size=8, max_steps=1, seed=5,
                                device="cpu", preprocess=PreprocessConfig(input_size=32, train_crop=32))
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def unsplit_data(tmp_path_factory) -> Path:
    """40 distinct 32 px images in <CLASS>/ folders, no split named: a seed decides the split."""
    root = tmp_path_factory.mktemp("unsplit")
    for i in range(40):
        cls = "REAL" if i % 2 else "FAKE"
        (root / cls).mkdir(exist_ok=True)
        (root / cls / f"{i:02d}.png").write_bytes(png_bytes((32, 32), seed=100 + i))
    return root


@pytest.fixture(scope="module")
def seed5_run(unsplit_data, tmp_path_factory):
    return train(_config(unsplit_data, tmp_path_factory.mktemp("seed5")), show_bar=False)


def _digests(samples) -> set[str]:
    return {s.sha256 for s in samples}


def test_the_checkpoint_lists_the_sha256_of_every_training_image(unsplit_data, seed5_run):
    _, meta = load_checkpoint(seed5_run.checkpoint)
    train_split = [s for s in assign_splits(load_samples(unsplit_data), seed=5) if s.split == "train"]
    assert meta.trained_on == _digests(train_split)
    assert len(meta.trained_on) == seed5_run.metrics["counts"]["train"]


def test_evaluate_splits_with_the_checkpoints_seed_by_default(unsplit_data, seed5_run):
    result = evaluate(seed5_run.checkpoint, unsplit_data, device="cpu")
    assert result["split_seed"] == 5
    assert result["excluded_trained_on"] == 0 and result["warnings"] == []
    assert result["n"] == seed5_run.metrics["counts"]["test"]


def test_evaluating_with_another_seed_warns_and_still_leaves_the_training_images_out(unsplit_data, seed5_run):
    _, meta = load_checkpoint(seed5_run.checkpoint)
    other_test = [s for s in assign_splits(load_samples(unsplit_data), seed=0) if s.split == "test"]
    overlap = _digests(other_test) & meta.trained_on
    assert overlap, "seed 0 puts some of seed 5's training images in its test split"
    samples, report = unseen_split(meta, unsplit_data, "test", seed=0)
    assert report["excluded_trained_on"] == len(overlap)
    assert not _digests(samples) & meta.trained_on
    assert any("seed 5" in w for w in report["warnings"])
    result = evaluate(seed5_run.checkpoint, unsplit_data, device="cpu", seed=0)
    assert result["n"] == len(other_test) - len(overlap)


def test_evaluating_on_other_data_warns_that_the_split_is_not_the_held_out_one(tmp_path, unsplit_data, seed5_run):
    shutil.copytree(unsplit_data, tmp_path / "d")
    (tmp_path / "d" / "REAL" / "new.png").write_bytes(png_bytes((32, 32), seed=999))
    result = evaluate(seed5_run.checkpoint, tmp_path / "d", device="cpu")
    assert any("differs from the data the checkpoint was trained on" in w for w in result["warnings"])


def test_the_cli_evaluates_with_the_checkpoints_seed_and_prints_warnings(unsplit_data, seed5_run, capsys):
    from ml.cli import main

    assert main(["evaluate", "--checkpoint", str(seed5_run.checkpoint), "--data", str(unsplit_data),
                 "--device", "cpu", "--seed", "0"]) == 0
    err = capsys.readouterr().err
    assert "WARNING: The data was split with seed 0" in err


def test_fine_tuning_never_scores_the_base_models_training_images(unsplit_data, seed5_run, tmp_path):
    _, base = load_checkpoint(seed5_run.checkpoint)
    child = train(_config(unsplit_data, tmp_path / "child", seed=0, init_checkpoint=str(seed5_run.checkpoint)),
                  show_bar=False)
    samples = assign_splits(load_samples(unsplit_data), seed=0)
    in_base = {k: sum(1 for s in samples if s.split == k and s.sha256 in base.trained_on) for k in ("val", "test")}
    assert in_base["test"] > 0, "seed 0's test split holds some of the base model's training images"
    counts = child.metrics["counts"]
    assert counts["excluded_base_model_trained"] == in_base
    assert counts["test"] == sum(1 for s in samples if s.split == "test") - in_base["test"]
    _, meta = load_checkpoint(child.checkpoint)
    assert base.trained_on <= meta.trained_on, "the child lists its ancestors' training images too"
    result = evaluate(child.checkpoint, unsplit_data, device="cpu")
    assert result["excluded_trained_on"] == in_base["test"]


def _manifest(folder: Path, rows: list[tuple[str, str, str, bytes]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "MANIFEST.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split", "sha256"])
        for name, label, split, data in rows:
            (folder / name).write_bytes(data)
            w.writerow([name, label, split, hashlib.sha256(data).hexdigest()])
    return folder / "MANIFEST.csv"


def test_byte_identical_files_in_a_manifests_fixed_splits_are_regrouped(tmp_path):
    twin = png_bytes((32, 32), seed=7)
    rows = [(f"{i}.png", "real" if i % 2 else "ai_generated", ("train", "val", "test")[i % 3],
             png_bytes((32, 32), seed=20 + i)) for i in range(9)]
    rows += [("a.png", "real", "test", twin), ("b.png", "real", "train", twin), ("c.png", "real", "val", twin)]
    samples, moved = split_samples(load_samples(_manifest(tmp_path / "m", rows)))
    assert moved == 2
    assert {s.path.name: s.split for s in samples if s.path.name in {"a.png", "b.png", "c.png"}} == {
        "a.png": "train", "b.png": "train", "c.png": "train"}
    splits_of: dict[str, set[str]] = {}
    for s in samples:
        splits_of.setdefault(s.sha256, set()).add(s.split)
    assert all(len(v) == 1 for v in splits_of.values())


def test_a_run_without_a_validation_split_carves_one_from_training_and_says_so(tmp_path):
    rows = [(f"{i}.png", "real" if i % 2 else "ai_generated", "test" if i >= 20 else "train",
             png_bytes((32, 32), seed=300 + i)) for i in range(26)]
    result = train(_config(_manifest(tmp_path / "d", rows), tmp_path / "run"), show_bar=False)
    counts = result.metrics["counts"]
    assert counts["val_carved_from_train"] == counts["val"] > 0
    assert counts["train"] + counts["val"] == 20
    assert "no validation split" in result.metrics["notes"][0]
    assert result.metrics["val"]["n"] == counts["val"]


def test_a_run_too_small_to_carve_a_validation_split_is_refused(tmp_path):
    rows = [(f"{i}.png", "real" if i % 2 else "ai_generated", "test" if i >= 3 else "train",
             png_bytes((32, 32), seed=400 + i)) for i in range(5)]
    with pytest.raises(MLError, match="no validation split"):
        train(_config(_manifest(tmp_path / "d", rows), tmp_path / "run"), show_bar=False)


def test_validation_metrics_are_labelled_in_sample(seed5_run):
    val = seed5_run.metrics["val"]
    assert val["in_sample"] is True and "In-sample" in val["note"]
    _, meta = load_checkpoint(seed5_run.checkpoint)
    assert meta.metrics["val"]["in_sample"] is True
    assert "in_sample" not in meta.metrics["test"]


def test_a_model_fine_tuned_from_a_demo_model_is_a_demo_model(unsplit_data, tiny_checkpoint, tmp_path):
    assert load_checkpoint(tiny_checkpoint)[1].is_demo is True
    child = train(_config(unsplit_data, tmp_path / "child", init_checkpoint=str(tiny_checkpoint)), show_bar=False)
    assert load_checkpoint(child.checkpoint)[1].is_demo is True


def test_batch_size_one_is_refused_before_it_reaches_batchnorm(unsplit_data, tmp_path):
    with pytest.raises(MLError, match="at least 2"):
        train(_config(unsplit_data, tmp_path / "r", batch_size=1), show_bar=False)


def test_resuming_on_another_kind_of_device_is_refused(unsplit_data, tmp_path):
    # One step in epoch 1, then epoch 2 stops at once (max_steps): last.pt says epoch 1 finished.
    config = _config(unsplit_data, tmp_path / "r", epochs=2, keep_last_state=True)
    train(config, show_bar=False)
    state_path = tmp_path / "r" / STATE_FILE
    state = torch.load(state_path, weights_only=True)
    assert state["device_type"] == "cpu"
    state["device_type"] = "cuda"  # as if a GPU worker had trained the first epoch
    torch.save(state, state_path)
    with pytest.raises(MLError, match="trained on cuda"):
        train(config, show_bar=False, resume=True)
