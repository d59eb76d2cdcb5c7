"""Reads of datasets, scoped to the teams whose admins may see them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from ..models import Dataset, ScanStatus


def datasets_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Dataset]:
    """Datasets ``user`` may see, train on and rescan: those of the teams they administer (a
    superuser: all), and those registered before datasets had a team (seen by every admin, as
    before). An admin of another team sees none of a team's datasets, not even by id."""
    from . import admin_teams  # the one admin lookup (this module is imported by the package's __init__)

    if not user.is_authenticated:
        return Dataset.objects.none()
    if getattr(user, "is_superuser", False):
        return Dataset.objects.select_related("team").order_by("name")
    return (Dataset.objects.filter(Q(team__in=admin_teams(user)) | Q(team__isnull=True))
            .select_related("team").order_by("name"))


def datasets_on_dashboard(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Dataset]:
    """The ready datasets the Datasets dashboard shows ``user`` (a lead or admin): those of the teams
    they lead (a superuser: all) and the team-less ones. Another team's datasets are not shown."""
    from . import lead_teams

    if not user.is_authenticated:
        return Dataset.objects.none()
    ready = Dataset.objects.filter(status=ScanStatus.READY).select_related("team").order_by("name")
    if getattr(user, "is_superuser", False):
        return ready
    return ready.filter(Q(team__in=lead_teams(user)) | Q(team__isnull=True))
