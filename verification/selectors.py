"""Reads. Every query a user can reach is scoped here, in one place, to the user's teams."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Prefetch, QuerySet

from .models import Analysis, AuditEvent, Case, CaseImage, Membership, ModelVersion, Team


def user_teams(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user)


def default_team_for(user: AbstractBaseUser) -> Team | None:
    membership = Membership.objects.filter(user=user).select_related("team").order_by("id").first()
    return membership.team if membership else None


def cases_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Case]:
    if not user.is_authenticated:
        return Case.objects.none()
    return Case.objects.filter(team__memberships__user=user).select_related("team", "created_by")


def images_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[CaseImage]:
    return CaseImage.objects.filter(case__in=cases_for(user).values("id"))


def analyses_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Analysis]:
    return Analysis.objects.filter(image__case__in=cases_for(user).values("id"))


def case_detail(user: AbstractBaseUser | AnonymousUser, case_id: int) -> Case:
    """The case with its images and their analyses (newest first), or Case.DoesNotExist."""
    analyses = Analysis.objects.select_related("model_version").order_by("-created_at", "-id")
    return cases_for(user).prefetch_related(
        Prefetch("images", queryset=CaseImage.objects.prefetch_related(Prefetch("analyses", queryset=analyses))),
    ).get(pk=case_id)


def case_audit(case: Case) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(case=case).select_related("actor")


def active_model() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def image_bytes(image: CaseImage) -> bytes:
    """The stored bytes of an uploaded image."""
    from . import storage

    return storage.read(image.file)
