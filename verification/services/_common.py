"""Helpers shared by the service modules: permission checks and denormalised verdicts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import selectors
from ..errors import VerityError
from ..models import Analysis, AnalysisStatus, Case, CaseImage, Role, Team, Verdict
from ..selectors import User


class NotAllowed(VerityError):
    code = "not_allowed"
    status = 403


def account_id(user: User) -> Any:
    """The primary key of the signed-in user behind ``user``, for the rows that record who acted (the
    models' user foreign keys are typed with the concrete account model, the doors pass ``User``)."""
    if user.pk is None:  # AnonymousUser
        raise NotAllowed("Sign in first.")
    return user.pk


def require_member(user: User, team: Team) -> str:
    role = selectors.role_in(user, team)  # the one role lookup
    if role is None:
        raise VerityError("You are not a member of that team.")
    return role


def require_lead(user: User, team: Team, what: str) -> None:
    """Leads and admins of the team may ``what``; reviewers may not."""
    if getattr(user, "is_superuser", False):
        return
    if require_member(user, team) not in (Role.LEAD, Role.ADMIN):
        raise NotAllowed(f"Only a lead of {team} can {what}.")


def require_admin(user: User, team: Team | None = None) -> None:
    if getattr(user, "is_superuser", False):
        return
    teams = selectors.admin_teams(user)  # the one admin lookup; none for anonymous users
    if team is not None:
        teams = teams.filter(pk=team.pk)
    if not teams.exists():
        raise NotAllowed("Only an admin can do that.")


def refresh_model_verdicts(case_ids: Iterable[int]) -> None:
    """Recompute each case's model verdict from its images: AI-generated if any image is."""
    case_ids = set(case_ids)
    labels: dict[int, set[str]] = {pk: set() for pk in case_ids}
    for case_id, label in (CaseImage.objects.filter(case_id__in=case_ids).exclude(model_label="")
                           .values_list("case_id", "model_label").distinct()):
        labels[case_id].add(label)
    by_verdict: dict[str, list[int]] = {}
    for case_id, found in labels.items():
        verdict = (Verdict.AI_GENERATED if Verdict.AI_GENERATED in found
                   else Verdict.REAL if Verdict.REAL in found else "")
        by_verdict.setdefault(verdict, []).append(case_id)
    for verdict, ids in by_verdict.items():
        Case.objects.filter(pk__in=ids).exclude(model_verdict=verdict).update(model_verdict=verdict)
    # The verdict is a demo model's when one made a finished analysis of an image of the case (or
    # of the original that an unanalysed duplicate takes its verdict from).
    demo = Analysis.objects.filter(status=AnalysisStatus.DONE, model_version__is_demo=True)
    by_demo = set(demo.filter(image__case_id__in=case_ids).values_list("image__case_id", flat=True))
    by_demo |= set(CaseImage.objects.filter(case_id__in=case_ids, duplicate_of__analyses__in=demo)
                   .values_list("case_id", flat=True))
    Case.objects.filter(pk__in=by_demo).exclude(model_verdict_demo=True).update(model_verdict_demo=True)
    Case.objects.filter(pk__in=case_ids - by_demo).exclude(model_verdict_demo=False).update(model_verdict_demo=False)
