"""Whole-image analysis: tiles cover the image within the budget, the stitched Grad-CAM map lies
where the evidence is, and the served rules and their calibration do what they say."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ml.calibration import fit_rule_temperature, fit_temperature
from ml.checkpoint import CheckpointMeta
from ml.config import ModelConfig, PreprocessConfig
from ml.predict import Predictor
from ml.tilemaps import judged_from_png, map_png, mark_not_judged, on_fixed_scale, stitch
from ml.tiling import (
    RULES,
    aggregate,
    cut_tiles,
    decisive_tile,
    judged_mask,
    plan_tiles,
)
from ml.wholeimage import analyse, tile_forward


@pytest.mark.parametrize("width,height,size,budget", [
    (1280, 720, 224, 1000), (1280, 720, 224, 24), (1280, 720, 224, 8), (4000, 3000, 224, 64),
    (4000, 3000, 64, 10**6), (225, 224, 224, 4), (224, 224, 224, 4), (300, 100, 224, 16), (31, 17, 32, 9),
    (1000, 40, 64, 3),
])
def test_tiles_cover_the_whole_image_when_the_budget_allows_and_say_what_they_miss(width, height, size, budget):
    plan = plan_tiles(width, height, size, budget)
    cols, rows = math.ceil(width * plan.scale / size), math.ceil(height * plan.scale / size)
    assert plan.full_grid == cols * rows
    assert 1 <= len(plan.boxes) <= budget
    mask = judged_mask(width, height, plan.boxes)
    for c in plan.cuts:  # every tile is a whole native-size square inside the (upscaled) image
        assert 0 <= c.left <= width * plan.scale - size and 0 <= c.top <= height * plan.scale - size
        assert c.width == c.height == size
    if plan.full_grid <= budget:
        assert len(plan.boxes) == plan.full_grid and plan.covers_all and mask.all()
    else:  # thinned: as many tiles as the budget allows in a grid, the gaps reported as not judged
        assert not plan.covers_all
        assert len(plan.boxes) > budget // 2
        assert mask.mean() < 1.0
    assert plan.scale == (1 if min(width, height) >= size else math.ceil(size / min(width, height)))


def test_tiles_are_the_original_pixels_not_resampled():
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (300, 500, 3), dtype=np.uint8))
    plan = plan_tiles(500, 300, 128, 100)
    for crop, box in zip(cut_tiles(im, plan), plan.boxes):
        assert np.array_equal(np.asarray(crop), np.asarray(im)[box.top:box.top + 128, box.left:box.left + 128])


def test_a_single_tile_budget_is_the_centre_crop_the_model_was_validated_on():
    from ml.preprocess import center_crop

    rng = np.random.default_rng(1)
    for shape in ((300, 500, 3), (40, 90, 3)):
        im = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
        [crop] = cut_tiles(im, plan_tiles(im.width, im.height, 64, 1))
        assert np.array_equal(np.asarray(crop), np.asarray(center_crop(im, 64)[0]))


def test_rules_on_known_margins():
    z = np.array([2.0, -1.0, 0.5, -3.0])
    def sig(x: float) -> float:
        return 1 / (1 + math.exp(-x))

    assert aggregate(z, 1.0, "mean_logit") == pytest.approx(sig(-0.375))
    assert aggregate(z, 2.0, "mean_prob") == pytest.approx(np.mean([sig(v / 2) for v in z]))
    assert aggregate(z, 1.0, "max_prob") == pytest.approx(sig(2.0))
    assert aggregate(z, 1.0, "top25_prob") == pytest.approx(sig(2.0))  # top quarter of 4 tiles: one
    assert aggregate(z, 1.0, "median_logit") == pytest.approx(sig(-0.25))
    assert decisive_tile(z, 1) == 0 and decisive_tile(z, 0) == 3


def test_rule_temperature_with_one_tile_per_image_is_ordinary_temperature_scaling():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    margin = (y * 2 - 1) * 3.0 + rng.normal(0, 2.5, 300)  # over-confident logits
    logits = torch.tensor(np.stack([-margin / 2, margin / 2], axis=1), dtype=torch.float32)
    expected = fit_temperature(logits, torch.tensor(y))
    for rule in RULES:
        assert fit_rule_temperature([np.array([m]) for m in margin], y, rule) == pytest.approx(expected, rel=0.02)


def test_rule_temperature_undoes_a_known_scale_on_the_mean_of_tiles():
    # Tile margins whose mean is an honest log-odds times 4: the fitted temperature is about 4.
    rng = np.random.default_rng(2)
    true_logodds = rng.normal(0, 2, 2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-true_logodds))).astype(int)
    margins = [4 * t + rng.normal(0, 0.5, 6) for t in true_logodds]
    assert fit_rule_temperature(margins, y, "mean_logit") == pytest.approx(4.0, rel=0.15)


def test_stitching_places_each_tile_map_and_marks_what_no_tile_judged():
    from ml.preprocess import CropBox

    boxes = [CropBox(0, 0, 10, 10), CropBox(20, 0, 10, 10)]
    maps = [np.full((5, 5), 1.0), np.full((5, 5), 3.0)]
    out = stitch(30, 12, boxes, maps)
    assert out.shape == (12, 30)
    assert np.allclose(out[:10, :10], 1.0) and np.allclose(out[:10, 20:30], 3.0)
    assert np.isnan(out[:, 10:20]).all() and np.isnan(out[10:, :]).all()
    norm = on_fixed_scale(out)  # log-odds shares 1 and 3 on the shared scale (ln 99 = full)
    assert np.nanmax(norm) == pytest.approx(3 / np.log(99)) and np.nanmin(norm) == pytest.approx(1 / np.log(99))
    assert np.array_equal(np.isnan(norm), np.isnan(out))
    judged = judged_from_png(map_png(norm))
    assert judged is not None and np.array_equal(judged, ~np.isnan(out))
    # The overlay greys out the not-judged pixels and leaves the judged ones as they were.
    overlay = Image.new("RGB", (30, 12), (255, 0, 0))
    marked = np.asarray(mark_not_judged(overlay, judged))
    assert (marked[:10, :10] == (255, 0, 0)).all()
    assert (marked[:, 10:20, 0] < 200).all()


class _Redness(nn.Module):
    """A tiny stand-in with ResNet50's head structure (layer4 -> global mean -> fc): evidence of
    "AI" is red light, seen on an 8 px grid. Its Grad-CAM must light up exactly where red is."""

    def __init__(self) -> None:
        super().__init__()
        self.layer4 = nn.AvgPool2d(8)
        self.fc = nn.Linear(1, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layer4(x[:, :1] - x[:, 1:2]).mean(dim=(2, 3)))


def _redness_predictor(size: int) -> Predictor:
    predictor = Predictor.__new__(Predictor)
    predictor.model = _Redness().eval()
    predictor.meta = CheckpointMeta(model=ModelConfig(), preprocess=PreprocessConfig(
        input_size=size, train_crop=size, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)), threshold=0.5)
    predictor.device = torch.device("cpu")
    predictor.max_tiles = 1
    predictor._explainer = None
    return predictor


def test_the_stitched_map_lies_over_a_planted_region_at_the_originals_size():
    im = np.zeros((70, 100, 3), dtype=np.uint8)
    im[..., 1] = 40  # green background: evidence against "AI"
    im[20:36, 64:80] = (255, 0, 0)  # the planted evidence, away from any tile's centre
    pred = analyse(_redness_predictor(32), [Image.fromarray(im)], max_tiles=100, rule="max_prob",
                   check_faithfulness=False)[0]
    assert pred.label == "ai_generated"
    heat = pred.heatmap
    assert heat is not None and heat.shape == (70, 100)  # the original's size and aspect
    assert pred.judged_fraction == 1.0 and not np.isnan(heat).any()
    planted = np.zeros((70, 100), dtype=bool)
    planted[20:36, 64:80] = True
    # On the shared log-odds scale the strength depends on the model; where it lies must not.
    assert heat[planted].mean() > 0 and heat[planted].mean() > 5 * heat[~planted].mean()
    ys, xs = np.unravel_index(np.argmax(heat), heat.shape)
    assert planted[ys, xs]
    box = pred.boxes[pred.decisive]  # the tile that decided overlaps the planted region
    assert box.left < 80 and box.left + box.width > 64 and box.top < 36 and box.top + box.height > 20


def test_past_the_budget_the_gaps_are_not_judged_and_marked_so():
    plan = plan_tiles(256, 64, 32, 4)
    assert not plan.covers_all
    inside = plan.boxes[-1]
    judged = judged_mask(256, 64, plan.boxes)
    gap_x = int(np.flatnonzero(~judged[40])[0])
    for x, expected in ((inside.left + 8, "ai_generated"), (gap_x, "real")):
        im = np.zeros((64, 256, 3), dtype=np.uint8)
        im[..., 1] = 10
        im[inside.top + 8:inside.top + 24, x:x + 16] = (255, 0, 0)
        if expected == "real":
            im[..., 0] = np.where(judged, 0, im[..., 0])  # red only in the gap
        pred = analyse(_redness_predictor(32), [Image.fromarray(im)], max_tiles=4, rule="max_prob",
                       check_faithfulness=True)[0]
        assert pred.label == expected  # evidence in a gap is not seen: that is why gaps are shown
        assert len(pred.boxes) <= 4 and pred.judged_fraction == pytest.approx(judged.mean())
        assert np.array_equal(~np.isnan(pred.heatmap), judged)
        assert pred.faithfulness is not None and set(pred.faithfulness) >= {"faithful", "tile"}


def test_margin_gradcam_without_backward_equals_pytorch_grad_cam_on_resnet50():
    from pytorch_grad_cam import GradCAM

    from ml.model import build_model, gradcam_target_layer
    from ml.tilemaps import resize_map

    torch.manual_seed(0)
    model = build_model(ModelConfig()).eval()
    x = torch.randn(2, 3, 64, 64)
    pre = PreprocessConfig(input_size=64, train_crop=64)
    crops = [Image.fromarray((np.random.default_rng(i).random((64, 64, 3)) * 255).astype(np.uint8)) for i in range(2)]
    from ml.preprocess import to_tensor

    x = torch.stack([to_tensor(c, pre) for c in crops])
    margins, cams = tile_forward(model, pre, torch.device("cpu"), crops)
    with torch.no_grad():
        logits = model(x)
    assert np.allclose(margins, (logits[:, 1] - logits[:, 0]).numpy(), atol=1e-4)
    with GradCAM(model=model, target_layers=[gradcam_target_layer(model)]) as cam:
        for sign in (1.0, -1.0):
            reference = cam(input_tensor=x, targets=[lambda out, s=sign: s * (out[..., 1] - out[..., 0])] * 2)
            for i in range(2):
                mine = np.maximum(sign * cams[i], 0)
                if mine.max() <= 0:
                    continue
                mine = resize_map(mine, 64, 64)
                mine = (mine - mine.min()) / (mine.max() - mine.min())
                assert np.corrcoef(mine.ravel(), reference[i].ravel())[0, 1] > 0.98
