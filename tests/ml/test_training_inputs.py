"""What a training run starts from: a base checkpoint's weights (same architecture only), and a
train split that BatchNorm can handle (no lone last image, at least two images)."""

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from ml.config import ModelConfig, PreprocessConfig, TrainConfig
from ml.data.demo import generate_demo_dataset
from ml.errors import MLError
from ml.model import build_model
from ml.train import seed_everything, train
from tests.images import png_bytes


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return generate_demo_dataset(tmp_path_factory.mktemp("inputs-data") / "d", pairs=10, size=32, seed=5)


def _config(data, out, **kw) -> TrainConfig:
    base: dict[str, Any] = dict(data=str(data), out_dir=str(out), epochs=1, batch_size=8, seed=3, device="cpu",
                preprocess=PreprocessConfig(input_size=32, train_crop=24))
    base.update(kw)
    return TrainConfig(**base)


def _parameters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The learnt weights only: BatchNorm's running statistics move in any forward pass."""
    names = {name for name, _ in build_model(ModelConfig()).named_parameters()}
    return {k: v for k, v in state.items() if k in names}


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a)


def test_a_run_starts_from_the_base_checkpoint_and_records_it(tiny_data, tiny_checkpoint, tmp_path):
    base = _parameters(torch.load(tiny_checkpoint, weights_only=True)["state_dict"])
    # A learning rate so small that the run cannot move the weights measurably from where it began.
    result = train(_config(tiny_data, tmp_path, lr=1e-10, init_checkpoint=str(tiny_checkpoint)), show_bar=False)
    payload = torch.load(result.checkpoint, weights_only=True)
    assert _close(_parameters(payload["state_dict"]), base)
    seed_everything(3)  # what the same run starts from without a base checkpoint is far from it
    assert not _close(_parameters(build_model(ModelConfig()).state_dict()), base)
    assert payload["train_config"]["init_checkpoint"] == str(tiny_checkpoint)
    assert json.loads((tmp_path / "config.json").read_text())["init_checkpoint"] == str(tiny_checkpoint)


def test_a_base_checkpoint_of_another_architecture_or_kind_is_refused(tiny_data, tiny_checkpoint, tmp_path):
    payload = torch.load(tiny_checkpoint, weights_only=True)
    payload["architecture"] = "vit_b_16"
    other = tmp_path / "vit.pt"
    torch.save(payload, other)
    with pytest.raises(MLError, match="vit_b_16 model .* same architecture"):
        train(_config(tiny_data, tmp_path / "run", init_checkpoint=str(other)), show_bar=False)
    assert not (tmp_path / "run" / "model.pt").exists()
    plain = tmp_path / "imagenet.pt"
    torch.save(build_model(ModelConfig()).state_dict(), plain)
    with pytest.raises(MLError, match="not a Verity checkpoint"):
        train(_config(tiny_data, tmp_path / "run", init_checkpoint=str(plain)), show_bar=False)
    with pytest.raises(MLError, match="not both"):
        _config(tiny_data, tmp_path, init_checkpoint=str(tiny_checkpoint),
                model=ModelConfig(pretrained_weights=str(plain))).validate()


def _split_folder(root: Path, train_counts: tuple[int, int]) -> Path:
    """<root>/<split>/<class>/*.png with ``train_counts`` (real, fake) training images."""
    seed = 0
    counts = {"train": train_counts, "val": (1, 1), "test": (1, 1)}
    for split, (real, fake) in counts.items():
        for label, n in (("real", real), ("fake", fake)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for _ in range(n):
                seed += 1
                (folder / f"{seed}.png").write_bytes(png_bytes(size=(32, 32), seed=seed))
    return root


def test_a_last_batch_of_one_training_image_is_dropped_instead_of_crashing_batchnorm(tmp_path):
    # 5 training images at batch 2: the old loader's third batch held one image, and BatchNorm in
    # train mode raised on its 1x1 feature maps ("Expected more than 1 value per channel").
    data = _split_folder(tmp_path / "odd", (3, 2))
    events: list[dict] = []
    result = train(_config(data, tmp_path / "run", epochs=2, batch_size=2), progress=events.append, show_bar=False)
    assert result.checkpoint.is_file() and result.metrics["counts"]["train"] == 5
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [(e["step"], e["total_steps"]) for e in epochs] == [(2, 4), (4, 4)]


def test_a_train_split_of_fewer_than_two_images_is_refused(tmp_path):
    data = _split_folder(tmp_path / "one", (1, 0))
    with pytest.raises(MLError, match="1 training image.*at least 2"):
        train(_config(data, tmp_path / "run"), show_bar=False)
