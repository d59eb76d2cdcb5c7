"""The noise residual's spectrum and its linear probe (ml.spectrum; benchmarks/detector.md 5o-5q)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ml import spectrum
from ml.cli import main
from ml.errors import MLError
from tests.ml.fake_shared_data import make_source

WINDOW, BINS = 64, 16  # small windows keep the tests fast; the served default is 256 / 32


def _noise(seed: int, size: int = 100, stripes: bool = False) -> Image.Image:
    rng = np.random.default_rng(seed)
    a = rng.normal(128, 20, (size, size))
    if stripes:  # a period of two pixels: the trace a 2x up-sampling leaves, at the Nyquist frequency
        a[:, ::2] += 12
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def test_the_residual_of_a_smooth_ramp_is_zero():
    yy, xx = np.mgrid[0:40, 0:50].astype(np.float32)
    assert np.abs(spectrum.residual(3 * xx + 2 * yy + 7)).max() < 1e-4
    assert spectrum.residual(xx).shape == (38, 48)


def test_a_two_pixel_period_shows_at_the_nyquist_frequency():
    plain = spectrum.residual_spectrum(_noise(1), window=WINDOW)
    striped = spectrum.residual_spectrum(_noise(1, stripes=True), window=WINDOW)
    centre = WINDOW // 2  # after fftshift, column 0 of the centre row is the horizontal Nyquist frequency
    assert striped[centre, 0] > plain[centre, 0] + 3  # log power: a factor above e^3
    assert abs(float(np.median(striped - plain))) < 0.5  # elsewhere the spectra agree


def _upsampled(seed: int, size: int = 100) -> Image.Image:
    """Noise drawn at half the size and up-sampled 2x (bilinear), with fresh noise on top: the
    spectral shape a generator's up-sampling leaves, at about the same pixel spread as _noise."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(np.clip(rng.normal(128, 28, (size // 2, size // 2)), 0, 255).astype(np.uint8))
    a = np.asarray(small.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64)
    return Image.fromarray(np.clip(a + rng.normal(0, 6, a.shape), 0, 255).astype(np.uint8))


def test_the_probe_learns_a_planted_trace_and_round_trips_through_json():
    x = np.stack([spectrum.features(_upsampled(i) if i % 2 else _noise(i), window=WINDOW, bins=BINS)
                  for i in range(80)])
    y = np.array([i % 2 for i in range(80)])
    probe = spectrum.fit_probe(x[:60], y[:60], window=WINDOW, bins=BINS)
    p = probe.probabilities(x[60:])
    held_out = y[60:]
    # Ranked: every held-out striped image above every plain one (ROC-AUC 1), and on average on its side.
    assert p[held_out == 1].min() > p[held_out == 0].max()
    assert p[held_out == 1].mean() > 0.5 > p[held_out == 0].mean()
    again = spectrum.SpectralProbe.from_dict(json.loads(json.dumps(probe.to_dict())))
    assert again == probe
    assert again.probability(_noise(99, stripes=True)) == pytest.approx(
        float(probe.probabilities(spectrum.features(_noise(99, stripes=True), window=WINDOW, bins=BINS)[None])[0]))


def test_images_smaller_than_a_window_are_not_judged():
    probe = spectrum.SpectralProbe(window=WINDOW, bins=BINS, mean=[0.0] * BINS**2, scale=[1.0] * BINS**2,
                                   coef=[0.0] * BINS**2, intercept=0.0, c=1.0)
    assert probe.probability(_noise(0, size=WINDOW + 1)) is None
    assert probe.probability(_noise(0, size=WINDOW + 2)) == pytest.approx(0.5)
    with pytest.raises(MLError, match="smaller than"):
        spectrum.residual_spectrum(_noise(0, size=WINDOW), window=WINDOW)


def test_a_probe_file_of_the_wrong_shape_is_refused():
    with pytest.raises(MLError, match="needs 256 numbers"):
        spectrum.SpectralProbe.from_dict({"window": 64, "bins": 16, "mean": [0.0], "scale": [1.0], "coef": [0.0],
                                          "intercept": 0.0, "c": 1.0})
    with pytest.raises(MLError, match="Not a spectral probe"):
        spectrum.SpectralProbe.from_dict({"window": 64})


def test_the_cli_fits_on_one_source_scores_the_others_and_judges_images(tmp_path, capsys):
    data = tmp_path / "data"
    make_source(data / "photos", {"train": 12, "val": 4, "test": 4}, (96, 96), seed=0)
    make_source(data / "other", {"test": 4}, (96, 96), seed=500)
    out = tmp_path / "probe"
    assert main(["spectral-probe", "--data", str(data), "--source", "photos", "--out", str(out),
                 "--window", str(WINDOW), "--bins", str(BINS)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["train"] == {"source": "photos", "n": 24}
    assert set(report["scores"]) == {"photos/val", "photos/test", "other/test"}
    # The fake source's AI images are smoothed (a real, learnable difference): the probe ranks them.
    assert report["scores"]["photos/test"]["roc_auc"] > 0.9
    capsys.readouterr()
    image = tmp_path / "one.png"
    _noise(3, size=90).save(image)
    small = tmp_path / "small.png"
    _noise(3, size=40).save(small)
    assert main(["spectral-probe", "--probe", str(out / "probe.json"), str(image), str(small)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert 0 <= rows[0]["probability_ai"] <= 1 and rows[1]["probability_ai"] is None
    assert main(["spectral-probe", "--data", str(data)]) == 2  # neither a full fit nor a probe: a clear error
