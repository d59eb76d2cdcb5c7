"""One Predictor per worker process, for the active model version.

Loading ResNet50 costs seconds, so it is done once per process; every task checks (one indexed
query) which version is active, and a promotion is picked up by the next task without a restart.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from ml.predict import Predictor
from verification.errors import NoActiveModel
from verification.models import ModelVersion
from verification.selectors import active_model

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_cached: tuple[int, str, Predictor] | None = None


def active_predictor() -> tuple[ModelVersion, Predictor]:
    version = active_model()
    if version is None:
        raise NoActiveModel("No model is active. An admin must register and activate a model version.")
    return predictor_for(version)


def predictor_for(version: ModelVersion) -> tuple[ModelVersion, Predictor]:
    """The predictor of ``version`` (a re-run may ask for a version that is not the active one)."""
    global _cached
    with _lock:
        if _cached is None or _cached[0] != version.pk or _cached[1] != version.checkpoint_sha256:
            if _cached is not None:
                _cached[2].close()
            logger.info("loading model version %s from %s", version.name, version.checkpoint)
            predictor = Predictor(version.checkpoint, device=settings.VERITY_DEVICE or "auto")
            if predictor.checkpoint_sha256 != version.checkpoint_sha256:
                raise NoActiveModel(
                    f"The checkpoint file of model {version.name} has changed since it was registered "
                    "(SHA-256 mismatch). Register the new file as a new version.")
            _cached = (version.pk, version.checkpoint_sha256, predictor)
        return version, _cached[2]


def clear() -> None:
    global _cached
    with _lock:
        if _cached is not None:
            _cached[2].close()
        _cached = None
