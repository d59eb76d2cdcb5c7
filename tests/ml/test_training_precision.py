"""The training precision (issue 17): fp32 or bf16 autocast, ``auto`` decided by the capability
check of ml.precision, recorded in the run's metrics, and kept when a run is resumed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

import ml.precision
import ml.train
from ml.cli import build_parser, train_config_from_args
from ml.config import PreprocessConfig, TrainConfig
from ml.data.demo import generate_demo_dataset
from ml.errors import MLError, TrainingCancelled
from ml.precision import CpuFeatures
from ml.recipe import RecipeConfig
from ml.train import STATE_FILE, load_training_state, resolve_train_precision, train

CPU = torch.device("cpu")
NATIVE = CpuFeatures(flags=frozenset({"avx512f", "avx512_bf16"}), mkldnn=True, quantized_engines=("x86",))
EMULATED = CpuFeatures(flags=frozenset({"avx512f"}), mkldnn=True, quantized_engines=("x86",))


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    # 10 pairs of 32 px images: 14 training images, one step per epoch at batch 16.
    return generate_demo_dataset(tmp_path_factory.mktemp("precision-data") / "d", pairs=10, size=32, seed=5)


def _config(data, out, **kw: Any) -> TrainConfig:
    base: dict[str, Any] = dict(data=str(data), out_dir=str(out), epochs=1, batch_size=16, seed=3, device="cpu",
                                preprocess=PreprocessConfig(input_size=32, train_crop=32))
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture
def head_dtypes(monkeypatch):
    """The dtype of every output of the classifier head while the model is in train mode, seen by
    a forward hook on the model ml.train builds (evaluation runs in fp32 and is not recorded)."""
    seen: list[torch.dtype] = []
    build = ml.train.build_model

    def build_with_hook(cfg):  # type: ignore[no-untyped-def]
        model = build(cfg)
        model.fc.register_forward_hook(lambda mod, _in, out: seen.append(out.dtype) if mod.training else None)
        return model

    monkeypatch.setattr(ml.train, "build_model", build_with_hook)
    return seen


@pytest.fixture
def cpu_has(monkeypatch):
    """Make the capability check of ml.precision (the one rule inference uses) report ``features``."""
    def use(features: CpuFeatures) -> None:
        monkeypatch.setattr(ml.precision, "cpu_features", lambda: features)
    return use


def test_the_setting_is_validated_round_trips_and_reads_old_amp_configs():
    config = TrainConfig(precision="bf16")
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(MLError, match="precision must be auto, fp32, bf16, not 'fp16'"):
        TrainConfig(precision="fp16").validate()
    old = TrainConfig().to_dict()
    del old["precision"]
    assert TrainConfig.from_dict({**old, "amp": False}).precision == "fp32"  # --no-amp: never autocast
    assert TrainConfig.from_dict({**old, "amp": True}).precision == "auto"  # bf16 on CUDA, as before


def test_both_command_lines_take_train_precision():
    args = build_parser().parse_args(["train", "--data", "d", "--train-precision", "bf16"])
    assert train_config_from_args(args).precision == "bf16"
    assert train_config_from_args(build_parser().parse_args(["train", "--data", "d"])).precision == "auto"
    args = build_parser().parse_args(["recipe", "--train-precision", "fp32"])
    assert args.train_precision == "fp32"
    assert RecipeConfig(train_precision="fp32").train_config(Path("m.csv")).precision == "fp32"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["recipe", "--train-precision", "fp16"])


def test_auto_on_a_cpu_trains_in_bf16_only_where_it_is_native_and_the_measurement_allows(monkeypatch, cpu_has):
    monkeypatch.setattr(ml.train, "CPU_AUTO_BF16", True)
    cpu_has(EMULATED)
    chosen = resolve_train_precision("auto", CPU)
    assert (chosen.precision, chosen.reason) == ("fp32", "bf16 is not native on this cpu")
    cpu_has(NATIVE)
    assert resolve_train_precision("auto", CPU).precision == "bf16"
    monkeypatch.setattr(ml.train, "CPU_AUTO_BF16", False)
    assert resolve_train_precision("auto", CPU).precision == "fp32"
    # The explicit settings do not depend on the measurement; bf16 without native support is
    # emulated (slow, but the same arithmetic) and says so.
    assert resolve_train_precision("fp32", CPU).precision == "fp32"
    cpu_has(EMULATED)
    emulated = resolve_train_precision("bf16", CPU)
    assert emulated.precision == "bf16" and "not native" in emulated.reason


def test_bf16_is_refused_on_a_cuda_device_without_it_and_auto_uses_fp32_there(monkeypatch):
    monkeypatch.setattr(ml.train, "native_precisions", lambda device: ["fp32"])
    with pytest.raises(MLError, match="does not support bf16"):
        resolve_train_precision("bf16", torch.device("cuda"))
    assert resolve_train_precision("auto", torch.device("cuda")).precision == "fp32"
    monkeypatch.setattr(ml.train, "native_precisions", lambda device: ["fp32", "bf16"])
    assert resolve_train_precision("auto", torch.device("cuda")).precision == "bf16"


@pytest.mark.parametrize("requested, features", [("fp32", NATIVE), ("auto", EMULATED)])
def test_fp32_and_auto_without_native_bf16_never_autocast(tiny_data, tmp_path, monkeypatch, cpu_has, head_dtypes,
                                                           requested, features):
    monkeypatch.setattr(ml.train, "CPU_AUTO_BF16", True)  # even where auto would otherwise pick bf16
    cpu_has(features)
    result = train(_config(tiny_data, tmp_path, precision=requested), show_bar=False)
    assert head_dtypes and set(head_dtypes) == {torch.float32}
    assert result.metrics["training_precision"] == {
        **resolve_train_precision(requested, CPU).to_dict(), "logits_dtype": "float32"}


def test_bf16_on_the_cpu_autocasts_and_the_run_records_it(tiny_data, tmp_path, head_dtypes):
    result = train(_config(tiny_data, tmp_path, precision="bf16"), show_bar=False)
    assert head_dtypes and set(head_dtypes) == {torch.bfloat16}
    recorded = result.metrics["training_precision"]
    assert (recorded["precision"], recorded["requested"], recorded["logits_dtype"]) == ("bf16", "bf16", "bfloat16")
    weights = torch.load(result.checkpoint, weights_only=True)["state_dict"]
    assert weights["fc.weight"].dtype == torch.float32, "autocast keeps the weights in fp32"


@pytest.fixture
def bf16_interrupted(tiny_data, tmp_path, cpu_has):
    """A bf16 run cancelled in epoch 2: last.pt holds epoch 1, trained in bf16."""
    cpu_has(NATIVE)
    config = _config(tiny_data, tmp_path, epochs=2, precision="bf16", keep_last_state=True)
    calls: list[int] = []
    with pytest.raises(TrainingCancelled):
        train(config, show_bar=False, should_stop=lambda: bool(calls.append(1)) or len(calls) > 1)
    assert load_training_state(tmp_path / STATE_FILE)["precision"]["precision"] == "bf16"
    return config


def test_resuming_in_another_precision_is_refused(bf16_interrupted):
    with pytest.raises(MLError, match="trained in bf16, and resuming in fp32"):
        train(replace(bf16_interrupted, precision="fp32"), show_bar=False, resume=True)


def test_resuming_with_auto_continues_in_the_precision_the_run_trained_in(bf16_interrupted, head_dtypes,
                                                                          monkeypatch):
    monkeypatch.setattr(ml.train, "CPU_AUTO_BF16", False)  # auto alone would now choose fp32
    resumed = train(replace(bf16_interrupted, precision="auto"), show_bar=False, resume=True)
    assert head_dtypes and set(head_dtypes) == {torch.bfloat16}
    assert resumed.metrics["training_precision"]["precision"] == "bf16"


def test_a_state_from_before_precisions_were_recorded_resumes_as_fp32_on_the_cpu(tiny_data, tmp_path):
    config = _config(tiny_data, tmp_path, epochs=2, precision="fp32", keep_last_state=True)
    calls: list[int] = []
    with pytest.raises(TrainingCancelled):
        train(config, show_bar=False, should_stop=lambda: bool(calls.append(1)) or len(calls) > 1)
    state = load_training_state(tmp_path / STATE_FILE)
    del state["precision"]
    state["config"].pop("precision")
    state["config"]["amp"] = True  # what a run before this setting saved: bf16 on CUDA only
    torch.save(state, tmp_path / STATE_FILE)
    with pytest.raises(MLError, match="trained in fp32, and resuming in bf16"):
        train(replace(config, precision="bf16"), show_bar=False, resume=True)
    resumed = train(replace(config, precision="auto"), show_bar=False, resume=True)
    assert resumed.metrics["training_precision"]["precision"] == "fp32"


def test_bf16_is_not_used_where_the_cpu_computes_its_convolution_gradients_wrong(tiny_data, tmp_path, monkeypatch,
                                                                                 cpu_has, head_dtypes):
    from ml.config import ModelConfig
    from ml.model import build_model
    from ml.train import bf16_conv_hazards

    # At 16 px the ImageNet stem leaves layer4's stride-2 3x3 a 1 x 1 input; at 32 px it sees 2 x 2.
    assert bf16_conv_hazards(build_model(ModelConfig()), 16) == ["layer4.0.conv2"]
    assert bf16_conv_hazards(build_model(ModelConfig()), 32) == []
    assert bf16_conv_hazards(build_model(ModelConfig(stem="small")), 16) == []
    small = dict(preprocess=PreprocessConfig(input_size=16, train_crop=16))
    with pytest.raises(MLError, match="1-pixel input"):
        train(_config(tiny_data, tmp_path / "asked", precision="bf16", **small), show_bar=False)
    monkeypatch.setattr(ml.train, "CPU_AUTO_BF16", True)
    cpu_has(NATIVE)
    result = train(_config(tiny_data, tmp_path / "auto", precision="auto", **small), show_bar=False)
    assert set(head_dtypes) == {torch.float32}
    assert result.metrics["training_precision"]["precision"] == "fp32"
    assert "layer4.0.conv2 sees 1 pixel" in result.metrics["training_precision"]["reason"]


def test_the_cpu_bf16_gradient_fault_that_guard_is_for_is_real():
    """What bf16_conv_hazards guards against, on this torch: a stride-2 3x3 convolution on a 1 x 1
    input. Only the centre tap meets data, so every other tap's weight gradient is exactly 0 in fp32;
    under bf16 autocast they come back nonzero or non-finite. If a torch upgrade fixes it, this test
    says so and the guard can go."""
    torch.manual_seed(0)
    wrong = 0
    for _ in range(20):
        conv = torch.nn.Conv2d(512, 512, 3, stride=2, padding=1, bias=False).to(memory_format=torch.channels_last)
        x = torch.randn(32, 512, 1, 1).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = conv(x)
        y.float().sum().backward()
        assert conv.weight.grad is not None
        off_centre = conv.weight.grad.clone()
        off_centre[:, :, 1, 1] = 0
        wrong += int(not bool((off_centre == 0).all()))
    if "bf16" not in ml.precision.native_precisions(CPU):
        pytest.skip("measured where bf16 is native (oneDNN's AVX512-BF16/AMX kernels)")
    assert wrong > 0, "the bf16 weight-gradient fault is gone from this torch: bf16_conv_hazards may be dropped"
