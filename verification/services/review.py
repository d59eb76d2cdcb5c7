"""Human review: decisions on images, comment threads, assignment, finalising and reopening a case,
and the record of exports."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from .. import selectors
from ..audit import record_event
from ..errors import InvalidTransition, VerityError
from ..models import Analysis, AnalysisStatus, Case, CaseImage, CaseStatus, Comment, HumanVerdict, Review
from ..selectors import User
from ._common import NotAllowed, account_id, require_lead, require_member
from .archive import archive_on_final_verdict


def _lock_open_case(case: Case, action: str) -> Case:
    # Row lock: a review racing a finalisation must not land on a case that just closed.
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if locked.status != CaseStatus.OPEN:
        raise InvalidTransition(f"The case is finalised, so you cannot {action}. A lead can reopen it.")
    return locked


def latest_model_analysis(image: CaseImage) -> Analysis | None:
    """The newest finished analysis of the image, or of the image it duplicates."""
    for image_id in (image.pk, image.duplicate_of_id):
        if image_id is None:
            continue
        found = (Analysis.objects.filter(image_id=image_id, status=AnalysisStatus.DONE)
                 .order_by("-created_at", "-id").first())
        if found is not None:
            return found
    return None


def review_record(*, user: User, image: CaseImage, verdict: str, comment: str = "") -> Review:
    """Confirm the model's verdict on an image, or override it (a comment saying why is required).

    Any decision other than the model's label, inconclusive included, is an override; with no
    finished analysis there is nothing to confirm, so a comment is required too."""
    case = image.case
    require_member(user, case.team)
    if verdict not in HumanVerdict.values:
        raise VerityError("Choose real, AI-generated or inconclusive.")
    comment = comment.strip()
    analysis = latest_model_analysis(image)
    is_override = analysis is None or analysis.label != verdict
    if is_override and not comment:
        raise VerityError("Say why you override the model's verdict: a comment is required.")
    with transaction.atomic():
        _lock_open_case(case, "review its images")
        review = Review.objects.create(image=image, analysis=analysis, reviewer_id=account_id(user), verdict=verdict,
                                       is_override=is_override, comment=comment)
        CaseImage.objects.filter(pk=image.pk).update(human_verdict=verdict)
        image.human_verdict = verdict
        record_event(action="review.overridden" if is_override else "review.confirmed", obj=review, actor=user,
                     team=case.team, case=case, details={
                         "image": image.pk, "image_name": image.original_name, "verdict": verdict,
                         "model_label": analysis.label if analysis else None, "comment": comment[:500]})
    return review


def comment_add(*, user: User, case: Case, body: str, parent: Comment | None = None) -> Comment:
    require_member(user, case.team)
    body = body.strip()
    if not body:
        raise VerityError("Write something before posting a comment.")
    if parent is not None and parent.case_id != case.pk:
        raise VerityError("You can only reply to a comment on the same case.")
    with transaction.atomic():
        comment = Comment.objects.create(case=case, parent=parent, author_id=account_id(user), body=body[:5000])
        record_event(action="comment.added", obj=comment, actor=user, team=case.team, case=case,
                     details={"reply_to": parent.pk if parent else None, "comment": body[:500]})
    return comment


def case_assign(*, user: User, case: Case, assignee: AbstractBaseUser | None) -> Case:
    require_lead(user, case.team, "assign cases")
    if assignee is not None and selectors.role_in(assignee, case.team) is None:
        raise VerityError(f"{assignee} is not in {case.team}; assign the case to a member of the team.")
    with transaction.atomic():
        Case.objects.filter(pk=case.pk).update(assignee=assignee)
        case.assignee_id = assignee.pk if assignee is not None else None
        record_event(action="case.assigned", obj=case, actor=user, team=case.team, case=case,
                     details={"assignee": assignee.get_username() if assignee else None})
    return case


def case_finalise(*, user: User, case: Case, verdict: str, comment: str = "",
                  confirm_unreviewed: bool | None = None) -> Case:
    """A lead closes the case with the team's verdict. Analyses must have finished first.

    ``confirm_unreviewed``: False refuses while images have no review yet (the web page asks the
    lead to confirm); True records that the lead finalised knowingly; None (API clients, which
    predate the question) does not ask. The audit event counts the unreviewed images either way."""
    require_lead(user, case.team, "finalise a verdict")
    if verdict not in HumanVerdict.values:
        raise VerityError("Choose real, AI-generated or inconclusive as the final verdict.")
    if Analysis.objects.filter(image__case=case, status__in=[AnalysisStatus.QUEUED, AnalysisStatus.RUNNING]).exists():
        raise InvalidTransition("Some images are still being analysed; finalise once every analysis is done.")
    unreviewed = case.images.filter(human_verdict="").count()
    if unreviewed and confirm_unreviewed is False:
        raise VerityError(f"{unreviewed} image(s) have no review yet. Review them, or tick the box to confirm "
                          "that you finalise without their review.", details={"unreviewed": unreviewed})
    with transaction.atomic():
        locked = _lock_open_case(case, "finalise it again")
        now = timezone.now()
        Case.objects.filter(pk=case.pk).update(status=CaseStatus.FINALISED, final_verdict=verdict,
                                               final_comment=comment.strip(), finalised_by=user, finalised_at=now)
        case.refresh_from_db()
        archive_on_final_verdict(case=case, verdict=verdict, actor=user)  # before this finalisation's event
        record_event(action="case.finalised", obj=case, actor=user, team=case.team, case=case, details={
            "verdict": verdict, "model_verdict": locked.model_verdict, "disagrees": case.disagrees,
            "comment": comment.strip()[:500],
            **({"unreviewed": unreviewed, "unreviewed_confirmed": bool(confirm_unreviewed)} if unreviewed else {})})
    return case


def case_reopen(*, user: User, case: Case, reason: str) -> Case:
    require_lead(user, case.team, "reopen a case")
    reason = reason.strip()
    if not reason:
        raise VerityError("Say why the case is reopened.")
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.status != CaseStatus.FINALISED:
            raise InvalidTransition("The case is already open.")
        Case.objects.filter(pk=case.pk).update(status=CaseStatus.OPEN, final_verdict="", final_comment="",
                                               finalised_by=None, finalised_at=None)
        case.refresh_from_db()
        record_event(action="case.reopened", obj=case, actor=user, team=case.team, case=case,
                     details={"previous_verdict": locked.final_verdict, "reason": reason[:500]})
    return case


def case_export_record(*, user: User, case: Case, fmt: str) -> None:
    """Exports are audited: who took a copy of the case's evidence, and in which form."""
    require_member(user, case.team)
    with transaction.atomic():
        record_event(action="case.exported", obj=case, actor=user, team=case.team, case=case,
                     details={"format": fmt})


def list_export_record(*, user: User, what: str, filters: dict[str, Any], rows: int) -> None:
    """A CSV export of the case list or of the audit log."""
    if not isinstance(user, AbstractBaseUser):
        raise NotAllowed("Sign in to export.")
    with transaction.atomic():
        record_event(action=f"{what}.exported", obj=user, actor=user,
                     team=selectors.default_team_for(user),
                     details={"format": "csv", "filters": filters, "rows": rows})



