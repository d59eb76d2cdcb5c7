"""Team roles: the one lookup of a user's role in a team, and the teams a user leads or administers."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from ..models import Membership, Role, Team
from .scope import User

__all__ = [
    "account", "admin_teams", "is_admin", "is_lead_of", "lead_teams", "leads_a_team", "memberships_for_admin",
    "role_in", "team_members",
]


def role_in(user: User, team: Team) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user.pk, team=team).values_list("role", flat=True).first()


def is_lead_of(user: User, team: Team) -> bool:
    return bool(getattr(user, "is_superuser", False)) or role_in(user, team) in (Role.LEAD, Role.ADMIN)


def lead_teams(user: User) -> QuerySet[Team]:
    """Teams whose dashboards and audit log the user may see (all teams for a superuser)."""
    if not user.is_authenticated:
        return Team.objects.none()
    if getattr(user, "is_superuser", False):
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user.pk, memberships__role__in=[Role.LEAD, Role.ADMIN])


def leads_a_team(user: User) -> bool:
    """May see the dashboards and the audit log: a lead or admin of some team, or a superuser."""
    return lead_teams(user).exists()


def admin_teams(user: User) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    if getattr(user, "is_superuser", False):
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user.pk, memberships__role=Role.ADMIN)


def is_admin(user: User) -> bool:
    return admin_teams(user).exists()


def team_members(team: Team) -> QuerySet[Any]:
    return get_user_model().objects.filter(memberships__team=team).order_by("username")


def account(user_id: Any) -> Any:
    """The user with id ``user_id``, or None (for a form that already limited the ids offered)."""
    return get_user_model().objects.filter(pk=user_id).first()


def memberships_for_admin(user: User) -> QuerySet[Membership]:
    return (Membership.objects.filter(team__in=admin_teams(user)).select_related("user", "team")
            .order_by("team__name", "user__username"))
