"""Evaluation breakdowns and plots, Grad-CAM faithfulness, and tiled inference."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from ml.evaluate import evaluate
from ml.faithfulness import blur_region, random_blob_mask, top_mask
from ml.predict import Predictor
from ml.preprocess import tile_grid
from tests.images import photo_like


def _tiny_data(tiny_checkpoint):
    return tiny_checkpoint.parent.parent / "data"


def test_tiles_cover_a_large_image_edge_to_edge():
    boxes = tile_grid(300, 200, 64, max_tiles=100)
    assert len(boxes) == 5 * 4
    covered = np.zeros((200, 300), dtype=bool)
    for b in boxes:
        assert (b.width, b.height) == (64, 64)
        covered[b.top:b.top + 64, b.left:b.left + 64] = True
    assert covered.all()


def test_the_tile_count_is_bounded_and_still_spread_over_the_image():
    boxes = tile_grid(1000, 500, 64, max_tiles=6)
    assert 1 < len(boxes) <= 6
    assert min(b.left for b in boxes) == 0 and max(b.left for b in boxes) == 1000 - 64
    assert min(b.top for b in boxes) == 0 and max(b.top for b in boxes) == 500 - 64
    assert len(tile_grid(40, 30, 64, max_tiles=6)) == 1  # small images: one upscaled centre crop


def test_tiled_prediction_is_the_mean_of_each_tiles_own_prediction(tiny_checkpoint):
    image = photo_like((200, 130), seed=4)
    tiled = Predictor(tiny_checkpoint, device="cpu", max_tiles=6).predict([image])[0]
    single = Predictor(tiny_checkpoint, device="cpu")
    assert 1 < len(tiled.tiles) <= 6
    tile_ps = []
    for t in tiled.tiles:
        left, top, w, h = t["box"]
        alone = single.predict([image.crop((left, top, left + w, top + h))])[0].probability_ai
        assert t["probability_ai"] == pytest.approx(alone, abs=1e-5)
        tile_ps.append(alone)
    assert tiled.probability_ai == pytest.approx(float(np.mean(tile_ps)), abs=1e-5)
    pick = max(tile_ps) if tiled.label == "ai_generated" else min(tile_ps)
    shown = tiled.tiles[tile_ps.index(pick)]["box"]
    assert [tiled.crop.left, tiled.crop.top] == shown[:2]

    explained = Predictor(tiny_checkpoint, device="cpu", max_tiles=6).explain([image])[0]
    assert explained.probability_ai == pytest.approx(tiled.probability_ai, abs=1e-5)
    assert explained.heatmap.shape == (64, 64)


def test_top_mask_selects_exactly_the_highest_fraction():
    values = np.arange(100, dtype=float).reshape(10, 10)
    mask = top_mask(values, 0.2)
    assert mask.sum() == 20 and values[mask].min() == 80


def test_random_regions_have_the_requested_area_and_vary_with_the_draw():
    rng = np.random.default_rng(0)
    a, b = random_blob_mask(128, 0.2, rng), random_blob_mask(128, 0.2, rng)
    assert a.sum() == b.sum() == round(0.2 * 128 * 128)
    assert not np.array_equal(a, b)


def test_blurring_a_region_leaves_the_other_pixels_untouched():
    crop = photo_like((64, 64), seed=2)
    mask = np.zeros((64, 64), dtype=bool)
    mask[:20, :30] = True
    out = np.asarray(blur_region(crop, mask, sigma=4))
    original = np.asarray(crop)
    assert np.array_equal(out[~mask], original[~mask])
    assert not np.array_equal(out[mask], original[mask])


def test_evaluate_breaks_down_by_source_and_generator_and_writes_plots(tiny_checkpoint, tmp_path):
    data = _tiny_data(tiny_checkpoint)
    rows = [r for r in csv.DictReader((data / "MANIFEST.csv").open()) if r["split"] == "test"]
    result = evaluate(tiny_checkpoint, data, device="cpu", faithfulness=True, out_dir=tmp_path)

    assert result["n"] == len(rows)
    # The decision threshold is the one training chose on validation, not re-tuned on test.
    from ml.checkpoint import load_checkpoint
    assert result["threshold"] == load_checkpoint(tiny_checkpoint)[1].threshold
    gens = result["by_generator"]
    assert gens["(none)"]["n"] == sum(r["label"] == "real" for r in rows)
    assert gens["demo-transposed-conv"]["n"] == sum(r["label"] == "ai_generated" for r in rows)
    sources = result["by_source"]
    assert {k: v["n"] for k, v in sources.items()} == {
        s: sum(r["source"] == s for r in rows) for s in {r["source"] for r in rows}}
    # The groups partition the split: their correct counts add up to the overall accuracy.
    correct = sum(g["accuracy"] * g["n"] for g in gens.values())
    assert correct / result["n"] == pytest.approx(result["accuracy"])
    assert sum(b["count"] for b in result["reliability"]) == result["n"]

    f = result["faithfulness"]
    assert f["n"] + f["flat_heatmaps"] == len(rows) and f["fraction"] == 0.2
    if f["n"]:
        assert np.isfinite(f["mean_drop_gradcam"]) and np.isfinite(f["mean_drop_random"])
        assert 0 <= f["fraction_gradcam_exceeds_random"] <= 1

    assert set(result["plots"]) == {"confusion_matrix", "roc_curve", "reliability"}
    for name in result["plots"].values():
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG"
    assert json.loads((tmp_path / "evaluation.json").read_text())["n"] == len(rows)
