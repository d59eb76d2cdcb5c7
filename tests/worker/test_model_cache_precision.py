"""The worker's model cache serves at the configured inference precision (VERITY_INFERENCE_PRECISION),
and falls back to fp32 on a CPU without the instructions for it."""

from __future__ import annotations

import pytest

from ml import precision
from ml.precision import CpuFeatures

AMX = CpuFeatures(flags=frozenset({"amx_tile", "amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni"}),
                  mkldnn=True, quantized_engines=("x86", "fbgemm"))
NO_AMX = CpuFeatures(flags=frozenset({"avx2", "fma"}), mkldnn=True, quantized_engines=("x86",))


@pytest.fixture
def fresh_cache():  # type: ignore[no-untyped-def]
    from worker import model_cache

    model_cache.clear()
    yield model_cache
    model_cache.clear()


@pytest.mark.parametrize(("configured", "features", "served"),
                         [("bf16", AMX, "bf16"), ("fp32", AMX, "fp32"), ("bf16", NO_AMX, "fp32")])
def test_the_cache_loads_the_model_at_the_configured_precision(fresh_cache, active_version, settings, monkeypatch,
                                                               configured, features, served):
    monkeypatch.setattr(precision, "cpu_features", lambda: features)
    settings.VERITY_DEVICE = "cpu"
    settings.VERITY_INFERENCE_PRECISION = configured
    settings.VERITY_BATCH_SIZE = 2
    _, predictor = fresh_cache.active_predictor()
    assert predictor.precision.requested == configured
    assert predictor.precision.precision == served
    assert isinstance(predictor.model, precision.LowPrecisionResNet) == (served != "fp32")


def test_int8_without_calibration_data_is_refused_with_what_to_set(fresh_cache, active_version, settings,
                                                                  monkeypatch):
    from ml.errors import MLError

    monkeypatch.setattr(precision, "cpu_features", lambda: AMX)
    settings.VERITY_DEVICE = "cpu"
    settings.VERITY_INFERENCE_PRECISION = "int8"
    settings.VERITY_INT8_CALIBRATION_DATA = ""
    with pytest.raises(MLError, match="VERITY_INT8_CALIBRATION_DATA"):
        fresh_cache.active_predictor()
    assert fresh_cache.loaded_versions() == []


@pytest.mark.slow  # FX quantisation traces all of ResNet50
@pytest.mark.skipif("x86" not in precision.cpu_features().quantized_engines, reason="no x86 quantised engine")
@pytest.mark.parametrize(("configured", "band"), [(None, precision.INT8_RECHECK_LOG_ODDS), (0.0, 0.0), (0.5, 0.5)])
def test_the_int8_recheck_band_follows_the_setting(fresh_cache, active_version, settings, monkeypatch,
                                                   configured, band):
    """VERITY_INT8_RECHECK_LOG_ODDS: unset serves the measured band, 0 turns the recheck (and the fp32
    copy each worker keeps for it) off."""
    import torch

    from ml import predict

    monkeypatch.setattr(precision, "cpu_features", lambda: AMX)
    torch.manual_seed(0)
    monkeypatch.setattr(predict, "calibration_batches", lambda data, pre: [torch.randn(4, 3, 64, 64)])
    settings.VERITY_DEVICE = "cpu"
    settings.VERITY_INFERENCE_PRECISION = "int8"
    settings.VERITY_INT8_CALIBRATION_DATA = "unused"
    settings.VERITY_INT8_RECHECK_LOG_ODDS = configured
    settings.VERITY_BATCH_SIZE = 1
    _, predictor = fresh_cache.active_predictor()
    assert predictor.precision.precision == "int8"
    assert predictor.recheck_log_odds == band
    assert (predictor.reference is not None) == (band > 0)


@pytest.mark.parametrize(("device", "cuda", "expected"), [("auto", True, 48), ("cuda", True, 48),
                                                          ("cpu", True, 6), ("auto", False, 6)])
def test_the_worker_batch_size_follows_the_device(settings, monkeypatch, device, cuda, expected):
    """Selection logic only: no GPU is lent to these tests (the CUDA numbers were not measured)."""
    from worker import model_cache

    monkeypatch.setattr(model_cache.torch.cuda, "is_available", lambda: cuda)
    settings.VERITY_DEVICE = device
    settings.VERITY_BATCH_SIZE = 6
    settings.VERITY_GPU_BATCH_SIZE = 48
    assert model_cache.batch_size() == expected


def test_on_cuda_auto_chooses_bf16_without_measuring(monkeypatch):
    """On a CUDA device with bf16 support ``auto`` serves bf16 (tensor cores) and times nothing, when
    the model's bf16 agreement with fp32 is on record (measured by the recipe: bf16 weights and
    activations with fp32 accumulation on either device)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "test GPU")
    monkeypatch.setattr(precision, "convert", lambda model, p, calibration=None: (model, p))
    monkeypatch.setattr(precision, "time_forward", lambda *a, **k: pytest.fail("measured on CUDA"))
    sentinel = torch.nn.Identity()
    served, choice = precision.prepare(sentinel, torch.device("cuda"), "auto", verified=("bf16",))
    assert served == (sentinel, "bf16") and choice.precision == "bf16"
    assert precision.prepare(sentinel, torch.device("cuda"), "auto")[1].precision == "fp32"  # not on record
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    served, choice = precision.prepare(sentinel, torch.device("cuda"), "auto", verified=("bf16",))
    assert served is sentinel and choice.precision == "fp32"
    assert precision.prepare(sentinel, torch.device("cuda"), "int8")[1].reason.startswith("fallback")


def test_by_default_a_model_without_an_agreement_record_is_served_in_fp32(fresh_cache, active_version, settings,
                                                                          monkeypatch):
    """The default is ``auto``; the demo checkpoint was never checked against fp32 (the recipe
    does that), so even on a CPU with bf16 units it is served as trained, and the log says why."""
    import os

    from portal import settings as configured  # the module as read from the environment, no test overrides

    if "VERITY_INFERENCE_PRECISION" not in os.environ:
        assert configured.VERITY_INFERENCE_PRECISION == "auto"
    monkeypatch.setattr(precision, "cpu_features", lambda: AMX)
    settings.VERITY_DEVICE = "cpu"
    settings.VERITY_INFERENCE_PRECISION = "auto"
    _, predictor = fresh_cache.active_predictor()
    assert predictor.precision.precision == "fp32"
    assert "no agreement with fp32 is recorded" in predictor.precision.reason


@pytest.mark.parametrize(("value", "expected"), [("", "None"), ("0", "0.0"), ("0.35", "0.35"), ("-1", None),
                                                 ("wide", None)])
def test_the_recheck_band_setting_is_read_from_the_environment(tmp_path, value, expected):
    from tests.fresh_settings import run_with_settings

    code = "from django.conf import settings; print(settings.VERITY_INT8_RECHECK_LOG_ODDS)"
    result = run_with_settings(code, tmp_path, env={"VERITY_INT8_RECHECK_LOG_ODDS": value})
    if expected is None:
        assert result.returncode != 0 and "VERITY_INT8_RECHECK_LOG_ODDS" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected
