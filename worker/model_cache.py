"""Predictors per worker process, for the active model version and recently used ones.

Loading ResNet50 costs seconds, so each version is loaded (and warmed up with a blank batch) once
per process and kept; every task checks (one indexed query) which version is active, so a
promotion is picked up by the next task without a restart. The last ``VERITY_MODEL_CACHE_SIZE``
versions stay loaded (default 2): a re-run with an older version, or a rollback, does not evict
and reload the active one.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

import torch
from django.conf import settings

from ml.predict import Predictor
from verification.errors import NoActiveModel
from verification.models import ModelVersion
from verification.selectors import active_model

from .layout import inference_batch_size

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_cache: OrderedDict[tuple[int, str], Predictor] = OrderedDict()


def active_predictor() -> tuple[ModelVersion, Predictor]:
    version = active_model()
    if version is None:
        raise NoActiveModel()
    return predictor_for(version)


def predictor_for(version: ModelVersion) -> tuple[ModelVersion, Predictor]:
    """The predictor of ``version`` (a re-run may ask for a version that is not the active one)."""
    key = (version.pk, version.checkpoint_sha256)
    with _lock:
        predictor = _cache.get(key)
        if predictor is None:
            logger.info("loading model version %s from %s", version.name, version.checkpoint)
            predictor = Predictor(version.checkpoint, device=settings.VERITY_DEVICE or "auto",
                                  precision=settings.VERITY_INFERENCE_PRECISION,
                                  calibration_data=settings.VERITY_INT8_CALIBRATION_DATA or None,
                                  recheck_log_odds=settings.VERITY_INT8_RECHECK_LOG_ODDS)
            logger.info("model version %s runs at %s", version.name, predictor.precision.to_dict())
            if predictor.checkpoint_sha256 != version.checkpoint_sha256:
                predictor.close()
                raise NoActiveModel(
                    f"The checkpoint file of model {version.name} has changed since it was registered "
                    "(SHA-256 mismatch). Register the new file as a new version.")
            # The first batch of a new process is slow; pay for it here, not in a user's analysis.
            predictor.warm_up((batch_size(), 1))
            chunk = predictor.tile_batch(settings.VERITY_TILE_BATCH)  # measured once here when 0
            logger.info("model version %s judges %d tiles per forward pass (%s)", version.name, chunk,
                        "VERITY_TILE_BATCH" if settings.VERITY_TILE_BATCH > 0 else
                        "fastest measured, ms per tile: " + ", ".join(
                            f"{n}: {ms:.1f}" for n, ms in predictor.tile_batch_ms.items()))
            _cache[key] = predictor
            while len(_cache) > max(1, settings.VERITY_MODEL_CACHE_SIZE):
                _, old = _cache.popitem(last=False)
                old.close()
        _cache.move_to_end(key)
        return version, predictor


def batch_size() -> int:
    """This worker's batch size: VERITY_GPU_BATCH_SIZE when its model runs on a CUDA GPU."""
    gpu = (settings.VERITY_DEVICE or "auto") != "cpu" and torch.cuda.is_available()
    return inference_batch_size(cpu_batch=settings.VERITY_BATCH_SIZE, gpu_batch=settings.VERITY_GPU_BATCH_SIZE,
                                gpu=gpu)


def loaded_versions() -> list[int]:
    with _lock:
        return [pk for pk, _ in _cache]


def clear() -> None:
    with _lock:
        for predictor in _cache.values():
            predictor.close()
        _cache.clear()
