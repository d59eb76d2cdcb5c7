"""The default inference layout: one single-thread process per core on a CPU, one process on a GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker.layout import inference_layout

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"cores": 2, "gpu": False}, (2, 1)),
    ({"cores": 16, "gpu": False}, (16, 1)),
    ({"cores": 16, "gpu": True}, (1, 16)),
    ({"cores": 8, "gpu": False, "processes": 2}, (2, 4)),  # WORKER_CONCURRENCY given: cores shared out
    ({"cores": 8, "gpu": False, "processes": 3}, (3, 2)),
    ({"cores": 8, "gpu": False, "threads": 4}, (8, 4)),  # VERITY_TORCH_THREADS given: kept as is
    ({"cores": 1, "gpu": False}, (1, 1)),
    ({"cores": 0, "gpu": False}, (1, 1)),
])
def test_inference_layout(kwargs, expected):
    assert inference_layout(**kwargs) == expected


def test_the_entry_point_reads_the_environment():
    env = {**os.environ, "VERITY_DEVICE": "cpu", "WORKER_CONCURRENCY": "3", "VERITY_TORCH_THREADS": ""}
    out = subprocess.run([sys.executable, "-m", "worker.layout"], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["3", str(max(1, (os.cpu_count() or 1) // 3))]


def test_a_gpu_worker_takes_the_gpu_batch_size():
    from worker.layout import inference_batch_size

    assert inference_batch_size(cpu_batch=8, gpu_batch=64, gpu=True) == 64
    assert inference_batch_size(cpu_batch=8, gpu_batch=64, gpu=False) == 8
    assert inference_batch_size(cpu_batch=0, gpu_batch=64, gpu=False) == 1
