"""Training: seeded reproducibility, resuming, cancellation, early stopping and the schedule."""

import json
import math
from typing import Any

import pytest
import torch

from ml.config import PreprocessConfig, TrainConfig
from ml.data.demo import generate_demo_dataset
from ml.errors import MLError, TrainingCancelled
from ml.train import STATE_FILE, EarlyStopping, _lr_at, load_training_state, train


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    # 10 pairs of 32 px images: 14 training images, one step per epoch at batch 16.
    return generate_demo_dataset(tmp_path_factory.mktemp("train-data") / "d", pairs=10, size=32, seed=5)


def _config(data, out, **kw) -> TrainConfig:
    base: dict[str, Any] = dict(data=str(data), out_dir=str(out), epochs=2, batch_size=16, lr=1e-3, seed=3, device="cpu",
                warmup_epochs=0.5, label_smoothing=0.1, jpeg_prob=0.5, blur_prob=0.5,
                preprocess=PreprocessConfig(input_size=32, train_crop=24))
    base.update(kw)
    return TrainConfig(**base)


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _same_weights(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference_run(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    return train(_config(tiny_data, out, keep_last_state=True), show_bar=False)


def test_two_runs_with_the_same_seed_give_identical_weights_and_metrics(tiny_data, reference_run, tmp_path):
    again = train(_config(tiny_data, tmp_path), show_bar=False)
    assert not (tmp_path / STATE_FILE).exists(), "a finished run removes its resume state"
    assert _same_weights(_weights(reference_run.checkpoint), _weights(again.checkpoint))
    assert again.metrics == reference_run.metrics


def test_a_run_cancelled_in_epoch_two_and_resumed_equals_an_uninterrupted_run(tiny_data, reference_run, tmp_path):
    calls = []

    def stop_in_second_epoch() -> bool:
        calls.append(1)
        return len(calls) > 1  # epoch 1 is one step; the first step of epoch 2 is refused

    config = _config(tiny_data, tmp_path, keep_last_state=True)
    with pytest.raises(TrainingCancelled, match="Resume from"):
        train(config, show_bar=False, should_stop=stop_in_second_epoch)
    state = load_training_state(tmp_path / STATE_FILE)
    assert (state["epoch"], state["step"]) == (1, 1)
    assert not (tmp_path / "model.pt").exists()

    resumed = train(config, show_bar=False, resume=True)
    assert _same_weights(_weights(reference_run.checkpoint), _weights(resumed.checkpoint))
    assert resumed.metrics == reference_run.metrics
    events = [json.loads(line)["event"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert events == ["epoch", "cancelled", "resumed", "epoch", "done"]


def test_the_training_state_loads_with_weights_only_and_holds_what_resuming_needs(reference_run):
    state = torch.load(reference_run.checkpoint.parent / STATE_FILE, weights_only=True)
    assert {"model", "optimizer", "epoch", "step", "best_state", "best_val", "rng"} <= state.keys()
    assert state["epoch"] == 2 and state["step"] == 2
    assert state["optimizer"]["state"], "optimizer moments are saved"


def test_resuming_with_a_changed_config_is_refused(tiny_data, reference_run):
    config = _config(tiny_data, reference_run.checkpoint.parent, lr=5e-4)
    with pytest.raises(MLError, match="differs .* in lr"):
        train(config, show_bar=False, resume=True)


def test_cancelling_before_any_step_raises_a_clear_error(tiny_data, tmp_path):
    with pytest.raises(TrainingCancelled, match="nothing to resume"):
        train(_config(tiny_data, tmp_path), show_bar=False, should_stop=lambda: True)


def test_early_stopping_ends_the_run_after_patience_epochs_without_improvement(tiny_data, tmp_path):
    train(_config(tiny_data, tmp_path, epochs=3, early_stopping_patience=1), show_bar=False)
    events = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [e["val_loss"] for e in events if e["event"] == "epoch"]
    # Replay the rule on the logged losses: stop at the first epoch that does not improve.
    expected = next((i + 1 for i in range(1, len(losses)) if losses[i] >= min(losses[:i]) - 1e-6), 3)
    assert len(losses) == expected
    assert any(e["event"] == "early_stop" for e in events) == (expected < 3 or losses[2] >= min(losses[:2]) - 1e-6)


def test_the_early_stopping_rule_counts_epochs_without_improvement():
    stopper = EarlyStopping(patience=2)
    assert stopper.update(1.0) == (True, False)
    assert stopper.update(1.2) == (False, False)
    assert stopper.update(0.9) == (True, False)
    assert stopper.update(0.95) == (False, False)
    assert stopper.update(0.9) == (False, True)
    assert EarlyStopping(patience=0).update(5.0) == (True, False)


def test_the_learning_rate_warms_up_linearly_then_decays_on_a_cosine():
    total, warmup, base = 100, 10, 0.1
    assert [_lr_at(s, total, warmup, base) for s in (0, 4, 9)] == pytest.approx([0.01, 0.05, 0.1])
    assert _lr_at(10, total, warmup, base) == pytest.approx(0.1)
    assert _lr_at(55, total, warmup, base) == pytest.approx(0.05)
    assert _lr_at(100, total, warmup, base) == pytest.approx(0.0, abs=1e-12)
    assert _lr_at(30, total, 0, base) == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.3)))


def test_augmentation_settings_are_validated_and_saved_with_the_run(reference_run):
    config = json.loads((reference_run.checkpoint.parent / "config.json").read_text())
    assert (config["jpeg_prob"], config["blur_prob"], config["jpeg_quality"]) == (0.5, 0.5, [30, 100])
    with pytest.raises(MLError, match="jpeg_prob"):
        TrainConfig(data="x", jpeg_prob=1.5).validate()


def test_batchnorm_recalibration_sets_the_plain_average_of_the_batches_statistics():
    from torch import nn

    from ml.train import recalibrate_batchnorm

    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm2d(3))
    model[0].momentum = 0.25
    batches = [(torch.randn(4, 3, 5, 5) * (i + 1) + i, torch.zeros(4)) for i in range(3)]
    recalibrate_batchnorm(model, batches, torch.device("cpu"), batches=2)
    used = [x for x, _ in batches[:2]]
    expected_mean = torch.stack([x.mean(dim=(0, 2, 3)) for x in used]).mean(0)
    expected_var = torch.stack([x.var(dim=(0, 2, 3), unbiased=True) for x in used]).mean(0)
    assert torch.allclose(model[0].running_mean, expected_mean, atol=1e-5)
    assert torch.allclose(model[0].running_var, expected_var, atol=1e-4)
    assert model[0].momentum == 0.25 and not model.training


def test_residual_blocks_start_as_the_identity_when_training_from_scratch():
    from ml.config import ModelConfig
    from ml.model import build_model

    model = build_model(ModelConfig())
    assert all(float(block.bn3.weight.detach().abs().sum()) == 0.0 for layer in (model.layer1, model.layer4) for block in layer)
    assert float(build_model(ModelConfig(zero_init_residual=False)).layer1[0].bn3.weight.detach().abs().sum()) > 0


def test_augmentation_options_reach_the_training_images(tiny_data):
    from ml.train import _loader

    def first_batch(**kw):
        config = _config(tiny_data, "unused", hflip=False, **kw)
        from ml.data import load_samples

        train_samples = [s for s in load_samples(tiny_data) if s.split == "train"][:4]
        loader = _loader(train_samples, config, train=True, generator=torch.Generator().manual_seed(0))
        return loader.dataset[0][0]

    plain = first_batch(jpeg_prob=0.0, blur_prob=0.0)
    assert torch.equal(plain, first_batch(jpeg_prob=0.0, blur_prob=0.0))
    assert not torch.equal(plain, first_batch(jpeg_prob=1.0, jpeg_quality=(30, 30), blur_prob=0.0))
    blurred = first_batch(jpeg_prob=0.0, blur_prob=1.0, blur_sigma=(2.0, 2.0))
    # Blur removes high frequencies: neighbouring pixels differ less.
    assert blurred.diff(dim=-1).abs().mean() < plain.diff(dim=-1).abs().mean()
