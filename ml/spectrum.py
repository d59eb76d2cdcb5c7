"""The spectrum of an image's noise residual, and a linear probe on it (benchmarks/detector.md 5o-5q).

Generators build images by up-sampling, which leaves periodic traces in the finest detail; a 32 px
tile is too small to resolve them, the spectrum of a larger window is not. Per image:

1. grey levels at native resolution (never resampled: resampling is what reshapes a spectrum);
2. the residual, each pixel minus the mean of its four neighbours (what is left once the picture's
   content is predicted from its surroundings);
3. its log power spectrum under a Hann window, averaged over ``WINDOWS`` windows of ``window``
   pixels at fixed places spread over the image, centred;
4. pooled to ``bins`` x ``bins`` cells: the features.

:class:`SpectralProbe` is a logistic regression on standardised features (C chosen by 5-fold
cross-validation on the training images), kept as plain numbers so it round-trips through JSON.

What it is worth, measured (detector.md): fitted on unsplash-gemini's 437 training images it
ranks that source's test split at ROC-AUC 0.954, where the ResNet50 on 32 px tiles stops near
0.75, and a mild resize of photos does not make them look generated; but one re-share (1080 px,
JPEG 75) takes it to 0.67, and it does not carry to another generator (commons-zimage 0.58). It is
evidence about an image close to how its generator made it. The portal does not serve it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

from .errors import MLError
from .imageio import decode_image

WINDOW = 256
WINDOWS = 8
BINS = 32


def residual(grey: np.ndarray) -> np.ndarray:
    """``grey`` minus the mean of its four neighbours (the border rows and columns dropped)."""
    c = grey[1:-1, 1:-1]
    return c - (grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]) / 4


def window_corners(height: int, width: int, size: int) -> list[tuple[int, int]]:
    """``WINDOWS`` top-left corners on a fixed 2-row grid spread from edge to edge."""
    ys = np.linspace(0, max(0, height - size), 2).astype(int)
    xs = np.linspace(0, max(0, width - size), WINDOWS // 2).astype(int)
    return [(int(y), int(x)) for y in ys for x in xs]


def fits(im: Image.Image, window: int = WINDOW) -> bool:
    """Whether the image holds one window of residual (``window`` + 2 pixels on each side)."""
    return min(im.size) >= window + 2


def residual_spectrum(im: Image.Image, *, window: int = WINDOW) -> np.ndarray:
    """The mean log power spectrum (centred, ``window`` x ``window``) of the image's residual."""
    if not fits(im, window):
        raise MLError(f"A {im.width} x {im.height} image is smaller than the {window} px spectrum window.")
    r = residual(np.asarray(im.convert("L"), dtype=np.float32))
    hann = np.outer(np.hanning(window), np.hanning(window)).astype(np.float32)
    out = np.zeros((window, window), dtype=np.float64)
    for y, x in window_corners(r.shape[0], r.shape[1], window):
        w = r[y:y + window, x:x + window]
        out += np.log1p(np.abs(np.fft.fft2((w - w.mean()) * hann)) ** 2)
    return np.fft.fftshift(out / WINDOWS)


def pooled(spectrum: np.ndarray, bins: int = BINS) -> np.ndarray:
    """The spectrum's mean over ``bins`` x ``bins`` cells, flattened."""
    n = spectrum.shape[0]
    if n % bins:
        raise MLError(f"A {n} px spectrum does not divide into {bins} bins.")
    s = n // bins
    return spectrum.reshape(bins, s, bins, s).mean(axis=(1, 3)).ravel()


def radial(spectrum: np.ndarray, bins: int = 64) -> np.ndarray:
    """The spectrum's mean over ``bins`` rings of equal width around the centre."""
    n = spectrum.shape[0]
    yy, xx = np.mgrid[0:n, 0:n] - n // 2
    ring = np.minimum((np.hypot(yy, xx) / (n / 2) * bins).astype(int), bins - 1)
    return np.bincount(ring.ravel(), weights=spectrum.ravel(), minlength=bins) / np.maximum(
        np.bincount(ring.ravel(), minlength=bins), 1)


def features(im: Image.Image, *, window: int = WINDOW, bins: int = BINS) -> np.ndarray:
    """The probe's input for one image: :func:`pooled` of :func:`residual_spectrum`."""
    return pooled(residual_spectrum(im, window=window), bins)


@dataclass(frozen=True)
class SpectralProbe:
    """A fitted linear probe: p(AI) = sigmoid(((x - mean) / scale) . coef + intercept)."""

    window: int
    bins: int
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    c: float  # the regularisation chosen by cross-validation

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = ((np.asarray(x, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(
            self.coef) + self.intercept
        return 1 / (1 + np.exp(-np.clip(z, -60, 60)))

    def probability(self, im: Image.Image) -> float | None:
        """p(AI-generated) of one image, or None when it is smaller than one window."""
        if not fits(im, self.window):
            return None
        return float(self.probabilities(features(im, window=self.window, bins=self.bins)[None])[0])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpectralProbe:
        try:
            probe = cls(window=int(d["window"]), bins=int(d["bins"]), mean=[float(v) for v in d["mean"]],
                        scale=[float(v) for v in d["scale"]], coef=[float(v) for v in d["coef"]],
                        intercept=float(d["intercept"]), c=float(d["c"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise MLError(f"Not a spectral probe: {exc}") from exc
        n = probe.bins * probe.bins
        if not (len(probe.mean) == len(probe.scale) == len(probe.coef) == n):
            raise MLError(f"A spectral probe of {probe.bins} x {probe.bins} bins needs {n} numbers per vector.")
        return probe


def fit_probe(x: np.ndarray, y: Sequence[int], *, window: int = WINDOW, bins: int = BINS,
              cs: Sequence[float] = tuple(np.logspace(-4, 2, 13)), folds: int = 5) -> SpectralProbe:
    """Standardise the features and fit a logistic regression, C by ``folds``-fold CV (ROC-AUC)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(x, dtype=np.float64)
    targets = np.asarray(y)
    if set(targets.tolist()) != {0, 1}:
        raise MLError("A spectral probe needs images of both classes to learn from.")
    scaler = StandardScaler().fit(x)
    model = LogisticRegressionCV(Cs=[float(c) for c in cs], cv=folds, max_iter=5000, scoring="roc_auc")
    model.fit(scaler.transform(x), targets)
    return SpectralProbe(window=window, bins=bins, mean=scaler.mean_.tolist(), scale=scaler.scale_.tolist(),
                         coef=np.ravel(model.coef_).tolist(), intercept=float(np.ravel(model.intercept_)[0]),
                         c=float(np.ravel(model.C_)[0]))


def fit_on_dataset(samples: Sequence[Any], source: str, *, window: int = WINDOW,
                   bins: int = BINS) -> tuple[SpectralProbe, dict[str, Any]]:
    """Fit a probe on ``source``'s train split (``ml.data`` samples) and score every other split
    of every source at p = 0.5 (``ml.metrics.binary_metrics``): ``(probe, {"source/split": metrics})``.
    Images smaller than one window are left out of everything and counted."""
    from .metrics import binary_metrics

    rows: dict[str, list[tuple[np.ndarray, int]]] = {}
    skipped: dict[str, int] = {}
    for s in samples:
        key = f"{s.source}/{s.split}"
        im = decode_image(s.read_bytes())  # upright and RGB, as the worker decodes an upload
        if not fits(im, window):
            skipped[key] = skipped.get(key, 0) + 1
            continue
        rows.setdefault(key, []).append((features(im, window=window, bins=bins), s.target))
    train = rows.pop(f"{source}/train", [])
    if not train:
        raise MLError(f"No training images of source {source!r} are at least {window + 2} px on each side.")
    probe = fit_probe(np.stack([x for x, _ in train]), [t for _, t in train], window=window, bins=bins)
    scores: dict[str, Any] = {}
    for key, items in sorted(rows.items()):
        p = probe.probabilities(np.stack([x for x, _ in items]))
        scores[key] = binary_metrics(np.array([t for _, t in items]), p)
    return probe, {"train": {"source": source, "n": len(train)}, "scores": scores, "skipped_too_small": skipped}
