"""Outcome metrics for a binary real (0) vs ai_generated (1) classifier, from probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> list[list[int]]:
    """2x2 confusion matrix, rows = true class, columns = predicted class (real, ai_generated)."""
    m = np.zeros((2, 2), dtype=int)
    for t, p in zip(y_true.astype(int), y_pred.astype(int)):
        m[t, p] += 1
    return m.tolist()


def reliability_bins(y_true: np.ndarray, p_pos: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Equal-width bins over the predicted class's confidence (0.5 to 1): count, mean confidence
    and accuracy per bin. The input of the reliability diagram and of the ECE."""
    y_true = np.asarray(y_true).astype(int)
    p_pos = np.asarray(p_pos, dtype=float)
    pred = (p_pos >= 0.5).astype(int)
    conf = np.where(pred == 1, p_pos, 1 - p_pos)
    correct = (pred == y_true).astype(float)
    edges = np.linspace(0.5, 1.0, bins + 1)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (conf >= lo) & ((conf < hi) if hi < 1.0 else (conf <= hi))
        n = int(mask.sum())
        out.append({"lo": float(lo), "hi": float(hi), "count": n,
                    "confidence": float(conf[mask].mean()) if n else None,
                    "accuracy": float(correct[mask].mean()) if n else None})
    return out


def expected_calibration_error(y_true: np.ndarray, p_pos: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-width bins of the predicted class's confidence."""
    total = len(np.asarray(y_true))
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"])
                     for b in reliability_bins(y_true, p_pos, bins) if b["count"]))


def binary_metrics(y_true: np.ndarray, p_pos: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 (positive = ai_generated), ROC-AUC, average precision,
    ECE and the confusion matrix at ``threshold``."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y_true = np.asarray(y_true).astype(int)
    p_pos = np.asarray(p_pos, dtype=float)
    y_pred = (p_pos >= threshold).astype(int)
    tp = int(((y_pred == 1) & (y_true == 1)).sum())
    fp = int(((y_pred == 1) & (y_true == 0)).sum())
    fn = int(((y_pred == 0) & (y_true == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = len(set(y_true.tolist())) == 2
    return {
        "n": int(len(y_true)),
        "threshold": float(threshold),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "roc_auc": float(roc_auc_score(y_true, p_pos)) if both else None,
        "average_precision": float(average_precision_score(y_true, p_pos)) if both else None,
        "ece": expected_calibration_error(y_true, p_pos),
        "confusion_matrix": confusion(y_true, y_pred),
    }
