"""Scoring a model evaluation: glue between verification's rows and ml.

A dataset's test split goes through ``ml.evaluate.evaluate``, the same function as ``python -m ml
evaluate``. Reviewed images go through the predictor the analysis task uses (model_cache, same
decoding limits and preprocessing), and ``ml.metrics.binary_metrics`` turns the reviewers'
verdicts and the model's probabilities into the same figures."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from ml import CLASSES
from ml.errors import MLError
from ml.imageio import decode_image
from ml.metrics import binary_metrics
from verification import selectors, services
from verification.errors import VerityError
from verification.models import EvaluationSource, ModelEvaluation

from . import model_cache

logger = logging.getLogger(__name__)

BATCH = 32


def _score_dataset(evaluation: ModelEvaluation) -> dict[str, Any]:
    from ml.evaluate import evaluate

    version, dataset = evaluation.model_version, evaluation.dataset
    if dataset is None:
        raise VerityError("The dataset of this evaluation was deleted.")
    result = evaluate(version.checkpoint, dataset.path, split="test", seed=evaluation.split_seed,
                      batch_size=BATCH, device=settings.VERITY_DEVICE or "auto")
    if result["checkpoint_sha256"] != version.checkpoint_sha256:
        raise VerityError(f"The checkpoint file of model {version.name} has changed since it was registered "
                          "(SHA-256 mismatch). Register the new file as a new version.")
    return result


def _score_reviewed(evaluation: ModelEvaluation) -> dict[str, Any]:
    _, predictor = model_cache.predictor_for(evaluation.model_version)
    images = selectors.images_by_id([pk for pk, _ in evaluation.labels])
    # Reviewed images this version (or a model it was fine-tuned from) trained on, e.g. after
    # "build dataset from reviewed cases", say nothing about how it does on unseen images.
    trained_on = predictor.meta.trained_on
    pairs = [(pk, v) for pk, v in evaluation.labels if pk not in images or images[pk].sha256 not in trained_on]
    excluded = len(evaluation.labels) - len(pairs)
    if not pairs:
        raise VerityError(f"All {excluded} reviewed images were used to train this version (or a model it was "
                          "fine-tuned from), so none can measure it. Review more cases, then evaluate again.")
    y: list[int] = []
    p: list[float] = []
    skipped = 0
    for start in range(0, len(pairs), BATCH):
        decoded = []
        for pk, verdict in pairs[start:start + BATCH]:
            try:
                im = decode_image(selectors.image_bytes(images[pk]), max_pixels=settings.VERITY_MAX_IMAGE_PIXELS)
                decoded.append((CLASSES.index(verdict), im))
            except (KeyError, MLError, OSError):
                skipped += 1  # deleted since the request, or its file is unreadable: counted, not fatal
        if decoded:
            y.extend(t for t, _ in decoded)
            p.extend(pred.probability_ai for pred in predictor.predict([im for _, im in decoded]))
    if not y:
        raise VerityError("None of the reviewed images could be read; check the image storage and try again.")
    result = binary_metrics(np.array(y), np.array(p), predictor.meta.threshold)
    result["skipped"] = skipped
    result["excluded_trained_on"] = excluded
    return result


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SoftTimeLimitExceeded):
        return (f"The evaluation took longer than {settings.VERITY_TRAINING_SOFT_TIME_LIMIT} s and was stopped. "
                "Evaluate on a smaller dataset, or raise VERITY_TRAINING_SOFT_TIME_LIMIT.")
    if isinstance(exc, (MLError, VerityError)):
        return str(exc)
    logger.error("evaluation failed", exc_info=exc)
    return f"Internal error while evaluating: {type(exc).__name__}: {exc}"


def run_evaluation(evaluation_id: int) -> str:
    """Claim, score and record one evaluation; any failure is recorded with a readable reason."""
    evaluation = services.evaluation_begin(evaluation_id=evaluation_id)
    if evaluation is None:
        return "not queued"
    score = _score_dataset if evaluation.source == EvaluationSource.DATASET else _score_reviewed
    try:
        services.evaluation_finish(evaluation_id=evaluation_id, metrics=score(evaluation))
    except Exception as exc:  # noqa: BLE001 - every failure must leave a readable reason on the row
        services.evaluation_fail(evaluation_id=evaluation_id, reason=_reason(exc))
        return "failed"
    return "done"
