"""Writing the append-only audit history. Call inside the transaction of the change it records."""

from __future__ import annotations

from typing import Any

from django.db import models

from .models import AuditEvent, Case, Team


def event(*, action: str, obj: models.Model, actor: Any = None, team: Team | None = None,
          case: Case | None = None, details: dict[str, Any] | None = None) -> AuditEvent:
    """An unsaved event, for ``AuditEvent.objects.bulk_create`` when one change touches many rows."""
    known = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent(
        actor=known, actor_name=known.get_username() if known else "",
        team=team, case=case, action=action, object_type=obj._meta.model_name or "",
        object_id=str(obj.pk), details=details or {},
    )


def record_event(*, action: str, obj: models.Model, actor: Any = None, team: Team | None = None,
                 case: Case | None = None, details: dict[str, Any] | None = None) -> AuditEvent:
    record = event(action=action, obj=obj, actor=actor, team=team, case=case, details=details)
    record.save(force_insert=True)
    return record
