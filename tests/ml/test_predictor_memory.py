"""A long-lived Predictor keeps its memory flat (issue 18, item 15): once Grad-CAM was attached,
pytorch-grad-cam's hook kept a copy of layer4's output on every later predict()."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_memory_is_flat_over_a_thousand_predictions_after_an_explanation(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tests.ml.predictor_memory_probe", str(tmp_path), "1000"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    marks = json.loads(out.stdout.strip().splitlines()[-1])
    first, last = marks["first"], marks["last"]
    # A hook that keeps layer4's output would leave 900 more tensors (64 KB each: 56 MiB).
    assert last["tensors"] <= first["tensors"], marks
    assert last["rss"] - first["rss"] < 16 * 2**20, f"RSS grew by {(last['rss'] - first['rss']) / 2**20:.1f} MiB"
