"""Writing the append-only audit history. Call inside the transaction of the change it records."""

from __future__ import annotations

from typing import Any

from django.db import models

from .models import AuditEvent, Case, Team


def record_event(*, action: str, obj: models.Model, actor: Any = None, team: Team | None = None,
                 case: Case | None = None, details: dict[str, Any] | None = None) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        team=team, case=case, action=action, object_type=obj._meta.model_name or "",
        object_id=str(obj.pk), details=details or {},
    )
