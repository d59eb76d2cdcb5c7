"""Re-share stability checks: a reviewer asks whether the model's verdict on an image survives the
re-shares of ml.reshare.stability_set; a worker on the inference queue re-judges the image and
its copies and records the outcome here."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import queue
from ..audit import record_event
from ..errors import VerityError
from ..models import Case, CaseImage, StabilityCheck, StabilityStatus
from ..selectors import User
from ._common import require_member


def stability_request(*, user: User, image: CaseImage) -> StabilityCheck:
    """Queue a stability check of ``image`` with the active model. A check already queued or
    running for it is returned instead of a second one."""
    case = image.case
    require_member(user, case.team)
    with transaction.atomic():
        # Lock the image row: two clicks at once must not queue two checks.
        CaseImage.objects.select_for_update().filter(pk=image.pk).first()
        pending = StabilityCheck.objects.filter(
            image=image, status__in=[StabilityStatus.QUEUED, StabilityStatus.RUNNING]).first()
        if pending is not None:
            return pending
        check = StabilityCheck.objects.create(image=image, requested_by_id=user.pk)
        record_event(action="stability.requested", obj=check, actor=user, team=case.team, case=case,
                     details={"image": image.pk, "image_name": image.original_name})
        transaction.on_commit(lambda: queue.enqueue_stability(check.pk))
    return check


def stability_request_case(*, user: User, case: Case) -> list[StabilityCheck]:
    """A stability check for every image of the case (one per image, pending ones reused)."""
    require_member(user, case.team)
    images = list(case.images.all())
    if not images:
        raise VerityError("The case has no images to check.")
    return [stability_request(user=user, image=image) for image in images]


def stability_begin(*, check_id: int, claimant: str) -> StabilityCheck | None:
    """Claim a queued check (a conditional update: two workers never run the same one)."""
    with transaction.atomic():
        claimed = StabilityCheck.objects.filter(pk=check_id, status=StabilityStatus.QUEUED).update(
            status=StabilityStatus.RUNNING, claimed_by=claimant, started_at=timezone.now())
        if not claimed:
            claimed = StabilityCheck.objects.filter(pk=check_id, status=StabilityStatus.RUNNING,
                                                    claimed_by=claimant).count()  # our own redelivery
        if not claimed:
            return None
        return StabilityCheck.objects.select_related("image__case__team").get(pk=check_id)


def stability_finish(*, check_id: int, model_version_id: int, label: str, probability_ai: float,
                     results: list[dict[str, Any]], cost_ms: float) -> StabilityCheck:
    with transaction.atomic():
        check = StabilityCheck.objects.select_for_update().select_related("image__case__team").get(pk=check_id)
        if check.status != StabilityStatus.RUNNING:
            return check  # finished by an earlier delivery
        n_total = len(results)
        n_stable = sum(not r["flipped"] for r in results)
        StabilityCheck.objects.filter(pk=check_id).update(
            status=StabilityStatus.DONE, model_version_id=model_version_id, label=label,
            probability_ai=probability_ai, results=results, n_stable=n_stable, n_total=n_total,
            cost_ms=cost_ms, finished_at=timezone.now(), error="")
        check.refresh_from_db()
        case = check.image.case
        record_event(action="stability.done", obj=check, actor=None, team=case.team, case=case, details={
            "image": check.image_id, "label": label, "stable": n_stable, "total": n_total,
            "flipped": check.flipped, "reason": f"stable under {n_stable} of {n_total} re-shares"})
    return check


def stability_fail(*, check_id: int, reason: str) -> None:
    with transaction.atomic():
        check = StabilityCheck.objects.select_related("image__case__team").get(pk=check_id)
        if check.status == StabilityStatus.DONE:
            return
        StabilityCheck.objects.filter(pk=check_id).update(status=StabilityStatus.FAILED, error=reason[:2000],
                                                          finished_at=timezone.now())
        case = check.image.case
        record_event(action="stability.failed", obj=check, actor=None, team=case.team, case=case,
                     details={"image": check.image_id, "reason": reason[:500]})
