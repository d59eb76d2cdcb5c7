"""ml.metrics and ml.calibration against independent references on fixed inputs (issue 18, item 10):
scikit-learn for the classification metrics, SciPy's optimiser for the temperature, and values
worked out by hand for the reliability bins and the ECE."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar
from sklearn import metrics as skm

from ml.calibration import choose_threshold, fit_temperature
from ml.metrics import binary_metrics, expected_calibration_error, reliability_bins

Y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0])
P = np.array([0.05, 0.20, 0.35, 0.55, 0.62, 0.91, 0.72, 0.48, 0.66, 0.99, 0.30, 0.10, 0.58, 0.81, 0.52, 0.45])


@pytest.mark.parametrize("threshold", [0.5, 0.6, 0.3])
def test_binary_metrics_equal_scikit_learns(threshold):
    got = binary_metrics(Y, P, threshold)
    pred = (P >= threshold).astype(int)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(Y, pred))
    assert got["precision"] == pytest.approx(skm.precision_score(Y, pred, zero_division=0))
    assert got["recall"] == pytest.approx(skm.recall_score(Y, pred))
    assert got["f1"] == pytest.approx(skm.f1_score(Y, pred))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(Y, P))
    assert got["average_precision"] == pytest.approx(skm.average_precision_score(Y, P))
    assert got["confusion_matrix"] == skm.confusion_matrix(Y, pred, labels=[0, 1]).tolist()
    assert got["n"] == len(Y) and got["threshold"] == threshold


def test_a_split_with_one_class_has_no_auc_and_no_precision_by_zero_division():
    got = binary_metrics(np.zeros(4, dtype=int), np.array([0.1, 0.2, 0.3, 0.4]), 0.5)
    assert got["roc_auc"] is None and got["average_precision"] is None
    assert got["precision"] == 0.0 and got["accuracy"] == 1.0


def test_reliability_bins_and_ece_match_values_worked_out_by_hand():
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.95, 0.65, 0.62, 0.10, 0.40])
    # Confidence of the predicted class: 0.95 (right), 0.65 (right), 0.62 (wrong: said AI),
    # 0.90 (right: said real), 0.60 (wrong: said real). Bins of width 0.05 from 0.5.
    bins = {(round(b["lo"], 2), round(b["hi"], 2)): b for b in reliability_bins(y, p) if b["count"]}
    assert set(bins) == {(0.6, 0.65), (0.65, 0.7), (0.9, 0.95), (0.95, 1.0)}
    assert bins[(0.6, 0.65)]["count"] == 2 and bins[(0.6, 0.65)]["accuracy"] == 0.0
    assert bins[(0.6, 0.65)]["confidence"] == pytest.approx(0.61)
    assert bins[(0.95, 1.0)]["confidence"] == pytest.approx(0.95) and bins[(0.95, 1.0)]["accuracy"] == 1.0
    # ECE = sum over bins of count/n * |accuracy - confidence|
    want = (2 * 0.61 + 1 * (1 - 0.65) + 1 * (1 - 0.90) + 1 * (1 - 0.95)) / 5
    assert expected_calibration_error(y, p) == pytest.approx(want)


def test_the_fitted_temperature_minimises_the_nll_as_scipy_finds_it():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    logits = np.stack([np.zeros(400), (2 * y - 1) * 3.0 + rng.normal(0, 2.5, 400)], axis=1)  # overconfident

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(400), y].mean())

    reference = minimize_scalar(nll, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-6}).x
    got = fit_temperature(torch.tensor(logits, dtype=torch.float32), torch.tensor(y))
    assert got == pytest.approx(reference, rel=1e-3)


def test_the_threshold_maximises_balanced_accuracy_as_scikit_learn_scores_it():
    t = choose_threshold(torch.tensor(Y), torch.tensor(P))
    score = skm.balanced_accuracy_score(Y, (P >= t).astype(int))
    best = max(skm.balanced_accuracy_score(Y, (P >= c).astype(int)) for c in [*P, 0.5])
    assert score == pytest.approx(best)
