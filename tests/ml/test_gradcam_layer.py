"""One rule picks the module Grad-CAM reads (ml.model.gradcam_target_layer), and both hooks use it:
the explainer's (ml.explain, backward pass) and the whole-image path's (ml.wholeimage, no backward)."""

import pytest
import torch
from torch import nn

from ml.config import ModelConfig
from ml.errors import MLError
from ml.explain import GradCamExplainer
from ml.model import build_model, gradcam_target_layer
from ml.wholeimage import _GradCamActivations


class _PoolLayer4(nn.Module):
    """A test model whose layer4 is one module that cannot be indexed."""

    def __init__(self) -> None:
        super().__init__()
        self.layer4 = nn.AvgPool2d(8)
        self.fc = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layer4(x).mean(dim=(2, 3)))


class _Converted(nn.Module):
    """Stands in for ml.precision's LowPrecisionResNet: no layer4, a ``gradcam_layer``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


def _resnet() -> nn.Module:
    return build_model(ModelConfig()).eval()


@pytest.mark.parametrize("make, expected", [
    (_resnet, lambda m: m.layer4[-1]),
    (_PoolLayer4, lambda m: m.layer4),
    (_Converted, lambda m: m.features),
])
def test_the_explainer_and_the_whole_image_path_hook_the_same_module(make, expected):
    model = make()
    target = expected(model)
    assert gradcam_target_layer(model) is target
    with GradCamExplainer(model):
        assert len(target._forward_hooks) == 1
    hook = _GradCamActivations(model)
    try:
        assert len(target._forward_hooks) == 1
        with torch.inference_mode():
            model(torch.randn(2, 3, 64, 64))
        assert hook.value is not None and hook.value.shape[0] == 2
    finally:
        hook.remove()
    assert not target._forward_hooks


def test_a_model_without_a_grad_cam_layer_is_refused_with_a_message():
    with pytest.raises(MLError, match="neither a gradcam_layer nor a layer4"):
        gradcam_target_layer(nn.Linear(3, 2))
