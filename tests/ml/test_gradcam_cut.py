"""The Grad-CAM engine cuts the backward pass at the explained layer: the maps must be exactly
those of pytorch-grad-cam's full backward pass (once put on its per-image min-max scale), and the
weights must get no gradients."""

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import scale_cam_image

from ml.config import ModelConfig
from ml.explain import DecisionTarget, GradCamExplainer
from ml.model import build_model, gradcam_target_layer


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(ModelConfig())
    with torch.no_grad():  # zero_init_residual leaves the last BN at 0: give every layer a say
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
    return model.eval()


def test_maps_and_logits_equal_the_full_backward_pass():
    model = _model()
    x = torch.randn(3, 3, 64, 64)
    targets = [DecisionTarget(1.3, 0.4)] * 3
    full = GradCAM(model=model, target_layers=[gradcam_target_layer(model)])
    reference = full(input_tensor=x, targets=targets)
    reference_logits = full.outputs.detach()
    full.activations_and_grads.release()
    with GradCamExplainer(model) as cam:
        share, logits = cam.contributions(x, targets)
    assert np.abs(reference).max() > 0
    # pytorch-grad-cam stretches each map from its own minimum to its own maximum; ours keeps
    # the unit, so compare after the same stretch.
    stretched = scale_cam_image(F.relu(share).numpy() / 7.0, (64, 64))
    np.testing.assert_allclose(stretched, reference, atol=1e-5)
    torch.testing.assert_close(logits, reference_logits)


def test_no_gradient_reaches_the_backbone_and_hooks_are_removed():
    model = _model()
    layer = gradcam_target_layer(model)
    with GradCamExplainer(model) as cam:
        cam(torch.randn(2, 3, 64, 64), [DecisionTarget(1.0, 0.5)] * 2)
    assert model.conv1.weight.grad is None and layer.conv1.weight.grad is None
    assert not layer._forward_hooks
    with torch.inference_mode():  # the model still works for plain prediction afterwards
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2)
