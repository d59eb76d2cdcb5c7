"""The life of an analysis: claimed by a worker, recorded or failed, and re-run on request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import queue, storage, webhooks
from ..audit import record_event
from ..errors import VerityError
from ..models import Analysis, AnalysisStatus, CaseImage, ModelVersion
from ._common import refresh_model_verdicts, require_member


def analysis_start(*, analysis_id: int, claimant: str = "") -> Analysis | None:
    """Claim an analysis for the worker task ``claimant``. Returns None when it is finished or
    another live task holds it.

    A queued analysis can be claimed by anyone. A *running* one only by the task that claimed it:
    with late acknowledgement, a task whose worker died is delivered again (same task id) while
    the row still says running, and must be able to finish the work.
    """
    with transaction.atomic():
        claimable = Q(status=AnalysisStatus.QUEUED)
        if claimant:
            claimable |= Q(status=AnalysisStatus.RUNNING, claimed_by=claimant)
        claimed = Analysis.objects.filter(claimable, pk=analysis_id).update(
            status=AnalysisStatus.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1,
            claimed_by=claimant)
        if not claimed:
            return None
        analysis = Analysis.objects.select_related("image__case__team", "model_version").get(pk=analysis_id)
        case = analysis.image.case
        record_event(action="analysis.started", obj=analysis, team=case.team, case=case,
                     details={"attempt": analysis.attempts})
        return analysis


def analysis_claim_batch(*, claimant: str, limit: int, exclude: Iterable[int] = (),
                         model_version_id: int | None = None) -> list[Analysis]:
    """Claim up to ``limit`` more analyses for one batched forward pass: first those this task
    held before a crash, then the oldest queued ones, all asking for the same model version
    (``None``: the active one). Each claim is a conditional update, so two workers never take the
    same row."""
    if limit <= 0:
        return []
    excluded = set(exclude)
    same_model = Q(model_version__isnull=True) if model_version_id is None else Q(model_version_id=model_version_id)
    mine = list(Analysis.objects.filter(same_model, status=AnalysisStatus.RUNNING, claimed_by=claimant)
                .exclude(pk__in=excluded).values_list("pk", flat=True)[:limit])
    queued = list(Analysis.objects.filter(same_model, status=AnalysisStatus.QUEUED).exclude(pk__in=excluded)
                  .order_by("enqueued_at", "id").values_list("pk", flat=True)[: limit * 2])
    claimed = []
    for pk in mine + queued:
        if len(claimed) >= limit:
            break
        analysis = analysis_start(analysis_id=pk, claimant=claimant)
        if analysis is not None:
            claimed.append(analysis)
    return claimed


def analyses_stuck(*, queued_for_s: int, running_for_s: int) -> list[int]:
    """Analyses that no worker seems to be handling: queued longer than ``queued_for_s`` (their
    message was lost, e.g. the broker was down at submission) or running longer than
    ``running_for_s`` (their worker died and nothing redelivered the task)."""
    now = timezone.now()
    stuck = Analysis.objects.filter(
        Q(status=AnalysisStatus.QUEUED, enqueued_at__lt=now - timedelta(seconds=queued_for_s))
        | Q(status=AnalysisStatus.RUNNING, started_at__lt=now - timedelta(seconds=running_for_s)))
    return list(stuck.order_by("id").values_list("pk", flat=True)[:1000])


def analysis_requeue(*, analysis_id: int, reason: str) -> bool:
    """Put a stuck analysis back in the queue and enqueue it again (after commit)."""
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().select_related("image__case__team").filter(
            pk=analysis_id, status__in=[AnalysisStatus.QUEUED, AnalysisStatus.RUNNING]).first()
        if analysis is None:
            return False
        Analysis.objects.filter(pk=analysis_id).update(status=AnalysisStatus.QUEUED, claimed_by="",
                                                       enqueued_at=timezone.now())
        case = analysis.image.case
        record_event(action="analysis.requeued", obj=analysis, team=case.team, case=case,
                     details={"reason": reason, "was": analysis.status})
        transaction.on_commit(lambda: queue.enqueue_analysis(analysis_id))
    return True


@dataclass
class AnalysisOutcome:
    label: str
    probability_ai: float
    confidence: float
    threshold: float
    crop_box: dict[str, int]
    timings_ms: dict[str, float]
    heatmap_png: bytes
    overlay_png: bytes


def _latest_done_label(image_id: int) -> str:
    latest = (Analysis.objects.filter(image_id=image_id, status=AnalysisStatus.DONE)
              .order_by("-created_at", "-id").values_list("label", flat=True).first())
    return latest or ""


def _propagate_label(image: CaseImage) -> None:
    """Keep the denormalised model verdicts of the image, its duplicates and their cases current."""
    label = _latest_done_label(image.pk)
    CaseImage.objects.filter(pk=image.pk).update(model_label=label)
    # Duplicates that were never analysed on their own share the original's verdict.
    dupes = CaseImage.objects.filter(duplicate_of=image).exclude(analyses__status=AnalysisStatus.DONE)
    dupe_cases = list(dupes.values_list("case_id", flat=True))
    dupes.update(model_label=label)
    refresh_model_verdicts([image.case_id, *dupe_cases])


def analysis_record(*, analysis_id: int, model_version_id: int, outcome: AnalysisOutcome) -> Analysis:
    """Store a finished analysis. Idempotent: recording an already done analysis changes nothing."""
    with transaction.atomic():
        # Row lock: two deliveries of the same task finishing together must not both record.
        analysis = Analysis.objects.select_for_update().select_related("image__case").get(pk=analysis_id)
        if analysis.status == AnalysisStatus.DONE:
            return analysis
        heatmap = storage.store_artefact(f"analyses/{analysis.pk}/heatmap.png", outcome.heatmap_png)
        overlay = storage.store_artefact(f"analyses/{analysis.pk}/overlay.png", outcome.overlay_png)
        analysis.status = AnalysisStatus.DONE
        analysis.model_version_id = model_version_id
        analysis.label = outcome.label
        analysis.probability_ai = outcome.probability_ai
        analysis.confidence = outcome.confidence
        analysis.threshold = outcome.threshold
        analysis.crop_box = outcome.crop_box
        analysis.timings_ms = outcome.timings_ms
        analysis.heatmap = heatmap
        analysis.overlay = overlay
        analysis.error = ""
        analysis.finished_at = timezone.now()
        analysis.save()
        _propagate_label(analysis.image)
        case = analysis.image.case
        record_event(action="analysis.done", obj=analysis, team=case.team, case=case,
                     details={"label": outcome.label, "probability_ai": round(outcome.probability_ai, 6),
                              "model_version": model_version_id})
        webhooks.on_analysis_finished(analysis)  # queues a webhook delivery on commit, if any
    return analysis


def analysis_fail(*, analysis_id: int, reason: str) -> Analysis:
    """Mark an analysis failed with a readable reason (unless it already finished)."""
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().select_related("image__case__team").get(pk=analysis_id)
        if analysis.status in (AnalysisStatus.DONE, AnalysisStatus.FAILED):
            return analysis
        analysis.status = AnalysisStatus.FAILED
        analysis.error = reason[:2000]
        analysis.finished_at = timezone.now()
        analysis.save(update_fields=["status", "error", "finished_at"])
        case = analysis.image.case
        record_event(action="analysis.failed", obj=analysis, team=case.team, case=case,
                     details={"reason": reason[:500]})
        webhooks.on_analysis_finished(analysis)  # queues a webhook delivery on commit, if any
    return analysis


def analysis_rerun(*, user: Any, image: CaseImage, model_version: ModelVersion) -> Analysis:
    """Queue a new analysis of ``image`` with ``model_version`` (which need not be the active one).

    Earlier analyses stay as they were: the case page shows the newest, the history shows all."""
    require_member(user, image.case.team)
    if image.case.status != "open":
        raise VerityError("The case is finalised; a lead must reopen it before it is analysed again.")
    with transaction.atomic():
        analysis = Analysis.objects.create(image=image, model_version=model_version)
        transaction.on_commit(lambda: queue.enqueue_analysis(analysis.pk))
        record_event(action="analysis.rerun_requested", obj=analysis, actor=user, team=image.case.team,
                     case=image.case, details={"image": image.pk, "model_version": model_version.pk,
                                               "model_name": model_version.name})
    return analysis
