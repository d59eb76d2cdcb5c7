"""The classifier: torchvision's ResNet50 with a two-class head."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet50

from .config import ModelConfig
from .errors import MLError

ARCHITECTURES = ("resnet50",)
REPRESENTATIONS = ("rgb", "npr")
STEMS = ("imagenet", "small")


def npr(x: torch.Tensor) -> torch.Tensor:
    """Neighbouring-pixel residual (Tan et al., CVPR 2024): ``x - up2(down2(x))`` with nearest
    neighbour both ways, i.e. each pixel minus the top-left pixel of its 2x2 block."""
    h, w = x.shape[-2] - x.shape[-2] % 2, x.shape[-1] - x.shape[-1] % 2
    x = x[..., :h, :w]
    return x - x[..., ::2, ::2].repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


def _npr_hook(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return (npr(args[0]),) + tuple(args[1:])


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
    stem = getattr(config, "stem", "imagenet")
    if stem not in STEMS:
        raise MLError(f"Unknown stem {stem!r}; choose one of {', '.join(STEMS)}.")
    if stem == "small":
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
        model.maxpool = nn.Identity()
    representation = getattr(config, "input_representation", "rgb")
    if representation not in REPRESENTATIONS:
        raise MLError(f"Unknown input representation {representation!r}; choose one of {', '.join(REPRESENTATIONS)}.")
    if representation == "npr":
        # A pre-hook, not a wrapper module: the state_dict keys and Grad-CAM's target layer stay
        # those of the plain ResNet50.
        model.register_forward_pre_hook(_npr_hook)
    return model


def gradcam_target_layer(model: nn.Module) -> nn.Module:
    """The module whose forward output is the activations Grad-CAM reads; the one rule for every
    hook (:mod:`ml.explain`, :mod:`ml.wholeimage`). In order:

    * a model converted by :mod:`ml.precision`: its ``gradcam_layer`` (the same activations, in fp32);
    * a ResNet: the last bottleneck block of ``layer4`` (its output is ``layer4``'s output);
    * a model whose ``layer4`` is a single module that cannot be indexed (small test models):
      ``layer4`` itself."""
    layer = getattr(model, "gradcam_layer", None)
    if isinstance(layer, nn.Module):
        return layer
    layer4 = getattr(model, "layer4", None)
    if isinstance(layer4, nn.Sequential) and len(layer4) > 0:
        return layer4[-1]
    if isinstance(layer4, nn.Module):
        return layer4
    raise MLError(f"{type(model).__name__} has neither a gradcam_layer nor a layer4 for Grad-CAM to read.")
