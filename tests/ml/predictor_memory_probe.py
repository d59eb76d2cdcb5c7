"""Run in its own process by tests/ml/test_predictor_memory.py, as a worker process runs: one
long-lived Predictor that explains once and then predicts ``CALLS`` times. Prints one JSON line:
live tensors and resident memory after call 100 and after the last call."""

from __future__ import annotations

import gc
import json
import os
import sys
import warnings
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from ml.checkpoint import CheckpointMeta, save_checkpoint
from ml.config import ModelConfig, PreprocessConfig
from ml.model import build_model
from ml.predict import Predictor


def live_tensors() -> int:
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if _is_tensor(o))


def _is_tensor(o: object) -> bool:
    try:
        return isinstance(o, torch.Tensor)
    except ReferenceError:
        return False


def rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class SmallNet(nn.Module):
    """ResNet50's shape in miniature: a stem, ``layer4`` (whose last block Grad-CAM hooks), global
    average pooling and a two-class head, so a thousand calls take seconds, not minutes. The
    Predictor, its Grad-CAM engine and their hooks are the ones the worker serves with."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU())
        self.layer4 = nn.Sequential(nn.Sequential(nn.Conv2d(16, 64, 3, stride=2, padding=1), nn.ReLU()))
        self.fc = nn.Linear(64, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layer4(self.stem(x)).mean(dim=(2, 3)))


def main(folder: str, calls: int) -> None:
    torch.manual_seed(0)
    checkpoint = save_checkpoint(Path(folder) / "model.pt", build_model(ModelConfig()).eval(),
                                 CheckpointMeta(model=ModelConfig(), preprocess=PreprocessConfig(input_size=32)))
    predictor = Predictor(checkpoint, device="cpu")
    predictor.model = SmallNet().eval()  # layer4 output: 64 x 8 x 8 floats, 16 KB an image
    images = [Image.new("RGB", (32, 32), (40 * i, 90, 200 - 30 * i)) for i in range(4)]
    predictor.explain(images)  # attaches the Grad-CAM engine, as the analysis task does
    marks = {}
    for n in range(1, calls + 1):
        predictor.predict(images)
        if n in (100, calls):
            marks[n] = {"tensors": live_tensors(), "rss": rss_bytes()}
    print(json.dumps({"first": marks[100], "last": marks[calls]}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
