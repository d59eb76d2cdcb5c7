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
from ..models import Analysis, AnalysisStatus, AuditEvent, CaseImage, ModelVersion
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


def _propagate_labels(image_ids: Iterable[int]) -> None:
    """Keep the denormalised model verdicts of the images, their duplicates and their cases current."""
    image_ids = set(image_ids)
    latest: dict[int, str] = {}
    for image_id, label in (Analysis.objects.filter(image_id__in=image_ids, status=AnalysisStatus.DONE)
                            .order_by("image_id", "-created_at", "-id").values_list("image_id", "label")):
        latest.setdefault(image_id, label)
    by_label: dict[str, list[int]] = {}
    for image_id in image_ids:
        by_label.setdefault(latest.get(image_id, ""), []).append(image_id)
    case_ids = set(CaseImage.objects.filter(pk__in=image_ids).values_list("case_id", flat=True))
    for label, ids in by_label.items():
        CaseImage.objects.filter(pk__in=ids).update(model_label=label)
        # Duplicates that were never analysed on their own share the original's verdict.
        dupes = CaseImage.objects.filter(duplicate_of_id__in=ids).exclude(analyses__status=AnalysisStatus.DONE)
        case_ids.update(dupes.values_list("case_id", flat=True))
        dupes.update(model_label=label)
    refresh_model_verdicts(case_ids)


_RECORDED_FIELDS = ["status", "model_version", "label", "probability_ai", "confidence", "threshold", "crop_box",
                    "timings_ms", "heatmap", "overlay", "error", "finished_at"]


def analyses_record(*, model_version_id: int, outcomes: dict[int, AnalysisOutcome]) -> list[Analysis]:
    """Store the finished analyses of one batch in one transaction (one commit, a few bulk
    queries). Idempotent: an analysis already done is left as it was."""
    with transaction.atomic():
        # Row locks: two deliveries of the same batch finishing together must not both record.
        rows = list(Analysis.objects.select_for_update().select_related("image__case__team")
                    .filter(pk__in=list(outcomes)).order_by("pk"))
        todo = [a for a in rows if a.status != AnalysisStatus.DONE]
        now = timezone.now()
        for analysis in todo:
            outcome = outcomes[analysis.pk]
            analysis.heatmap = storage.store_artefact(f"analyses/{analysis.pk}/heatmap.png", outcome.heatmap_png)
            analysis.overlay = storage.store_artefact(f"analyses/{analysis.pk}/overlay.png", outcome.overlay_png)
            analysis.status = AnalysisStatus.DONE
            analysis.model_version_id = model_version_id
            analysis.label = outcome.label
            analysis.probability_ai = outcome.probability_ai
            analysis.confidence = outcome.confidence
            analysis.threshold = outcome.threshold
            analysis.crop_box = outcome.crop_box
            analysis.timings_ms = outcome.timings_ms
            analysis.error = ""
            analysis.finished_at = now
        if not todo:
            return rows
        Analysis.objects.bulk_update(todo, _RECORDED_FIELDS)
        _propagate_labels(a.image_id for a in todo)
        AuditEvent.objects.bulk_create([
            AuditEvent(team=a.image.case.team, case=a.image.case, action="analysis.done",
                       object_type="analysis", object_id=str(a.pk),
                       details={"label": a.label, "probability_ai": round(a.probability_ai or 0.0, 6),
                                "model_version": model_version_id})
            for a in todo])
        webhooks.on_analyses_finished(todo)  # queues webhook deliveries on commit, if any
    return rows


def analysis_record(*, analysis_id: int, model_version_id: int, outcome: AnalysisOutcome) -> Analysis:
    """Store one finished analysis (see :func:`analyses_record`)."""
    return analyses_record(model_version_id=model_version_id, outcomes={analysis_id: outcome})[0]


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
