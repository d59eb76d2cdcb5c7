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
from ..selectors import User
from ._common import require_admin


def model_version_register(*, checkpoint: str | Path, name: str = "", actor: User | None = None,
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
            is_demo=is_demo, metrics=meta.metrics, model_card=_model_card(payload, path))
        record_event(action="model.registered", obj=version, actor=actor,
                     details={"checkpoint": str(path), "sha256": digest, "is_demo": is_demo})
        if activate:
            model_version_activate(version=version, actor=actor, note="activated on registration")
    return version


def _model_card(payload: dict[str, Any], path: Path) -> dict[str, Any]:
    """The card stored in the checkpoint, else ``model_card.json`` beside it, else {} (checkpoints
    made before cards existed). A card that does not validate is refused with the reason."""
    from ml.modelcard import CARD_FILE, card_from_dict, read_card

    try:
        if isinstance(payload.get("model_card"), dict):
            return card_from_dict(payload["model_card"]).to_dict()
        beside = path.parent / CARD_FILE
        return read_card(beside).to_dict() if beside.is_file() else {}
    except MLError as exc:
        raise VerityError(f"The model card of {path} is invalid: {exc}") from exc


def model_version_activate(*, version: ModelVersion, actor: User | None = None, note: str = "") -> ModelVersion:
    """Make ``version`` the one active model (promotion; rollback is activating an older one)."""
    with transaction.atomic():
        previous = ModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=version.pk).first()
        ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
        ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
        version.is_active = True
        record_event(action="model.activated", obj=version, actor=actor,
                     details={"note": note, "previous": previous.pk if previous else None})
    return version




def model_version_install(*, checkpoint: str | Path, note: str, actor: User | None = None) -> ModelVersion:
    """Make the checkpoint at ``checkpoint`` the active version: registered now, or, when a version
    with the same file (SHA-256) is already registered, that version is activated again."""
    path = Path(checkpoint).resolve()
    if not path.is_file():
        raise VerityError(f"Checkpoint not found: {path}. Make one with `make model` "
                          "(or `python -m ml served-recipe`).")
    digest = file_sha256(path)
    existing = ModelVersion.objects.filter(checkpoint_sha256=digest).first()
    if existing is None:
        try:
            name = meta_from_payload(read_checkpoint(path)).name or f"model-{digest[:12]}"
        except MLError as exc:
            raise VerityError(str(exc)) from exc
        if ModelVersion.objects.filter(name=name).exists():  # a retrained model of the same recipe
            name = f"{name}-{digest[:8]}"
        return model_version_register(checkpoint=path, name=name, actor=actor, activate=True)
    if not existing.is_active:
        model_version_activate(version=existing, actor=actor, note=note)
    return existing


def model_version_promote(*, actor: User, version: ModelVersion, note: str) -> ModelVersion:
    """An admin makes ``version`` active, saying why (promotion, or rollback to an older version)."""
    require_admin(actor)
    note = (note or "").strip()
    if not note:
        raise VerityError("Say why this version is promoted: a note is required.",
                          details={"note": ["This field is required."]})
    return model_version_activate(version=version, actor=actor, note=note[:500])
