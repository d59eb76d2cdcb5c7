"""Who may see what, decided in one place: every query a user can reach starts from these, scoped
to the user's teams."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Func, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from ..models import Analysis, Case, CaseImage, Membership, Team

__all__ = [
    "User", "analyses_for", "analyses_of_case", "cases_for", "count_of", "default_team_for", "images_for",
    "images_of_case", "user_teams",
]

User = AbstractBaseUser | AnonymousUser


def user_teams(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user.pk)


def default_team_for(user: User) -> Team | None:
    membership = Membership.objects.filter(user=user.pk).select_related("team").order_by("id").first()
    return membership.team if membership else None


def cases_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Case]:
    if not user.is_authenticated:
        return Case.objects.none()
    return Case.objects.filter(team__memberships__user=user.pk).select_related("team", "created_by")


def images_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[CaseImage]:
    return CaseImage.objects.filter(case__in=cases_for(user).values("id"))


def analyses_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Analysis]:
    return Analysis.objects.filter(image__case__in=cases_for(user).values("id"))


def count_of(rows: QuerySet[Any]) -> Coalesce:
    """A correlated ``COUNT(*)`` of ``rows`` (filtered on an ``OuterRef``) for ``annotate``.

    Unlike ``Count`` over a join, it leaves the outer query ungrouped, so a sorted, paginated list
    reads only its page's rows from the index and counts for those rows alone."""
    counted = rows.order_by().values(n=Func("pk", function="COUNT", output_field=IntegerField()))
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def images_of_case() -> QuerySet[CaseImage]:
    return CaseImage.objects.filter(case=OuterRef("pk"))


def analyses_of_case(**lookup: Any) -> QuerySet[Analysis]:
    return Analysis.objects.filter(image__case=OuterRef("pk"), **lookup)
