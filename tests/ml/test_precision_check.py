"""ml/precision_check.py: the tolerances that decide whether a lower precision may serve a model,
and how the check records precisions it could not run."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ml.precision_check import TOLERANCES, agreement, check_precisions


def _set(n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    targets = np.arange(n) % 2
    p = np.clip(0.5 + (targets - 0.5) * rng.uniform(0.1, 0.9, n), 0.01, 0.99)  # every verdict right
    return p, targets


def test_identical_probabilities_pass_with_full_agreement():
    p, y = _set()
    a = agreement(p, p.copy(), y, 0.5)
    assert a["passes"] and a["verdict_agreement"] == 1.0 and a["mean_abs_dp"] == 0.0 and a["accuracy_points"] == 0


def test_one_flip_in_200_is_the_most_the_tolerance_allows():
    p, y = _set()
    one, two = p.copy(), p.copy()
    one[0] = 1 - one[0]  # crosses the threshold: a wrong verdict now
    two[:2] = 1 - two[:2]
    a1, a2 = agreement(p, one, y, 0.5), agreement(p, two, y, 0.5)
    assert a1["verdict_agreement"] == 0.995 and a2["verdict_agreement"] == 0.99
    # One flip moves accuracy by 0.5 points: beyond 0.3, so even one flip fails on 200 images...
    assert a1["accuracy_points"] == pytest.approx(-0.5) and not a1["passes"]
    # ...unless another image flips the other way (accuracy unchanged), then agreement decides.
    wrong = p.copy()
    wrong[1] = 1 - wrong[1]  # the reference gets image 1 wrong too
    balanced = wrong.copy()
    balanced[0], balanced[1] = 1 - balanced[0], 1 - balanced[1]
    assert agreement(wrong, balanced, y, 0.5)["accuracy_points"] == 0
    assert not agreement(wrong, balanced, y, 0.5)["passes"]  # 2 flips in 200: 0.99 < 0.995


def test_a_small_shift_passes_and_a_large_one_fails_on_mean_difference():
    p, y = _set()
    assert agreement(p, np.clip(p + 0.005 * np.sign(p - 0.5), 0, 1), y, 0.5)["passes"]
    shifted = agreement(p, np.clip(p + 0.02 * np.sign(p - 0.5), 0, 1), y, 0.5)
    assert shifted["verdict_agreement"] == 1.0 and shifted["mean_abs_dp"] > TOLERANCES["mean_abs_dp"]
    assert not shifted["passes"]


def test_mismatched_arrays_are_refused():
    with pytest.raises(ValueError):
        agreement(np.zeros(3), np.zeros(2), np.zeros(3), 0.5)


class _Fake:
    def __init__(self, runs: str, shift: float, reason: str = "as configured") -> None:
        self.precision = SimpleNamespace(precision=runs, reason=reason)
        self.meta = SimpleNamespace(threshold=0.5)
        self.shift, self.closed = shift, False

    def close(self) -> None:
        self.closed = True


def test_check_records_passing_failing_and_fallen_back_precisions():
    p, y = _set(40)
    groups = {"a": (list(range(20)), y[:20]), "b": (list(range(20, 40)), y[20:])}
    made: list[_Fake] = []

    def make(precision: str) -> _Fake:
        if precision == "int8":
            raise RuntimeError("int8 needs calibration images")
        fake = {"fp32": _Fake("fp32", 0.0), "bf16": _Fake("bf16", 0.002),
                "fancy": _Fake("fp32", 0.0, "fallback: this CPU lacks it")}[precision]
        made.append(fake)
        return fake

    def predict(fake: _Fake, items: list[int]) -> np.ndarray:
        return np.clip(p[items] + fake.shift * np.sign(p[items] - 0.5), 0, 1)

    out = check_precisions("x/model.pt", groups, predict=predict, make_predictor=make,
                           precisions=["fp32", "bf16", "int8", "fancy"])
    assert out["verified"] == ["bf16"] and out["checkpoint"] == "model.pt"
    assert set(out["results"]["bf16"]["per_source"]) == {"a", "b"} and out["results"]["bf16"]["passes"]
    assert out["results"]["int8"] == {"checked": False, "reason": "int8 needs calibration images", "passes": False}
    assert out["results"]["fancy"]["checked"] is False and "lacks" in out["results"]["fancy"]["reason"]
    assert all(f.closed for f in made)
    assert out["results"]["bf16"]["all"]["n"] == 40


def _check(shift_of: dict[str, np.ndarray], groups: dict[str, tuple[list[int], np.ndarray]], p: np.ndarray) -> dict:
    fakes = {"fp32": _Fake("fp32", 0.0), "bf16": _Fake("bf16", 0.0)}

    def predict(fake: _Fake, items: list[int]) -> np.ndarray:
        out = p[items].copy()
        if fake.precision.precision == "bf16":
            out = out + shift_of["delta"][items]
        return out

    return check_precisions("m.pt", groups, predict=predict, make_predictor=fakes.__getitem__,
                            precisions=["bf16"])["results"]["bf16"]


def test_counts_are_judged_on_all_sources_together_and_the_mean_difference_on_each():
    """One flip among 20 images of a small source is 5 % of that source but 1 in 400 overall:
    within the tolerance. A source whose probabilities move by 0.05 on average fails the precision
    even when the pooled mean stays under 0.01."""
    p, y = _set(400)
    groups = {"big": (list(range(380)), y[:380]), "small": (list(range(380, 400)), y[380:])}
    delta = np.zeros(400)
    p[385] = 0.503  # an AI image (odd index) just above the threshold...
    delta[385] = -0.006  # ...that the lower precision puts just below it: a flip
    one_flip = _check({"delta": delta}, groups, p)
    small = one_flip["per_source"]["small"]
    assert small["verdict_agreement"] == 0.95 and not small["passes"]
    assert one_flip["all"]["verdict_agreement"] == 0.9975 and one_flip["passes"]
    drift = np.zeros(400)
    drift[380:] = 0.05 * np.sign(p[380:] - 0.5)  # the small source moves, no verdict changes
    drifted = _check({"delta": drift}, groups, p)
    assert drifted["all"]["mean_abs_dp"] <= 0.01 and drifted["all"]["passes"]
    assert not drifted["passes"]
