"""Repeated Grad-CAM explanations do not accumulate memory, and closing releases the hooks."""

import gc
import tracemalloc
import warnings
from pathlib import Path

import torch

from ml.explain import GradCamExplainer
from ml.predict import Predictor
from tests.images import photo_like


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())


def _live_tensors() -> int:
    gc.collect()
    with warnings.catch_warnings():  # isinstance on some lazily deprecated torch objects warns
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if _is_tensor(o))


def _is_tensor(o: object) -> bool:
    try:
        return isinstance(o, torch.Tensor)
    except ReferenceError:  # a weak proxy whose referent is gone
        return False


def _rss_bytes() -> int | None:
    statm = Path("/proc/self/statm")
    if not statm.is_file():
        return None
    import os

    return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_repeated_explain_calls_do_not_grow_memory(tiny_checkpoint):
    predictor = Predictor(tiny_checkpoint, device="cpu")
    images = [photo_like((64, 64), seed=s) for s in range(2)]
    try:
        for _ in range(3):  # warm up: allocator pools, Grad-CAM engine, lazy imports
            predictor.explain(images)
        tensors_before, rss_before = _live_tensors(), _rss_bytes()
        tracemalloc.start()
        snapshot_before = tracemalloc.take_snapshot()
        for _ in range(20):
            preds = predictor.explain(images)
        del preds
        gc.collect()
        snapshot_after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        python_growth = sum(s.size_diff for s in snapshot_after.compare_to(snapshot_before, "filename"))
        assert python_growth < 1_000_000, f"Python heap grew by {python_growth} bytes over 20 explain calls"
        assert _live_tensors() <= tensors_before, "explain leaves tensors behind"
        rss_after = _rss_bytes()
        if rss_before is not None and rss_after is not None:
            # One 64 px ResNet50 forward+backward of 2 images needs tens of MB; 20 leaked ones
            # (activations or gradients kept per call) would exceed this bound.
            assert rss_after - rss_before < 150 * 2**20, f"RSS grew by {(rss_after - rss_before) / 2**20:.0f} MiB"
    finally:
        predictor.close()


def test_explainer_hooks_exist_while_open_and_are_released_on_close(tiny_checkpoint):
    predictor = Predictor(tiny_checkpoint, device="cpu")
    model = predictor.model
    baseline = _hooks(model)
    assert baseline == 0, "a freshly loaded model carries no hooks"
    predictor.explain([photo_like((64, 64))])
    assert _hooks(model) > 0, "Grad-CAM registers hooks on the target layer"
    predictor.close()
    assert _hooks(model) == 0, "Predictor.close leaves forward hooks on the model"
    predictor.close()  # closing twice is harmless

    with GradCamExplainer(model) as explainer:
        assert _hooks(model) > 0
        explainer(torch.zeros(1, 3, 64, 64), [lambda out: out[..., 0]])
    assert _hooks(model) == 0
