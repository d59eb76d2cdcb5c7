"""The tiles-per-forward batch: measured fastest per tile unless fixed (ml.tilebatch)."""

import pytest
import torch
from torch import nn

from ml import tilebatch
from ml.checkpoint import CheckpointMeta, save_checkpoint
from ml.config import ModelConfig, PreprocessConfig
from ml.model import build_model
from ml.predict import Predictor


@pytest.fixture(autouse=True)
def _forget_measurements(monkeypatch):
    monkeypatch.setattr(tilebatch, "_measured", {})


def _fake_timer(ms_per_tile: dict[int, float], calls: list[int]):
    def time_forward(model: nn.Module, batch: torch.Tensor, rounds: int = 3) -> float:
        calls.append(len(batch))
        return ms_per_tile[len(batch)] * len(batch) / 1e3
    return time_forward


def test_the_batch_with_the_lowest_time_per_tile_is_chosen(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(tilebatch, "time_forward", _fake_timer({8: 44.0, 16: 47.0, 32: 49.5}, calls))
    chosen, per_tile = tilebatch.choose_tile_batch(nn.Identity(), torch.device("cpu"), input_size=32,
                                                   precision="fp32")
    assert chosen == 8 and per_tile == {8: 44.0, 16: 47.0, 32: 49.5}
    assert calls == [8, 16, 32]  # smallest first


def test_a_larger_batch_wins_when_it_is_faster_per_tile(monkeypatch):
    monkeypatch.setattr(tilebatch, "time_forward", _fake_timer({8: 9.0, 16: 6.0, 32: 5.0}, []))
    assert tilebatch.choose_tile_batch(nn.Identity(), torch.device("cpu"), input_size=32,
                                       precision="fp32")[0] == 32


def test_a_larger_batch_must_be_clearly_faster_to_be_chosen(monkeypatch):
    # 16 is 4.5 % faster than 8 (within the margin: a near tie), 32 is 10 % faster than 8.
    monkeypatch.setattr(tilebatch, "time_forward", _fake_timer({8: 44.0, 16: 42.0, 32: 43.0}, []))
    assert tilebatch.choose_tile_batch(nn.Identity(), torch.device("cpu"), input_size=32,
                                       precision="fp32")[0] == 8
    monkeypatch.setattr(tilebatch, "_measured", {})
    monkeypatch.setattr(tilebatch, "time_forward", _fake_timer({8: 44.0, 16: 42.0, 32: 39.6}, []))
    assert tilebatch.choose_tile_batch(nn.Identity(), torch.device("cpu"), input_size=32,
                                       precision="fp32")[0] == 32


def test_a_tie_goes_to_the_smaller_batch_and_a_process_measures_once(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(tilebatch, "time_forward", _fake_timer({8: 5.0, 16: 5.0, 32: 5.0}, calls))
    for _ in range(3):
        assert tilebatch.choose_tile_batch(nn.Identity(), torch.device("cpu"), input_size=32,
                                           precision="bf16")[0] == 8
    assert len(calls) == 3  # once per candidate, not once per call
    # Another input size or precision is another measurement.
    tilebatch.choose_tile_batch(nn.Identity(), torch.device("cpu"), input_size=64, precision="bf16")
    assert len(calls) == 6


def test_the_measurement_stops_before_it_would_overrun_its_time_budget(monkeypatch):
    calls: list[int] = []
    # 400 ms a tile (a 512 px model on one core): 8 tiles twice is 6.4 s; 16 more would pass 10 s.
    monkeypatch.setattr(tilebatch, "time_forward", _fake_timer({8: 400.0, 16: 380.0, 32: 360.0}, calls))
    chosen, per_tile = tilebatch.choose_tile_batch(nn.Identity(), torch.device("cpu"), input_size=512,
                                                   precision="fp32")
    assert calls == [8] and chosen == 8 and per_tile == {8: 400.0}
    # 50 ms a tile: 8 and 16 fit (0.8 + 1.6 s), 32 would bring it to 5.6 s: all three fit.
    monkeypatch.setattr(tilebatch, "_measured", {})
    calls.clear()
    monkeypatch.setattr(tilebatch, "time_forward", _fake_timer({8: 50.0, 16: 50.0, 32: 50.0}, calls))
    tilebatch.choose_tile_batch(nn.Identity(), torch.device("cpu"), input_size=224, precision="fp32")
    assert calls == [8, 16, 32]


def test_a_gpu_is_offered_larger_batches_than_a_cpu():
    assert min(tilebatch.candidates_for(torch.device("cuda"))) > max(tilebatch.candidates_for(torch.device("cpu"))) / 2
    assert tilebatch.candidates_for(torch.device("cpu")) == tilebatch.CPU_CANDIDATES


def test_the_predictor_measures_its_real_model_unless_a_batch_is_fixed(tmp_path, monkeypatch):
    ckpt = save_checkpoint(tmp_path / "m.pt", build_model(ModelConfig()), CheckpointMeta(
        model=ModelConfig(), preprocess=PreprocessConfig(input_size=32), name="t"))
    p = Predictor(ckpt, device="cpu")
    assert p.tile_batch(12) == 12 and p.tile_batch_ms == {}
    chosen = p.tile_batch(0)
    assert chosen in tilebatch.CPU_CANDIDATES
    # Which candidates fit the time budget depends on the machine's load (the rule is tested above
    # with a fake clock); the smallest is always measured, the choice among those measured.
    assert min(tilebatch.CPU_CANDIDATES) in p.tile_batch_ms and chosen in p.tile_batch_ms
    assert set(p.tile_batch_ms) <= set(tilebatch.CPU_CANDIDATES)
    assert all(ms > 0 for ms in p.tile_batch_ms.values())
    # The choice is the fastest, or a smaller batch within the margin of it.
    assert all(p.tile_batch_ms[chosen] * (1 - tilebatch.LARGER_BATCH_MARGIN) <= ms for ms in p.tile_batch_ms.values())
