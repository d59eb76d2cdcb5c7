"""Reads of datasets, scoped to the teams whose admins may see them."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from ..models import Dataset
from . import User, admin_teams


def datasets_for(user: User) -> QuerySet[Dataset]:
    """Datasets ``user`` may see, train on and rescan: those of the teams they administer (a
    superuser: all), and those registered before datasets had a team (seen by every admin, as
    before). An admin of another team sees none of a team's datasets, not even by id."""
    if not user.is_authenticated:
        return Dataset.objects.none()
    if getattr(user, "is_superuser", False):
        return Dataset.objects.select_related("team").order_by("name")
    return (Dataset.objects.filter(Q(team__in=admin_teams(user)) | Q(team__isnull=True))
            .select_related("team").order_by("name"))
