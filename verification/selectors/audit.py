"""The audit log as a user may read it."""

from __future__ import annotations

from datetime import date

from django.db.models import Q, QuerySet

from .. import audit_display
from ..models import AuditEvent
from .roles import is_admin, lead_teams
from .scope import User

__all__ = ["SHARED_AUDIT_SUBJECTS", "audit_actions", "audit_log"]

# Team-less events that concern every team (the model every team's images are judged by, and the
# data and runs that make it): every team's admins see them.
SHARED_AUDIT_SUBJECTS = ("model", "training", "evaluation", "dataset")


def audit_log(user: User, *, q: str = "", action: str = "", date_from: date | None = None,
              date_to: date | None = None) -> QuerySet[AuditEvent]:
    """Events of the teams the user leads; a superuser sees everything.

    A team-less event is shown to admins only when it is about the shared model's life cycle (see
    SHARED_AUDIT_SUBJECTS). Any other team-less event (a token or login of someone in no team, a
    guess at an unknown username) may belong to anyone, so only superusers see it: a team's admin
    must never read another team's people's events."""
    if not user.is_authenticated:
        return AuditEvent.objects.none()
    events = AuditEvent.objects.select_related("actor", "team", "case")
    if not getattr(user, "is_superuser", False):
        scope = Q(team__in=lead_teams(user))
        if is_admin(user):
            shared = Q()
            for subject in SHARED_AUDIT_SUBJECTS:
                shared |= Q(action__startswith=f"{subject}.")
            scope |= Q(team__isnull=True) & shared
        events = events.filter(scope)
    if q:
        events = events.filter(audit_display.plain_search(q))
    if action:
        events = events.filter(action=action)
    if date_from:
        events = events.filter(created_at__date__gte=date_from)
    if date_to:
        events = events.filter(created_at__date__lte=date_to)
    return events.order_by("-created_at", "-id")


def audit_actions(user: User) -> list[str]:
    return sorted(set(audit_log(user).values_list("action", flat=True).distinct()))
