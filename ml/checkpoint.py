"""Self-describing checkpoints: plain dicts that load with ``torch.load(weights_only=True)``.

A checkpoint carries everything needed to rebuild and use the model without the run that made it:
architecture, classes, preprocessing, calibration, data fingerprint, training config and metrics.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import ModelConfig, PreprocessConfig
from .errors import MLError
from .model import build_model

SCHEMA_VERSION = 1


@dataclass
class CheckpointMeta:
    model: ModelConfig
    preprocess: PreprocessConfig
    temperature: float = 1.0  # temperature scaling for calibrated probabilities
    threshold: float = 0.5  # decision threshold on p(ai_generated), chosen on validation
    is_demo: bool = False  # trained on the generated demo set: not for real decisions
    data_fingerprint: str = ""
    train_config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    # SHA-256 (hex) of every image this model or any checkpoint it was fine-tuned from trained on,
    # so any later evaluation can leave them out. Empty for checkpoints written before it existed.
    trained_on: frozenset[str] = frozenset()
    # The lower precisions (bf16, int8) whose verdicts agreed with fp32 on this model's validation
    # images within ml.precision_check's tolerances; None: never checked (``auto`` serves fp32).
    verified_precisions: tuple[str, ...] | None = None


def save_checkpoint(path: str | Path, model: nn.Module, meta: CheckpointMeta,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write the checkpoint atomically: a crash mid-write never leaves a half file at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": meta.name,
        "architecture": meta.model.architecture,
        "classes": list(meta.model.classes),
        "input_representation": meta.model.input_representation,
        "stem": meta.model.stem,
        "preprocess": meta.preprocess.to_dict(),
        "temperature": float(meta.temperature),
        "threshold": float(meta.threshold),
        "is_demo": bool(meta.is_demo),
        "data_fingerprint": meta.data_fingerprint,
        "train_config": meta.train_config,
        "metrics": meta.metrics,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        TRAINED_ON_KEY: digests_to_tensor(meta.trained_on),
    }
    if meta.verified_precisions is not None:
        payload[VERIFIED_KEY] = list(meta.verified_precisions)
    if extra:
        payload.update(extra)
    return atomic_save(payload, path)


TRAINED_ON_KEY = "trained_on_sha256"
VERIFIED_KEY = "verified_precisions"


def digests_to_tensor(digests: frozenset[str] | set[str]) -> torch.Tensor:
    """SHA-256 hex digests as a sorted N x 32 uint8 tensor: 32 bytes an image (2 MB for 60,000),
    and a tensor is what ``torch.load(weights_only=True)`` reads without a pickle."""
    raw = b"".join(bytes.fromhex(d) for d in sorted(digests))
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(-1, 32).clone() if raw \
        else torch.zeros((0, 32), dtype=torch.uint8)


def digests_from_tensor(tensor: Any) -> frozenset[str]:
    if not isinstance(tensor, torch.Tensor) or tensor.numel() == 0:
        return frozenset()
    raw = tensor.to(torch.uint8).contiguous().numpy().tobytes()
    return frozenset(raw[i:i + 32].hex() for i in range(0, len(raw), 32))


def atomic_save(payload: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise MLError(f"Checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated zip, wrong file
        raise MLError(f"Cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise MLError(f"{path} is not a Verity checkpoint (no state_dict).")
    version = payload.get("schema_version")
    if version != SCHEMA_VERSION:
        raise MLError(
            f"{path} has checkpoint schema {version!r}; this version of Verity reads {SCHEMA_VERSION}."
        )
    return payload


def meta_from_payload(payload: dict[str, Any]) -> CheckpointMeta:
    return CheckpointMeta(
        model=ModelConfig(architecture=payload["architecture"], classes=tuple(payload["classes"]),
                          input_representation=payload.get("input_representation", "rgb"),
                          stem=payload.get("stem", "imagenet")),
        preprocess=PreprocessConfig.from_dict(payload["preprocess"]),
        temperature=float(payload.get("temperature", 1.0)),
        threshold=float(payload.get("threshold", 0.5)),
        is_demo=bool(payload.get("is_demo", False)),
        data_fingerprint=payload.get("data_fingerprint", ""),
        train_config=payload.get("train_config", {}),
        metrics=payload.get("metrics", {}),
        name=payload.get("name", ""),
        trained_on=digests_from_tensor(payload.get(TRAINED_ON_KEY)),
        verified_precisions=(None if payload.get(VERIFIED_KEY) is None
                             else tuple(str(p) for p in payload[VERIFIED_KEY])),
    )


def load_checkpoint(path: str | Path) -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild the model from a checkpoint, in eval mode on the CPU."""
    payload = read_checkpoint(path)
    meta = meta_from_payload(payload)
    model = build_model(meta.model)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, meta


def init_from_checkpoint(model: nn.Module, path: str | Path, config: ModelConfig,
                         payload: dict[str, Any] | None = None) -> None:
    """Give ``model`` (built from ``config``) the weights of the Verity checkpoint at ``path``,
    to train on from there. A checkpoint of another architecture or class list is refused.
    ``payload``: the checkpoint as :func:`read_checkpoint` returned it, when already read."""
    payload = payload if payload is not None else read_checkpoint(path)
    theirs = (payload.get("architecture"), list(payload.get("classes") or []))
    ours = (config.architecture, list(config.classes))
    if theirs != ours:
        raise MLError(
            f"Cannot start from {path}: it is a {theirs[0]} model for classes {', '.join(map(str, theirs[1]))}, "
            f"but this run trains a {ours[0]} model for classes {', '.join(ours[1])}. "
            "Choose a base checkpoint of the same architecture and classes, or train without one."
        )
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:  # same names, other shapes: a damaged or hand-made checkpoint
        raise MLError(f"Cannot start from {path}: its weights do not fit the {ours[0]} model ({exc}).") from exc


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
