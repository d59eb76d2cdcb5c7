"""Grad-CAM explanations (Selvaraju et al. 2017) with pytorch-grad-cam on ``layer4[-1]``.

Computing the map and drawing the overlay are separate steps, as in pytorch-grad-cam: the map is
a float array in [0, 1] over the crop the model saw; :mod:`ml.heatmaps` colours it onto the crop
for people (without torch, so a web process can draw it).
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from torch import nn

from .model import gradcam_target_layer


class DecisionTarget:
    """Grad-CAM target: the logit of the class the calibrated decision rule picks.

    Explaining the decided class (rather than the raw argmax) keeps the heatmap consistent with
    the verdict shown when the validation-chosen threshold is not 0.5.
    """

    def __init__(self, temperature: float, threshold: float) -> None:
        self.temperature = temperature
        self.threshold = threshold

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        p_ai = torch.softmax(output.detach() / self.temperature, dim=-1)[..., 1]
        index = int(p_ai.item() >= self.threshold)
        return output[..., index]


class ClassTarget:
    """Grad-CAM target: the logit of a fixed class index (the image-level verdict when tiled)."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return output[..., self.index]


def _graph_starts_here(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor | None:
    """Forward hook on the Grad-CAM layer: hand on its output as a fresh leaf that needs a gradient.

    Grad-CAM needs only d(target)/d(activations of that layer). Cutting the graph there means the
    backward pass runs through the pooling and the head alone, not back through every convolution
    to every weight: the same map at a fraction of the cost (about 3x faster for ResNet50 on CPU,
    benchmarks/pipeline.md)."""
    if torch.is_grad_enabled() and not torch.is_inference_mode_enabled():
        return output.detach().requires_grad_(True)
    return None


class GradCamExplainer:
    """A Grad-CAM engine bound to one model; use as a context manager so hooks are removed."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        layer = gradcam_target_layer(model)
        # Registered before pytorch-grad-cam's hooks, so they see (and take gradients of) the leaf.
        self._cut = layer.register_forward_hook(_graph_starts_here)
        self._cam = GradCAM(model=model, target_layers=[layer])

    def __enter__(self) -> GradCamExplainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._cam.activations_and_grads.release()
        self._cut.remove()

    def __call__(self, batch: torch.Tensor, targets: list) -> tuple[np.ndarray, torch.Tensor]:
        """Return (heatmaps N x H x W in [0, 1], the model's logits for the batch)."""
        maps = self._cam(input_tensor=batch, targets=targets)
        logits = self._cam.outputs.detach().float().cpu()
        return maps.astype(np.float32), logits
