"""Grad-CAM faithfulness measured honestly (issue 18, item 12): on log-odds, flat maps left out and
counted, ties broken without position bias, ten random draws and a confidence interval."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.faithfulness import faithfulness, log_odds, top_mask
from ml.predict import Predictor
from tests.images import photo_like


def test_ties_at_the_edge_of_the_top_region_are_not_broken_by_position():
    flat = np.zeros((10, 10))
    rows = [np.nonzero(top_mask(flat, 0.2, np.random.default_rng(seed)))[0].mean() for seed in range(20)]
    # A stable sort took the last 20 positions (rows 8 and 9) every time.
    assert 3.0 < float(np.mean(rows)) < 6.0
    assert len({tuple(np.nonzero(top_mask(flat, 0.2, np.random.default_rng(s)))[0]) for s in range(3)}) > 1
    values = np.arange(100, dtype=float).reshape(10, 10)
    mask = top_mask(values, 0.2, np.random.default_rng(0))
    assert mask.sum() == 20 and values[mask].min() == 80  # distinct values: exactly the largest


def test_drops_are_measured_in_calibrated_log_odds(tiny_checkpoint):
    predictor = Predictor(tiny_checkpoint, device="cpu")
    crops = [photo_like((64, 64), seed=s) for s in range(3)]
    got = log_odds(predictor, crops, [0, 1, 1])
    from ml.preprocess import to_tensor

    with torch.inference_mode():
        logits = predictor.model(torch.stack([to_tensor(c, predictor.meta.preprocess) for c in crops])).float()
    t = predictor.meta.temperature
    want = [(logits[0, 0] - logits[0, 1]) / t, (logits[1, 1] - logits[1, 0]) / t, (logits[2, 1] - logits[2, 0]) / t]
    np.testing.assert_allclose(got, [float(w) for w in want], rtol=1e-4, atol=1e-5)


def test_flat_maps_are_left_out_and_counted_and_the_difference_has_a_confidence_interval(tiny_checkpoint,
                                                                                        monkeypatch):
    predictor = Predictor(tiny_checkpoint, device="cpu")
    explain = predictor.explain

    def every_other_map_flat(images):
        preds = explain(images)
        for i, p in enumerate(preds):
            p.heatmap = np.zeros_like(p.heatmap) if i % 2 == 0 else np.linspace(0, 1, p.heatmap.size).reshape(
                p.heatmap.shape).astype(np.float32)
        return preds

    monkeypatch.setattr(predictor, "explain", every_other_map_flat)
    images = [photo_like((64, 64), seed=10 + s) for s in range(6)]
    result = faithfulness(predictor, images, batch_size=6)
    assert result["flat_heatmaps"] == 3 and result["n"] == 3
    assert result["random_draws"] >= 10
    assert result["unit"].startswith("calibrated log-odds")
    lo, hi = result["difference_ci95"]
    assert lo <= result["mean_difference"] <= hi
    assert result["mean_difference"] == pytest.approx(result["mean_drop_gradcam"] - result["mean_drop_random"])
