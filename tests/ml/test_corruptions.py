"""Test-time corruptions for the robustness table, and accuracy under them."""

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from ml.corruptions import gaussian_blur, jpeg, resize, robustness, standard_corruptions
from ml.predict import Predictor
from tests.images import photo_like


def _arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im, dtype=np.float64)


def test_jpeg_keeps_the_size_and_loses_more_at_lower_quality():
    im = photo_like((64, 48), seed=1)
    q90, q50 = jpeg(im, 90), jpeg(im, 50)
    assert q90.size == q50.size == im.size and q90.mode == "RGB"
    err90 = np.abs(_arr(q90) - _arr(im)).mean()
    err50 = np.abs(_arr(q50) - _arr(im)).mean()
    assert 0 < err90 < err50
    with pytest.raises(ValueError):
        jpeg(im, 0)


def test_resize_halves_both_sides_and_keeps_the_mean_colour():
    im = photo_like((64, 48), seed=2)
    small = resize(im, 0.5)
    assert small.size == (32, 24) and small.mode == "RGB"
    assert abs(_arr(small).mean() - _arr(im).mean()) < 3
    assert resize(Image.new("RGB", (1, 1)), 0.5).size == (1, 1)


def test_blur_removes_high_frequencies_and_sigma_zero_changes_nothing():
    im = photo_like((64, 48), seed=3)
    blurred = gaussian_blur(im, 1.0)
    assert blurred.size == im.size
    assert np.abs(np.diff(_arr(blurred), axis=1)).mean() < 0.6 * np.abs(np.diff(_arr(im), axis=1)).mean()
    assert np.array_equal(_arr(gaussian_blur(im, 0.0)), _arr(im))


def test_the_standard_table_has_the_issue_3_corruptions():
    assert list(standard_corruptions()) == ["clean", "jpeg_q90", "jpeg_q75", "jpeg_q50", "resize_0.5x", "blur_sigma1"]


class _BrightnessPredictor:
    """Says ai_generated when the mean pixel exceeds 128: its accuracy is predictable."""

    meta = SimpleNamespace(threshold=0.5)

    def predict(self, images):
        return [SimpleNamespace(probability_ai=float(np.asarray(im).mean() > 128)) for im in images]


def test_robustness_reports_accuracy_per_corruption_at_the_predictor_threshold():
    images = [Image.new("RGB", (8, 8), (v, v, v)) for v in (10, 20, 200, 250)]
    corruptions = {"clean": lambda im: im, "invert": lambda im: Image.eval(im, lambda p: 255 - p)}
    out = robustness(_BrightnessPredictor(), images, [0, 0, 1, 1], corruptions, batch_size=3)
    assert out["n"] == 4 and out["threshold"] == 0.5
    assert out["results"]["clean"] == {"accuracy": 1.0, "recall_ai": 1.0, "recall_real": 1.0}
    assert out["results"]["invert"] == {"accuracy": 0.0, "recall_ai": 0.0, "recall_real": 0.0}


def test_every_standard_corruption_runs_through_a_real_predictor(tiny_checkpoint):
    predictor = Predictor(tiny_checkpoint, device="cpu")
    try:
        images = [photo_like((64, 64), seed=s) for s in range(3)]
        out = robustness(predictor, images, [0, 1, 1])
    finally:
        predictor.close()
    assert set(out["results"]) == set(standard_corruptions())
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in out["results"].values())
