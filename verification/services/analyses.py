"""The life of an analysis: claimed by a worker, recorded or failed, and re-run on request."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import F, Field, Q
from django.utils import timezone

from ml.heatmaps import png_bytes
from ml.imageio import decode_image

from .. import queue, storage
from . import overlays
from ..audit import event, record_event
from ..errors import VerityError
from ..models import Analysis, AnalysisStatus, AuditEvent, CaseImage, ModelVersion
from ..selectors import User
from ._common import refresh_model_verdicts, require_member
from .outcomes import AnalysisOutcome
from .provenance import weigh_evidence
from .webhooks import webhook_deliveries_for_analyses


def analyses_claim(*, analysis_ids: Sequence[int], claimant: str = "") -> list[Analysis]:
    """Claim analyses for the worker task ``claimant``, all in one transaction (one conditional
    update, one read, one insert of audit events). Returns those claimed, in the order asked;
    finished ones and those another live task holds are left out.

    A queued analysis can be claimed by anyone. A *running* one only by the task that claimed it:
    with late acknowledgement, a task whose worker died is delivered again (same task id) while
    the row still says running, and must be able to finish the work.
    """
    ids = list(dict.fromkeys(analysis_ids))
    if not ids:
        return []
    now = timezone.now()
    with transaction.atomic():
        claimable = Q(status=AnalysisStatus.QUEUED)
        if claimant:
            claimable |= Q(status=AnalysisStatus.RUNNING, claimed_by=claimant)
        # A conditional update per row: of two workers racing for a row, only one matches.
        if not Analysis.objects.filter(claimable, pk__in=ids).update(
                status=AnalysisStatus.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1,
                claimed_by=claimant):
            return []
        # The rows this statement claimed: running, ours, stamped with this claim's time.
        rows = {a.pk: a for a in Analysis.objects.select_related("image__case__team", "model_version")
                .filter(pk__in=ids, status=AnalysisStatus.RUNNING, claimed_by=claimant, started_at=now)}
        claimed = [rows[pk] for pk in ids if pk in rows]
        AuditEvent.objects.bulk_create([
            event(action="analysis.started", obj=a, team=a.image.case.team, case=a.image.case,
                  details={"attempt": a.attempts}) for a in claimed])
    return claimed


def analysis_start(*, analysis_id: int, claimant: str = "") -> Analysis | None:
    """Claim one analysis (see :func:`analyses_claim`); None when it is finished or another live
    task holds it."""
    claimed = analyses_claim(analysis_ids=[analysis_id], claimant=claimant)
    return claimed[0] if claimed else None


def analysis_claim_batch(*, claimant: str, limit: int, exclude: Iterable[int] = (),
                         model_version_id: int | None = None) -> list[Analysis]:
    """Claim up to ``limit`` more analyses for one batched forward pass: first those this task
    held before a crash, then the oldest queued ones, all asking for the same model version
    (``None``: the active one). The claim is a conditional update, so two workers never take the
    same row (one that lost a race for some rows may get fewer than ``limit``)."""
    if limit <= 0:
        return []
    excluded = set(exclude)
    same_model = Q(model_version__isnull=True) if model_version_id is None else Q(model_version_id=model_version_id)
    mine = list(Analysis.objects.filter(same_model, status=AnalysisStatus.RUNNING, claimed_by=claimant)
                .exclude(pk__in=excluded).values_list("pk", flat=True)[:limit])
    queued: list[int] = []
    if len(mine) < limit:
        queued = list(Analysis.objects.filter(same_model, status=AnalysisStatus.QUEUED).exclude(pk__in=excluded)
                      .order_by("enqueued_at", "id").values_list("pk", flat=True)[: limit - len(mine)])
    return analyses_claim(analysis_ids=mine + queued, claimant=claimant)


def analyses_heartbeat(*, claimant: str) -> int:
    """The claiming task is alive: touch every analysis it holds. Returns how many it holds."""
    if not claimant:
        return 0
    return Analysis.objects.filter(status=AnalysisStatus.RUNNING, claimed_by=claimant).update(
        heartbeat_at=timezone.now())


def analyses_stuck(*, queued_for_s: int, silent_for_s: int) -> list[int]:
    """Analyses that no worker seems to be handling: queued longer than ``queued_for_s`` (their
    message was lost, e.g. the broker was down at submission) or running without a heartbeat of
    their claimant for ``silent_for_s`` (their worker died: a killed worker stops beating at once,
    while its unacknowledged message waits for the broker's visibility timeout)."""
    now = timezone.now()
    silent_since = now - timedelta(seconds=silent_for_s)
    stuck = Analysis.objects.filter(
        Q(status=AnalysisStatus.QUEUED, enqueued_at__lt=now - timedelta(seconds=queued_for_s))
        | Q(status=AnalysisStatus.RUNNING, heartbeat_at__lt=silent_since)
        | Q(status=AnalysisStatus.RUNNING, heartbeat_at__isnull=True, started_at__lt=silent_since))
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


def _save_each(rows: list[Analysis], fields: list[str]) -> None:
    """UPDATE ``fields`` of each row with one statement prepared once and sent for all rows
    (``executemany``). Django's ``bulk_update`` builds a CASE per field and row instead, which
    cost ~40 ms of Python for a batch of 8 analyses."""
    meta = Analysis._meta
    # Concrete columns of Analysis (get_field is typed to return reverse relations and generic keys too).
    columns = [cast("Field[Any, Any]", meta.get_field(name)) for name in fields]
    connection = connections[router.db_for_write(Analysis)]
    quote = connection.ops.quote_name
    sql = (f"UPDATE {quote(meta.db_table)} SET " + ", ".join(f"{quote(c.column)} = %s" for c in columns)
           + f" WHERE {quote(meta.pk.column)} = %s")
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[c.get_db_prep_save(getattr(row, c.attname), connection) for c in columns] + [row.pk]
                                 for row in rows])


_RECORDED_FIELDS = ["status", "model_version", "label", "probability_ai", "confidence", "threshold", "crop_box",
                    "timings_ms", "heatmap", "error", "finished_at", "lanes", "evidence", "provenance", "tiles",
                    "decisive_tile", "judged_fraction", "aggregation", "map_faithful", "faithfulness"]  # the overlay is drawn on request: analysis_overlay


def _claim_lost(analysis: Analysis, claimant: str | None) -> bool:
    """Whether ``claimant`` (None: not checked) no longer holds ``analysis``: the sweeper took it
    back from a task that looked dead, and it is queued again or another task holds it. That task's
    result is dropped, so an analysis is never recorded twice."""
    return claimant is not None and (analysis.status != AnalysisStatus.RUNNING or analysis.claimed_by != claimant)


def analyses_record(*, model_version_id: int, outcomes: dict[int, AnalysisOutcome],
                    claimant: str | None = None) -> list[Analysis]:
    """Store the finished analyses of one batch in one transaction (one commit, a few bulk
    queries). Idempotent: an analysis already done is left as it was, and so is one that
    ``claimant`` (when given) no longer holds."""
    with transaction.atomic():
        # Row locks: two deliveries of the same batch finishing together must not both record.
        rows = list(Analysis.objects.select_for_update().select_related("image__case__team")
                    .filter(pk__in=list(outcomes)).order_by("pk"))
        todo = [a for a in rows if a.status != AnalysisStatus.DONE and not _claim_lost(a, claimant)]
        now = timezone.now()
        model_name = ModelVersion.objects.filter(pk=model_version_id).values_list("name", flat=True).first() or ""
        for analysis in todo:
            outcome = outcomes[analysis.pk]
            analysis.heatmap = storage.store_artefact(f"analyses/{analysis.pk}/heatmap.png", outcome.heatmap_png)
            analysis.status = AnalysisStatus.DONE
            analysis.model_version_id = model_version_id
            analysis.label = outcome.label
            analysis.probability_ai = outcome.probability_ai
            analysis.confidence = outcome.confidence
            analysis.threshold = outcome.threshold
            analysis.crop_box = outcome.crop_box
            analysis.timings_ms = outcome.timings_ms
            analysis.lanes, analysis.evidence, analysis.provenance = weigh_evidence(outcome, model_name)
            analysis.tiles, analysis.decisive_tile = outcome.tiles, outcome.decisive_tile
            analysis.judged_fraction, analysis.aggregation = outcome.judged_fraction, outcome.aggregation
            analysis.map_faithful, analysis.faithfulness = outcome.map_faithful, outcome.faithfulness
            analysis.error = ""
            analysis.finished_at = now
        if not todo:
            return rows
        _save_each(todo, _RECORDED_FIELDS)
        _propagate_labels(a.image_id for a in todo)
        AuditEvent.objects.bulk_create([
            event(action="analysis.done", obj=a, team=a.image.case.team, case=a.image.case,
                  details={"label": a.label, "probability_ai": round(a.probability_ai or 0.0, 6),
                           "model_version": model_version_id})
            for a in todo])
        webhook_deliveries_for_analyses(todo)  # queues webhook deliveries on commit, if any
    return rows


def analysis_record(*, analysis_id: int, model_version_id: int, outcome: AnalysisOutcome) -> Analysis:
    """Store one finished analysis (see :func:`analyses_record`)."""
    return analyses_record(model_version_id=model_version_id, outcomes={analysis_id: outcome})[0]


def analysis_overlay(analysis: Analysis) -> str:
    """Storage name of the analysis's heatmap drawn over the region the model saw; "" until the
    analysis is done.

    Drawn from the stored image and heatmap on first request and kept. The worker does not draw
    it: in a burst of hundreds of images most overlays are never opened, and drawing and
    encoding one costs ~5 ms of CPU that the model step needs (benchmarks/pipeline.md)."""
    if analysis.overlay or not analysis.heatmap:
        return analysis.overlay
    pixels = decode_image(storage.read(analysis.image.file), max_pixels=settings.VERITY_MAX_IMAGE_PIXELS)
    box = analysis.crop_box or {}
    left, top = int(box.get("left", 0)), int(box.get("top", 0))
    crop = pixels.convert("RGB").crop((left, top, left + int(box.get("width") or pixels.width),
                                       top + int(box.get("height") or pixels.height)))
    overlay = overlays.draw(crop, storage.read(analysis.heatmap))
    name = storage.store_artefact_once(f"analyses/{analysis.pk}/overlay.png", png_bytes(overlay))
    Analysis.objects.filter(pk=analysis.pk).update(overlay=name)
    analysis.overlay = name
    return name


def analysis_fail(*, analysis_id: int, reason: str, claimant: str | None = None) -> Analysis:
    """Mark an analysis failed with a readable reason (unless it already finished, or ``claimant``,
    when given, no longer holds it)."""
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().select_related("image__case__team").get(pk=analysis_id)
        if analysis.status in (AnalysisStatus.DONE, AnalysisStatus.FAILED) or _claim_lost(analysis, claimant):
            return analysis
        analysis.status = AnalysisStatus.FAILED
        analysis.error = reason[:2000]
        analysis.finished_at = timezone.now()
        analysis.save(update_fields=["status", "error", "finished_at"])
        case = analysis.image.case
        record_event(action="analysis.failed", obj=analysis, team=case.team, case=case,
                     details={"reason": reason[:500]})
        webhook_deliveries_for_analyses([analysis])  # queues a webhook delivery on commit, if any
    return analysis


def analysis_rerun(*, user: User, image: CaseImage, model_version: ModelVersion) -> Analysis:
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
