"""The hyperparameters an admin may set for a training run: one table of types, defaults and
inclusive bounds, and the one check of a submitted set. The training form, the API's serializer and
``services.training_run_start`` all read them from here, so the doors refuse the same values with
the same messages (ml.config.TrainConfig.validate keeps ml's own floor, below these bounds, for
runs started from its CLI).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ml.config import PreprocessConfig, TrainConfig

from .errors import VerityError

_TRAIN = TrainConfig()
_PREPROCESS = PreprocessConfig()


@dataclass(frozen=True)
class Limit:
    kind: type[int] | type[float]
    default: int | float
    low: int | float
    high: int | float
    label: str

    @property
    def out_of_range(self) -> str:
        return f"Must be between {self.low} and {self.high}."

    @property
    def help_text(self) -> str:
        return f"{self.low} to {self.high}; default {self.default}."


# Defaults are ml's own (what a run gets when the field is left out); the bounds are the portal's.
LIMITS: dict[str, Limit] = {
    "epochs": Limit(int, _TRAIN.epochs, 1, 200, "Epochs"),
    "batch_size": Limit(int, _TRAIN.batch_size, 2, 1024, "Batch size"),  # BatchNorm needs two images a batch
    "lr": Limit(float, _TRAIN.lr, 1e-7, 1.0, "Learning rate"),
    "input_size": Limit(int, _PREPROCESS.input_size, 32, 1024, "Input size"),
    "train_crop": Limit(int, _PREPROCESS.train_crop, 16, 1024, "Training crop"),
    "seed": Limit(int, _TRAIN.seed, 0, 2**31 - 1, "Seed"),
}


def _number(limit: Limit, value: Any) -> int | float:
    """``value`` as ``limit.kind``, or ValueError; the bounds are checked by the caller."""
    if isinstance(value, bool):
        raise ValueError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    if limit.kind is int:
        if number != int(number):
            raise ValueError
        return int(number)
    return number


def resolve(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Validated hyperparameters with defaults filled in (a missing, None or empty value takes the
    default). Unknown keys and bad values raise VerityError with one message per field."""
    raw = dict(raw or {})
    errors: dict[str, list[str]] = {}
    for key in sorted(set(raw) - set(LIMITS)):
        errors[key] = [f"Unknown hyperparameter; allowed: {', '.join(LIMITS)}."]
    resolved: dict[str, Any] = {}
    for key, limit in LIMITS.items():
        value = raw.get(key)
        if value is None or value == "":
            value = limit.default
        try:
            number = _number(limit, value)
        except (TypeError, ValueError):
            errors[key] = [f"Must be {'a whole number' if limit.kind is int else 'a number'}."]
            continue
        if not limit.low <= number <= limit.high:
            errors[key] = [limit.out_of_range]
            continue
        resolved[key] = number
    if "train_crop" in resolved and "input_size" in resolved and resolved["train_crop"] > resolved["input_size"]:
        errors["train_crop"] = ["Must not be larger than input_size."]
    if errors:
        raise VerityError("Some hyperparameters are invalid.", details=errors)
    return resolved
