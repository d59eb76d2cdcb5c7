"""The classifier: torchvision's ResNet50 with a two-class head."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet50

from .config import ModelConfig
from .errors import MLError

ARCHITECTURES = ("resnet50",)


def build_model(config: ModelConfig) -> nn.Module:
    """Build the network described by ``config``. Never downloads weights.

    With ``pretrained_weights`` set, the ImageNet backbone is loaded from that local file (a
    torchvision ``state_dict``) before the head is replaced.
    """
    if config.architecture not in ARCHITECTURES:
        raise MLError(
            f"Unknown architecture {config.architecture!r}; choose one of {', '.join(ARCHITECTURES)}."
        )
    model = resnet50(weights=None, zero_init_residual=config.zero_init_residual)
    if config.pretrained_weights:
        path = Path(config.pretrained_weights)
        if not path.is_file():
            raise MLError(f"Pretrained weights file not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    model.fc = nn.Linear(model.fc.in_features, len(config.classes))
    return model


def gradcam_target_layer(model: nn.Module) -> nn.Module:
    """The layer Grad-CAM reads for ResNet50: the last bottleneck block of ``layer4`` (or, for a
    model converted by :mod:`ml.precision`, its ``gradcam_layer``: the same activations in fp32)."""
    layer = getattr(model, "gradcam_layer", None)
    if isinstance(layer, nn.Module):
        return layer
    return model.layer4[-1]  # type: ignore[index,union-attr]
