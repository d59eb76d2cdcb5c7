"""Helpers of the training task (worker.tasks.train_model): the run's training config, the
cancel poll, and the heartbeat that tells the sweeper the task is alive."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from ml.config import ModelConfig, PreprocessConfig, TrainConfig
from verification import services
from verification.models import TrainingRun

from .heartbeat import beating


def training_config(run: TrainingRun, out_dir: Path) -> TrainConfig:
    """The run's hyperparameters as an ml TrainConfig. It starts from the run's base model when
    one is set, else from the configured local ImageNet weights (VERITY_PRETRAINED_WEIGHTS), else
    from random weights."""
    hp = run.hyperparameters
    base = run.base_model.checkpoint if run.base_model is not None else None
    return TrainConfig(
        data=run.dataset.path, out_dir=str(out_dir), epochs=hp["epochs"], batch_size=hp["batch_size"],
        lr=hp["lr"], seed=hp["seed"], device=settings.VERITY_DEVICE or "auto", init_checkpoint=base,
        progress_every_s=settings.VERITY_TRAINING_PROGRESS_EVERY_S,
        model=ModelConfig(pretrained_weights=None if base else (settings.VERITY_PRETRAINED_WEIGHTS or None)),
        preprocess=PreprocessConfig(input_size=hp["input_size"], train_crop=hp["train_crop"]))


def cancel_poll(run_id: int) -> Callable[[], bool]:
    """``should_stop`` for ml.train: called before every step, it reads the cancel flag from the
    database at most every VERITY_TRAINING_CANCEL_POLL_S seconds."""
    poll_s = settings.VERITY_TRAINING_CANCEL_POLL_S
    last_check = [0.0, False]

    def should_stop() -> bool:
        now = time.monotonic()
        if now - last_check[0] >= poll_s:
            last_check[0] = now
            last_check[1] = services.training_cancel_requested(run_id=run_id)
        return bool(last_check[1])

    return should_stop


@contextmanager
def heartbeat(run_id: int, every_s: float | None = None) -> Iterator[None]:
    """Touch the run every ``every_s`` seconds (default VERITY_TRAINING_STALE_S / 5) from a thread
    while the block runs, so that phases without progress events (loading the data, validation,
    the final evaluation) never look like a dead worker. The thread dies with the process: a
    killed worker stops beating, which is what the sweeper detects."""
    interval = every_s if every_s is not None else settings.VERITY_TRAINING_STALE_S / 5
    with beating(lambda: services.training_run_heartbeat(run_id=run_id), every_s=interval,
                 name=f"training-heartbeat-{run_id}"):
        yield
