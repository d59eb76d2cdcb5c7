"""Grad-CAM explains the decision on one colour scale for every image (issue 18, item 11)."""

import numpy as np
import torch

from ml.config import ModelConfig
from ml.explain import ClassTarget, DecisionTarget, GradCamExplainer
from ml.heatmaps import FULL_SCALE_LOG_ODDS, fixed_scale
from ml.model import build_model


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(ModelConfig())
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
    return model.eval()


def test_the_cells_shares_add_up_to_the_decisions_calibrated_log_odds():
    model, temperature = _model(), 1.7
    x = torch.randn(3, 3, 96, 96)
    with GradCamExplainer(model) as cam:
        share, logits = cam.contributions(x, [DecisionTarget(temperature, 0.5)] * 3)
    decided = (torch.softmax(logits / temperature, 1)[:, 1] >= 0.5).long()
    sign = torch.where(decided == 1, 1.0, -1.0)
    log_odds = sign * (logits[:, 1] - logits[:, 0]) / temperature
    bias = sign * (model.fc.bias[1] - model.fc.bias[0]).detach() / temperature
    # Global average pooling + a linear head: the mean share over cells plus the bias is the
    # explained quantity, the logit difference of the two classes (not one class's logit).
    torch.testing.assert_close(share.mean(dim=(1, 2)) + bias, log_odds, atol=1e-4, rtol=1e-4)


def test_the_same_evidence_gets_the_same_colour_in_every_image():
    model = _model()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        decided = int(model(x).argmax())
    with GradCamExplainer(model) as cam:
        strong, _ = cam(x, [ClassTarget(decided, temperature=1.0)])
        weak, _ = cam(x, [ClassTarget(decided, temperature=4.0)])  # the same map, a quarter of the log-odds
    assert strong.max() > 0
    # Per-image min-max stretching would make both maps reach 1.0; a fixed scale keeps the weak
    # one a quarter as hot wherever the strong one is below saturation.
    below = strong < 1.0
    np.testing.assert_allclose(weak[below], strong[below] / 4, rtol=1e-4, atol=1e-6)


def test_the_fixed_scale_is_stated_in_log_odds():
    assert FULL_SCALE_LOG_ODDS == np.log(99)
    np.testing.assert_allclose(fixed_scale(np.array([-1.0, 0.0, np.log(99) / 2, np.log(99), 10.0])),
                               [0.0, 0.0, 0.5, 1.0, 1.0], rtol=1e-6)
