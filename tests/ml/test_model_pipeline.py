import json

import numpy as np
import pytest
import torch

from ml import CLASSES
from ml.checkpoint import SCHEMA_VERSION, load_checkpoint, read_checkpoint, save_checkpoint
from ml.data import load_samples
from ml.data.demo import generate_demo_dataset
from ml.errors import MLError
from ml.predict import Predictor
from ml.preprocess import center_crop
from tests.images import jpeg_bytes, photo_like, png_bytes


def test_checkpoints_describe_themselves_and_load_with_weights_only(tiny_checkpoint):
    payload = torch.load(tiny_checkpoint, weights_only=True)
    assert payload["schema_version"] == SCHEMA_VERSION
    assert payload["architecture"] == "resnet50"
    assert payload["classes"] == list(CLASSES)
    assert payload["preprocess"]["input_size"] == 64
    assert payload["is_demo"] is True
    assert len(payload["data_fingerprint"]) == 64
    assert payload["train_config"]["max_steps"] == 2
    assert 0.0 <= payload["threshold"] <= 1.0 and payload["temperature"] > 0


def test_training_writes_its_config_and_a_metrics_log(tiny_checkpoint):
    run = tiny_checkpoint.parent
    assert json.loads((run / "config.json").read_text())["preprocess"]["train_crop"] == 32
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "epoch" and events[-1]["event"] == "done"


def test_a_saved_checkpoint_round_trips_its_weights(tiny_checkpoint, tmp_path):
    model, meta = load_checkpoint(tiny_checkpoint)
    copy = save_checkpoint(tmp_path / "copy.pt", model, meta)
    again, _ = load_checkpoint(copy)
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"


def test_a_file_that_is_not_a_checkpoint_is_refused_with_a_reason(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(MLError, match="Cannot read checkpoint"):
        read_checkpoint(bad)


def test_the_predictor_classifies_and_explains_a_batch(tiny_checkpoint):
    predictor = Predictor(tiny_checkpoint, device="cpu")
    preds = predictor.predict_bytes([png_bytes((100, 90)), jpeg_bytes((30, 20))], explain=True)
    assert len(preds) == 2
    for p in preds:
        assert p.label in CLASSES
        assert 0.0 <= p.probability_ai <= 1.0
        assert p.confidence == pytest.approx(p.probability_ai if p.label == "ai_generated" else 1 - p.probability_ai)
        assert p.heatmap.shape == (64, 64)
        assert 0.0 <= p.heatmap.min() and p.heatmap.max() <= 1.0
        assert p.crop_image.size == (64, 64)
    plain = predictor.predict_bytes([png_bytes((100, 90))])
    # Grad-CAM's forward pass and the plain one agree on the probability.
    assert plain[0].probability_ai == pytest.approx(preds[0].probability_ai, abs=1e-4)


def test_small_images_are_enlarged_by_an_integer_factor_not_resampled():
    im = photo_like((20, 10))
    crop, box = center_crop(im, 64)
    assert crop.size == (64, 64)
    arr = np.asarray(crop)
    # Nearest-neighbour by an integer factor: every pixel value comes from the original.
    original_values = {tuple(v) for v in np.asarray(im).reshape(-1, 3)}
    assert {tuple(v) for v in arr.reshape(-1, 3)} <= original_values
    assert box.width <= 20 and box.height <= 10


def test_large_images_are_centre_cropped_at_native_resolution():
    im = photo_like((300, 200))
    crop, box = center_crop(im, 64)
    assert (box.left, box.top, box.width) == (118, 68, 64)
    assert np.array_equal(np.asarray(crop), np.asarray(im)[68:132, 118:182])


def test_the_demo_generator_is_deterministic_and_balanced(tmp_path):
    a = generate_demo_dataset(tmp_path / "a", pairs=6, size=64, seed=3)
    b = generate_demo_dataset(tmp_path / "b", pairs=6, size=64, seed=3)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*.png"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)
    samples = load_samples(a)
    assert sum(s.label == "real" for s in samples) == sum(s.label == "ai_generated" for s in samples) == 6


def test_folder_layouts_are_read_with_case_insensitive_class_names(tmp_path):
    for split, cls in [("train", "REAL"), ("train", "FAKE"), ("test", "real"), ("test", "fake")]:
        (tmp_path / split / cls).mkdir(parents=True)
        (tmp_path / split / cls / "x.png").write_bytes(png_bytes((8, 8)))
    samples = load_samples(tmp_path)
    assert sorted((s.split, s.label) for s in samples) == [
        ("test", "ai_generated"), ("test", "real"), ("train", "ai_generated"), ("train", "real")]


def test_the_small_stem_keeps_a_4x4_layer4_on_32px_tiles_and_survives_a_checkpoint(tmp_path):
    """The CIFAR-style stem (3x3 stride 1, no max-pooling) leaves layer4 a 4 x 4 map on a 32 px tile,
    where ImageNet's stem leaves 1 x 1 (a flat Grad-CAM map); the checkpoint remembers the stem."""
    import torch

    from ml.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
    from ml.config import ModelConfig, PreprocessConfig
    from ml.errors import MLError
    from ml.model import build_model

    seen: dict[str, tuple[int, ...]] = {}
    for stem in ("imagenet", "small"):
        model = build_model(ModelConfig(stem=stem)).eval()
        hook = model.layer4.register_forward_hook(lambda m, i, o, s=stem: seen.__setitem__(s, tuple(o.shape[-2:])))
        with torch.no_grad():
            model(torch.randn(2, 3, 32, 32))
        hook.remove()
    assert seen == {"imagenet": (1, 1), "small": (4, 4)}
    meta = CheckpointMeta(model=ModelConfig(stem="small"), preprocess=PreprocessConfig(input_size=32, train_crop=32))
    path = save_checkpoint(tmp_path / "m.pt", build_model(meta.model), meta)
    loaded, got = load_checkpoint(path)
    assert got.model.stem == "small" and loaded.conv1.stride == (1, 1)
    with pytest.raises(MLError, match="stem"):
        build_model(ModelConfig(stem="tiny"))
