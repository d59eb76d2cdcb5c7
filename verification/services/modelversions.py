"""Model versions: registration of a checkpoint and promotion (activation) of one version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction

from ml.checkpoint import file_sha256, meta_from_payload, read_checkpoint
from ml.errors import MLError

from ..audit import record_event
from ..errors import VerityError
from ..models import ModelVersion
from ._common import require_admin


def model_version_register(*, checkpoint: str | Path, name: str = "", actor: Any = None,
                           activate: bool = False, is_demo: bool = False) -> ModelVersion:
    """Register a checkpoint file as a model version (reading its self-description). It is a demo
    model when its checkpoint says so or ``is_demo`` does (e.g. it descends from a demo model)."""
    path = Path(checkpoint).resolve()
    try:
        payload = read_checkpoint(path)
    except MLError as exc:
        raise VerityError(str(exc)) from exc
    meta = meta_from_payload(payload)
    is_demo = is_demo or meta.is_demo
    digest = file_sha256(path)
    with transaction.atomic():
        version = ModelVersion.objects.create(
            name=name or meta.name or f"model-{digest[:12]}", checkpoint=str(path), checkpoint_sha256=digest,
            architecture=meta.model.architecture, input_size=meta.preprocess.input_size,
            is_demo=is_demo, metrics=meta.metrics)
        record_event(action="model.registered", obj=version, actor=actor,
                     details={"checkpoint": str(path), "sha256": digest, "is_demo": is_demo})
        if activate:
            model_version_activate(version=version, actor=actor, note="activated on registration")
    return version


def model_version_activate(*, version: ModelVersion, actor: Any = None, note: str = "") -> ModelVersion:
    """Make ``version`` the one active model (promotion; rollback is activating an older one)."""
    with transaction.atomic():
        previous = ModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=version.pk).first()
        ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
        ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
        version.is_active = True
        record_event(action="model.activated", obj=version, actor=actor,
                     details={"note": note, "previous": previous.pk if previous else None})
    return version




def model_version_promote(*, actor: Any, version: ModelVersion, note: str) -> ModelVersion:
    """An admin makes ``version`` active, saying why (promotion, or rollback to an older version)."""
    require_admin(actor)
    note = (note or "").strip()
    if not note:
        raise VerityError("Say why this version is promoted: a note is required.",
                          details={"note": ["This field is required."]})
    return model_version_activate(version=version, actor=actor, note=note[:500])
