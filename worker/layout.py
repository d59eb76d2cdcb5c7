"""How many inference worker processes a host runs, and how many torch threads each, by default.

On a CPU, one single-thread process per core serves bursts faster than one process with a thread
per core: while one process decodes, encodes and records its batch, the others keep the cores
busy with the model (benchmarks/pipeline.md). A GPU is driven by one process.

``WORKER_CONCURRENCY`` and ``VERITY_TORCH_THREADS`` (0 or unset: automatic) override the choice.
``python -m worker.layout`` prints ``PROCESSES THREADS`` for the container's entry point.
"""

from __future__ import annotations

import os


def inference_layout(*, cores: int, gpu: bool, processes: int = 0, threads: int = 0) -> tuple[int, int]:
    """(worker processes, torch threads per process); 0 means choose automatically."""
    cores = max(1, cores)
    processes = processes if processes > 0 else (1 if gpu else cores)
    threads = threads if threads > 0 else max(1, cores // processes)
    return processes, threads


def inference_batch_size(*, cpu_batch: int, gpu_batch: int, gpu: bool) -> int:
    """Images per forward pass: a GPU needs far larger batches than a CPU core to be kept busy
    (``VERITY_GPU_BATCH_SIZE`` vs ``VERITY_BATCH_SIZE``); the worker fills them from the queue."""
    return max(1, gpu_batch if gpu else cpu_batch)


def host_layout() -> tuple[int, int]:
    """The layout for this host and environment."""
    device = os.environ.get("VERITY_DEVICE", "auto")
    gpu = False
    if device != "cpu":
        import torch

        gpu = torch.cuda.is_available()
    return inference_layout(cores=os.cpu_count() or 1, gpu=gpu,
                            processes=int(os.environ.get("WORKER_CONCURRENCY") or 0),
                            threads=int(os.environ.get("VERITY_TORCH_THREADS") or 0))


if __name__ == "__main__":
    print(*host_layout())
