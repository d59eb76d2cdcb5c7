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
# A larger batch is chosen only when it is at least this much faster per tile than the best
# smaller one. Measured alone at load, 8, 16 and 32 tiles of 224 px come out within a few per
# cent of one another on one core here, but in the worker's layout (two processes side by side,
# sharing the caches) 32 cost 51 ms a tile against 46 at 8-16 (benchmarks/precision.md): a near
# tie goes to the batch that holds less memory.
LARGER_BATCH_MARGIN = 0.05
# Seconds the measurement may take: candidates are tried smallest first, and one whose two passes
# would take the total past this (estimated from the fastest per-tile time so far) is not tried.
# A big model input (512 px on one core: about 0.5 s a tile in fp32) then measures the smallest only.
MEASURE_BUDGET_S = 10.0

# (device type, input size, precision, candidates) -> (chosen, ms per tile of each), once per process.
_measured: dict[tuple[str, int, str, tuple[int, ...]], tuple[int, dict[int, float]]] = {}


def candidates_for(device: torch.device) -> tuple[int, ...]:
    return CUDA_CANDIDATES if device.type == "cuda" else CPU_CANDIDATES


def choose_tile_batch(model: nn.Module, device: torch.device, *, input_size: int, precision: str,
                      candidates: tuple[int, ...] | None = None) -> tuple[int, dict[int, float]]:
    """The candidate batch with the lowest forward time per tile on ``model`` (a larger batch only
    when it is :data:`LARGER_BATCH_MARGIN` faster than the best smaller one), and the
    milliseconds per tile of each candidate measured
    (within :data:`MEASURE_BUDGET_S`; the smallest is always measured)."""
    cands = tuple(sorted(set(candidates or candidates_for(device))))
    key = (device.type, input_size, precision, cands)
    if key not in _measured:
        per_tile: dict[int, float] = {}
        spent = 0.0
        for n in cands:
            if per_tile and spent + 2 * n * min(per_tile.values()) / 1e3 > MEASURE_BUDGET_S:
                break
            probe = torch.randn(n, 3, input_size, input_size, device=device)
            probe = probe.contiguous(memory_format=torch.channels_last)
            # One untimed pass (kernel selection), then one timed: a worker's start stays short.
            seconds = time_forward(model, probe, rounds=1)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            spent += 2 * seconds
            per_tile[n] = seconds * 1e3 / n
        chosen = cands[0]
        for n in sorted(per_tile):
            if per_tile[n] < per_tile[chosen] * (1 - LARGER_BATCH_MARGIN):
                chosen = n
        _measured[key] = (chosen, per_tile)
    return _measured[key]
