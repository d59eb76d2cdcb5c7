"""How many tiles go through the model in one forward pass, chosen by measurement.

A larger batch is not always faster per tile. On a CPU core, ResNet50's activations for 32 tiles
of 224 px (layer1 alone: 32 x 256 x 56 x 56 values) no longer fit the caches, and on the 2-core
VM of benchmarks/precision.md a bf16 forward cost 44.0 ms a tile in batches of 8 against 49.5 ms
in batches of 32 (single thread). A GPU wants the opposite. So the served batch is measured on the
loaded model, at its input size and precision, the first time a process needs it, unless
``VERITY_TILE_BATCH`` (the portal) or ``chunk`` (the library) fixes it.

Pure PyTorch: nothing of the project beyond ``ml``.
"""

from __future__ import annotations

import torch
from torch import nn

from .precision import time_forward

CPU_CANDIDATES = (8, 16, 32)
CUDA_CANDIDATES = (32, 64, 128)

# (device type, input size, precision, candidates) -> (chosen, ms per tile of each), once per process.
_measured: dict[tuple[str, int, str, tuple[int, ...]], tuple[int, dict[int, float]]] = {}


def candidates_for(device: torch.device) -> tuple[int, ...]:
    return CUDA_CANDIDATES if device.type == "cuda" else CPU_CANDIDATES


def choose_tile_batch(model: nn.Module, device: torch.device, *, input_size: int, precision: str,
                      candidates: tuple[int, ...] | None = None) -> tuple[int, dict[int, float]]:
    """The candidate batch with the lowest forward time per tile on ``model`` (ties: the smaller
    batch, which holds less memory), and each candidate's milliseconds per tile."""
    cands = tuple(sorted(set(candidates or candidates_for(device))))
    key = (device.type, input_size, precision, cands)
    if key not in _measured:
        per_tile: dict[int, float] = {}
        for n in cands:
            probe = torch.randn(n, 3, input_size, input_size, device=device)
            probe = probe.contiguous(memory_format=torch.channels_last)
            # time_forward runs one untimed pass first; two timed passes keep a worker's start short.
            seconds = time_forward(model, probe, rounds=2)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            per_tile[n] = seconds * 1e3 / n
        _measured[key] = (min(per_tile, key=lambda n: (per_tile[n], n)), per_tile)
    return _measured[key]
