"""Live step events of ml.train: they arrive within an epoch, are throttled by the clock, and stay
out of metrics.jsonl."""

import json
from typing import Any

import pytest

from ml.config import PreprocessConfig, TrainConfig
from ml.data.demo import generate_demo_dataset
from ml.train import train


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    # 10 pairs of 32 px images: 10 training images, 3 steps per epoch at batch 4 (4, 4, 2).
    return generate_demo_dataset(tmp_path_factory.mktemp("progress-data") / "d", pairs=10, size=32, seed=5)


def _config(data, out, **kw) -> TrainConfig:
    base: dict[str, Any] = dict(data=str(data), out_dir=str(out), epochs=2, batch_size=4, seed=1, device="cpu",
                preprocess=PreprocessConfig(input_size=32, train_crop=24))
    base.update(kw)
    return TrainConfig(**base)


def test_every_step_reports_its_running_loss_accuracy_and_eta_when_unthrottled(tiny_data, tmp_path):
    events: list[dict] = []
    train(_config(tiny_data, tmp_path, progress_every_s=0), progress=events.append, show_bar=False)
    kinds = [e["event"] for e in events]
    assert kinds == ["step"] * 3 + ["epoch"] + ["step"] * 3 + ["epoch", "done"]
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, 7))
    assert [e["epoch"] for e in steps] == [1] * 3 + [2] * 3
    assert all(e["epochs"] == 2 and e["total_steps"] == 6 for e in steps)
    assert all(e["train_loss"] > 0 and 0 <= e["train_accuracy"] <= 1 for e in steps)
    assert all(e["eta_s"] >= 0 for e in steps) and steps[-1]["eta_s"] == 0
    # The last step of an epoch carries the same running averages as that epoch's summary.
    epoch_one = events[3]
    assert steps[2]["train_loss"] == pytest.approx(epoch_one["train_loss"])
    assert steps[2]["train_accuracy"] == pytest.approx(epoch_one["train_accuracy"])
    logged = [json.loads(line)["event"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert logged == ["epoch", "epoch", "done"]


def test_step_events_are_throttled_but_the_last_step_of_each_epoch_is_always_reported(tiny_data, tmp_path):
    now = [0.0]

    def one_second_per_step() -> bool:  # should_stop runs before every step: advance the fake clock
        now[0] += 1.0
        return False

    events: list[dict] = []
    # Batch 2: 5 steps per epoch, 10 in all.
    train(_config(tiny_data, tmp_path, batch_size=2, progress_every_s=2.5), progress=events.append,
          show_bar=False, should_stop=one_second_per_step, clock=lambda: now[0])
    steps = [e for e in events if e["event"] == "step"]
    # t = step number: a report once 2.5 s have passed since the last one (steps 3 and 8), and
    # steps 5 and 10, which end the epochs.
    assert [e["step"] for e in steps] == [3, 5, 8, 10]
    assert [e["elapsed_s"] for e in steps] == [3.0, 5.0, 8.0, 10.0]
    assert steps[0]["eta_s"] == pytest.approx(3.0 * 7 / 3)


def test_the_throttle_interval_may_change_when_resuming(tiny_data, tmp_path):
    config = _config(tiny_data, tmp_path, epochs=1, keep_last_state=True)
    train(config, show_bar=False)
    events: list[dict] = []
    train(_config(tiny_data, tmp_path, epochs=1, keep_last_state=True, progress_every_s=0),
          progress=events.append, show_bar=False, resume=True)
    assert [e["event"] for e in events] == ["resumed", "done"]
