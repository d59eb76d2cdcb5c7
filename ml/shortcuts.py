"""File-level shortcut features and a trivial classifier over them (issue 12, item 5).

A detector number means little if a classifier that never looks at pixels can match it: when the
two classes of a source differ in file size, dimensions or JPEG quality, any model can learn that
instead of generator traces. This module measures that shortcut per source.

Features of one image file (bytes only, no pixels): file size, width, height, aspect ratio, bytes
per pixel, an estimate of the JPEG quality from the luminance and chrominance quantisation tables
(the libjpeg scaling of the standard Annex K tables inverted, as ImageMagick's ``identify`` does
it, least squares over the 64 entries), chroma subsampling and progressive flag.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

FEATURES = ("file_size", "width", "height", "aspect", "bytes_per_pixel", "jpeg_quality",
            "jpeg_quality_chroma", "subsampling", "progressive", "is_jpeg")

# JPEG Annex K standard tables (natural order; order does not matter for the fit).
_STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=float)
_STD_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, dtype=float)


def _table_for(quality: int, std: np.ndarray) -> np.ndarray:
    """The libjpeg table for ``quality`` (jpeg_quality_scaling + baseline clamp to 1..255)."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((std * scale + 50) / 100), 1, 255)


def estimate_quality(table: list[int] | tuple[int, ...], std: np.ndarray = _STD_LUMA) -> int:
    """The libjpeg quality 1..100 whose scaled standard table is nearest (sum of squared
    differences, sorted entries so zig-zag vs natural order does not matter)."""
    t = np.sort(np.asarray(table, dtype=float))
    s = np.sort(std)
    errors = [float(((np.sort(_table_for(q, s)) - t) ** 2).sum()) for q in range(1, 101)]
    return int(np.argmin(errors)) + 1


def file_features(data: bytes) -> dict[str, float]:
    """The shortcut features of one image file's bytes."""
    with Image.open(io.BytesIO(data)) as im:
        width, height = im.size
        is_jpeg = im.format == "JPEG"
        q_luma = q_chroma = 0
        subsampling = -1
        progressive = 0
        if is_jpeg:
            tables = getattr(im, "quantization", None) or {}
            if 0 in tables:
                q_luma = estimate_quality(tables[0], _STD_LUMA)
            if 1 in tables:
                q_chroma = estimate_quality(tables[1], _STD_CHROMA)
            try:
                from PIL import JpegImagePlugin

                subsampling = JpegImagePlugin.get_sampling(im)
            except Exception:  # noqa: BLE001 - an odd JPEG keeps the "unknown" value
                subsampling = -1
            progressive = int(bool(im.info.get("progressive") or im.info.get("progression")))
    return {
        "file_size": float(len(data)), "width": float(width), "height": float(height),
        "aspect": width / max(1, height), "bytes_per_pixel": len(data) / max(1, width * height),
        "jpeg_quality": float(q_luma), "jpeg_quality_chroma": float(q_chroma),
        "subsampling": float(subsampling), "progressive": float(progressive), "is_jpeg": float(is_jpeg),
    }


def feature_matrix(blobs: list[bytes]) -> np.ndarray:
    rows = [file_features(b) for b in blobs]
    return np.array([[r[f] for f in FEATURES] for r in rows], dtype=float)


def _signed_log(x: np.ndarray) -> np.ndarray:
    """log1p of magnitudes, sign kept: sizes span orders of magnitude; -1 marks "unknown"."""
    return np.sign(x) * np.log1p(np.abs(x))


def shortcut_classifiers() -> dict[str, Any]:
    """The trivial classifiers tried: logistic regression on standardised features (log of the
    size-like ones) and a depth-3 decision tree."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    return {
        "logistic_regression": make_pipeline(FunctionTransformer(_signed_log), StandardScaler(),
                                             LogisticRegression(max_iter=1000)),
        "tree_depth3": DecisionTreeClassifier(max_depth=3, random_state=0),
    }
