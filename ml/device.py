"""Device choice: CUDA when present and asked for, else the CPU with all its cores."""

from __future__ import annotations

import os

import torch

from .errors import MLError


def select_device(preference: str = "auto") -> torch.device:
    if preference == "cuda" and not torch.cuda.is_available():
        raise MLError("device=cuda was asked for but no CUDA device is available.")
    if preference in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    threads = int(os.environ.get("VERITY_TORCH_THREADS", "0")) or (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    return torch.device("cpu")
