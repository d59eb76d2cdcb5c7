"""Grad-CAM explanations (Selvaraju et al. 2017) on ``layer4[-1]``, on a fixed colour scale.

Computing the map and drawing the overlay are separate steps, as in pytorch-grad-cam: the map is
a float array in [0, 1] over the crop the model saw; :mod:`ml.heatmaps` colours it onto the crop
for people (without torch, so a web process can draw it).

What is explained is the decision, not one class: the target is the calibrated log-odds of the
decided class against the other, ``(logit_decided - logit_other) / temperature``. With ResNet50's
global average pooling and linear head, Grad-CAM's weighted sum of layer4 activations at a cell,
times the number of cells, is exactly that cell's share of this log-odds (their mean over the
cells plus the head's bias gives the log-odds back). So each cell's value has a unit: "if the
whole crop looked like this cell, the verdict would have these log-odds". The map keeps that
unit on one scale for every image (:func:`ml.heatmaps.fixed_scale`) instead of stretching each
map from its own minimum to its own maximum, which made weak evidence look as hot as strong.

pytorch-grad-cam computes the same maps (tests/ml/test_gradcam_cut.py checks it), but its hooks
keep a copy of layer4's output on every forward pass of the model once it is attached, and
normalise every map on its own. This engine stores activations only inside its own call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .heatmaps import fixed_scale
from .model import gradcam_target_layer

Target = Callable[[torch.Tensor], torch.Tensor]


def _log_odds(output: torch.Tensor, index: int, temperature: float) -> torch.Tensor:
    """Calibrated log-odds of class ``index`` against the other of two classes."""
    return (output[..., index] - output[..., 1 - index]) / temperature


class DecisionTarget:
    """Grad-CAM target: the calibrated log-odds of the class the decision rule picks.

    Explaining the decided class (rather than the raw argmax) keeps the heatmap consistent with
    the verdict shown when the validation-chosen threshold is not 0.5.
    """

    def __init__(self, temperature: float, threshold: float) -> None:
        self.temperature = temperature
        self.threshold = threshold

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        p_ai = torch.softmax(output.detach() / self.temperature, dim=-1)[..., 1]
        index = int(p_ai.item() >= self.threshold)
        return _log_odds(output, index, self.temperature)


class ClassTarget:
    """Grad-CAM target: the calibrated log-odds of a fixed class index (the image-level verdict
    when tiled) against the other class."""

    def __init__(self, index: int, temperature: float = 1.0) -> None:
        self.index = index
        self.temperature = temperature

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return _log_odds(output, self.index, self.temperature)


class GradCamExplainer:
    """A Grad-CAM engine bound to one model; use as a context manager so its hook is removed.

    Its one forward hook on the Grad-CAM layer does something only during :meth:`contributions`:
    it hands the layer's output on as a fresh leaf that needs a gradient, and keeps it for that
    call. Grad-CAM needs only d(target)/d(activations of that layer); cutting the graph there runs
    the backward pass through the pooling and the head alone, not through every convolution to
    every weight (about 3x faster for ResNet50 on CPU, benchmarks/pipeline.md). Outside a call
    (plain predictions by the same model) the hook returns at once and stores nothing.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._captured: list[torch.Tensor] | None = None
        self._hook = gradcam_target_layer(model).register_forward_hook(self._capture)

    def _capture(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor | None:
        if self._captured is None or not torch.is_grad_enabled() or torch.is_inference_mode_enabled():
            return None
        leaf = output.detach().requires_grad_(True)
        self._captured.append(leaf)
        return leaf

    def __enter__(self) -> GradCamExplainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._hook.remove()
        self._captured = None

    def contributions(self, batch: torch.Tensor, targets: Sequence[Target]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (each layer4 cell's share of each image's target, N x h x w, before ReLU; the
        model's logits for the batch). A cell's share is in the target's unit (calibrated log-odds
        for :class:`DecisionTarget`) as explained in the module docstring."""
        self._captured = []
        try:
            with torch.enable_grad():
                output = self.model(batch)
            if not self._captured:
                raise RuntimeError("The Grad-CAM layer did not run: is the model in inference mode?")
            activations = self._captured[-1]
        finally:
            self._captured = None
        scores = torch.stack([target(output[i]) for i, target in enumerate(targets)])
        (grads,) = torch.autograd.grad(scores.float().sum(), activations)
        cells = activations.shape[2] * activations.shape[3]
        weights = grads.float().mean(dim=(2, 3), keepdim=True)  # Grad-CAM's alpha_k = w_k / cells
        share = (weights * activations.detach().float()).sum(dim=1) * cells
        return share.detach(), output.detach().float().cpu()

    def __call__(self, batch: torch.Tensor, targets: Sequence[Target]) -> tuple[np.ndarray, torch.Tensor]:
        """Return (heatmaps N x H x W in [0, 1] on the fixed scale of :func:`ml.heatmaps.fixed_scale`,
        upsampled bilinearly to the batch's size; the model's logits for the batch)."""
        share, logits = self.contributions(batch, targets)
        up = F.interpolate(F.relu(share)[:, None], size=tuple(batch.shape[-2:]), mode="bilinear",
                           align_corners=False)[:, 0]
        return fixed_scale(up.cpu().numpy()).astype(np.float32), logits
