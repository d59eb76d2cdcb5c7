"""int8 decides only away from the threshold: images whose low-precision verdict lies within the
recheck band of the threshold are judged again by the fp32 model, whose result stands (on the
served whole-image path and on Predictor.predict alike)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from PIL import Image

from ml import precision
from ml.precision import near_threshold
from ml.predict import Predictor
from ml.wholeimage import analyse


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_near_threshold_measures_the_distance_in_log_odds():
    assert near_threshold(0.5, 0.5, 0.1)
    assert not near_threshold(0.5, 0.5, 0.0)  # band 0: never
    p_in = 1 / (1 + math.exp(-0.09))  # log-odds 0.09 from a threshold of 0.5
    p_out = 1 / (1 + math.exp(-0.11))
    assert near_threshold(p_in, 0.5, 0.1) and not near_threshold(p_out, 0.5, 0.1)
    assert near_threshold(1 - p_in, 0.5, 0.1)  # on either side
    # Around another threshold the same distance in log-odds, not in probability.
    t = 0.9
    assert near_threshold(1 / (1 + math.exp(-(_logit(t) - 0.09))), t, 0.1)
    assert not near_threshold(0.85, t, 0.1)  # 0.05 away in probability, 0.46 in log-odds
    assert not near_threshold(0.0, 0.5, 5.0) and not near_threshold(1.0, 0.5, 5.0)  # clipped, no error


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(3)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
            for w, h in [(64, 64), (100, 70), (130, 64), (64, 64), (90, 90), (70, 120), (64, 80), (150, 100)]]


@pytest.fixture
def pair(tiny_checkpoint):  # type: ignore[no-untyped-def]
    """(reference predictor, low predictor): the low one's model is the fp32 one with its AI logit
    shifted, a stand-in for a low precision's error with a known size; its reference is the fp32 model."""
    reference = Predictor(tiny_checkpoint, device="cpu", max_tiles=4)
    low = Predictor(tiny_checkpoint, device="cpu", max_tiles=4)
    shifted = copy.deepcopy(low.model)
    with torch.no_grad():
        shifted.fc.bias[1] += 0.4
    low.model = shifted
    return reference, low


def _p(out) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([o.probability_ai for o in out])


def test_a_band_that_holds_every_image_serves_the_reference_results(pair):  # type: ignore[no-untyped-def]
    reference, low = pair
    images = _images()
    want = analyse(reference, images, max_tiles=4)
    alone = analyse(low, images, max_tiles=4)  # no reference yet: the shifted model alone
    assert np.abs(_p(alone) - _p(want)).max() > 0.01  # the stand-in error is visible
    low.reference, low.recheck_log_odds = reference.model, 1e6
    got = analyse(low, images, max_tiles=4)
    np.testing.assert_allclose(_p(got), _p(want), rtol=0, atol=1e-6)
    for g, w in zip(got, want):
        assert g.rechecked and g.label == w.label and g.decisive == w.decisive
        np.testing.assert_allclose(np.nan_to_num(g.heatmap), np.nan_to_num(w.heatmap), atol=1e-5)
        assert g.faithfulness == w.faithfulness  # its variants went through the reference too
        assert "recheck_fp32" in g.timings_ms
    np.testing.assert_allclose(_p(low.predict(images)), _p(want), atol=1e-6)  # the other path agrees


def test_only_the_images_within_the_band_are_judged_again(pair):  # type: ignore[no-untyped-def]
    reference, low = pair
    images = _images()
    want = _p(analyse(reference, images, max_tiles=4))
    alone = _p(analyse(low, images, max_tiles=4))
    threshold = low.meta.threshold
    distance = np.array([abs(_logit(float(np.clip(p, 1e-12, 1 - 1e-12))) - _logit(threshold)) for p in alone])
    band = float(np.median(distance))
    inside = distance < band
    assert inside.any() and (~inside).any()
    low.reference, low.recheck_log_odds = reference.model, band
    out = analyse(low, images, max_tiles=4)
    got = _p(out)
    np.testing.assert_allclose(got[inside], want[inside], atol=1e-6)
    np.testing.assert_allclose(got[~inside], alone[~inside], atol=1e-6)
    assert [o.rechecked for o in out] == list(inside)
    np.testing.assert_allclose(_p(low.predict(images)), got, atol=1e-6)
    # Without a band nothing is judged again.
    low.recheck_log_odds, low.reference = 0.0, None
    assert not any(o.rechecked for o in analyse(low, images, max_tiles=4))


@pytest.mark.slow  # FX quantisation traces all of ResNet50
@pytest.mark.skipif("x86" not in precision.cpu_features().quantized_engines, reason="no x86 quantised engine")
def test_an_int8_predictor_keeps_the_fp32_model_as_its_reference_only_with_a_band(tiny_checkpoint, monkeypatch):
    from ml import predict

    amx = precision.CpuFeatures(flags=frozenset({"amx_tile", "amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni"}),
                                mkldnn=True, quantized_engines=("x86", "fbgemm"))
    monkeypatch.setattr(precision, "cpu_features", lambda: amx)  # int8 runs (slowly) wherever x86 exists
    torch.manual_seed(0)
    monkeypatch.setattr(predict, "calibration_batches", lambda data, pre: [torch.randn(4, 3, 64, 64)])
    with_band = Predictor(tiny_checkpoint, device="cpu", precision="int8", calibration_data="unused",
                          recheck_log_odds=0.3)
    assert with_band.precision.precision == "int8" and with_band.recheck_log_odds == 0.3
    assert with_band.reference is not None and with_band.reference is not with_band.model
    assert not isinstance(with_band.reference, precision.LowPrecisionResNet)
    without = Predictor(tiny_checkpoint, device="cpu", precision="int8", calibration_data="unused",
                        recheck_log_odds=0.0)
    assert without.reference is None and without.recheck_log_odds == 0.0
    bf16 = Predictor(tiny_checkpoint, device="cpu", precision="bf16", recheck_log_odds=0.3)
    assert bf16.reference is None  # bf16 agrees with fp32 without help
