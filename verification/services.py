"""State changes. Views, the API, admin actions and worker tasks call these functions; each one
validates, changes rows in one transaction and writes the audit event in that same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ml.checkpoint import file_sha256, meta_from_payload, read_checkpoint
from ml.errors import ImageRejected, MLError
from ml.imageio import ImageInfo, inspect_image

from . import queue, storage, webhooks
from .audit import record_event
from .errors import SubmissionRejected, VerityError
from .models import Analysis, AnalysisStatus, Case, CaseImage, Membership, ModelVersion, Team


class Upload(Protocol):
    """What Django's UploadedFile offers, and all that submission needs of it."""

    name: str
    size: int

    def read(self, size: int = -1) -> bytes: ...


@dataclass
class Rejection:
    name: str
    reason: str


@dataclass
class AcceptedFile:
    name: str
    data: bytes
    info: ImageInfo


@dataclass
class SubmissionResult:
    case: Case
    images: list[CaseImage]
    rejected: list[Rejection] = field(default_factory=list)


def validate_upload(upload: Upload) -> AcceptedFile:
    """Check one uploaded file by its content. Raises VerityError with a reason to show."""
    limit = settings.VERITY_MAX_UPLOAD_BYTES
    # The size is known before the body is read: refuse large files without loading them.
    if upload.size is not None and upload.size > limit:
        raise VerityError(f"The file is {upload.size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB.")
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise VerityError(f"The file is larger than the {limit / 1e6:.0f} MB limit.")
    try:
        info = inspect_image(data, max_pixels=settings.VERITY_MAX_IMAGE_PIXELS)
    except ImageRejected as exc:
        raise VerityError(str(exc)) from exc
    return AcceptedFile(name=Path(upload.name or "image").name[:255], data=data, info=info)


def _require_member(user: Any, team: Team) -> None:
    if not Membership.objects.filter(user=user, team=team).exists():
        raise VerityError("You are not a member of that team.")


def case_submit(*, user: Any, team: Team, title: str, files: Iterable[Upload], source_url: str = "",
                notes: str = "") -> SubmissionResult:
    """Create a case with one queued analysis per valid image and enqueue them after commit.

    Invalid files are reported in ``rejected`` and do not stop the valid ones. If no file is
    valid, nothing is created and SubmissionRejected lists every reason.
    """
    _require_member(user, team)
    files = list(files)
    if not files:
        raise SubmissionRejected("Choose at least one image to upload.")
    if len(files) > settings.VERITY_MAX_FILES_PER_CASE:
        raise SubmissionRejected(f"At most {settings.VERITY_MAX_FILES_PER_CASE} images per case.")
    accepted: list[AcceptedFile] = []
    rejected: list[Rejection] = []
    for upload in files:
        try:
            accepted.append(validate_upload(upload))
        except VerityError as exc:
            rejected.append(Rejection(name=Path(upload.name or "file").name, reason=exc.message))
    if not accepted:
        raise SubmissionRejected(
            "None of the files could be accepted.",
            details=[{"file": r.name, "reason": r.reason} for r in rejected],
        )

    with transaction.atomic():
        case = Case.objects.create(team=team, title=title.strip() or accepted[0].name, source_url=source_url,
                                   notes=notes, created_by=user)
        images = []
        for item in accepted:
            name, digest = storage.store_image(item.data, item.info.format)
            image = CaseImage.objects.create(
                case=case, file=name, sha256=digest, original_name=item.name, format=item.info.format,
                width=item.info.width, height=item.info.height, size_bytes=len(item.data))
            analysis = Analysis.objects.create(image=image)
            images.append(image)
            # Enqueue only once the rows are committed, or a fast worker would not find them.
            transaction.on_commit(lambda aid=analysis.pk: queue.enqueue_analysis(aid))
        record_event(action="case.submitted", obj=case, actor=user, team=team, case=case, details={
            "images": [{"id": i.pk, "name": i.original_name, "sha256": i.sha256} for i in images],
            "rejected": [{"file": r.name, "reason": r.reason} for r in rejected],
        })
    return SubmissionResult(case=case, images=images, rejected=rejected)


def analysis_start(*, analysis_id: int) -> Analysis | None:
    """Claim an analysis for a worker. Returns None when it is already finished.

    A claim of a *running* analysis is allowed: with late acknowledgement, a task whose worker
    died is delivered again while its row still says running.
    """
    claimed = Analysis.objects.filter(
        pk=analysis_id, status__in=[AnalysisStatus.QUEUED, AnalysisStatus.RUNNING],
    ).update(status=AnalysisStatus.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1)
    if not claimed:
        return None
    return Analysis.objects.select_related("image__case__team").get(pk=analysis_id)


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


def model_version_register(*, checkpoint: str | Path, name: str = "", actor: Any = None,
                           activate: bool = False) -> ModelVersion:
    """Register a checkpoint file as a model version (reading its self-description)."""
    path = Path(checkpoint).resolve()
    try:
        payload = read_checkpoint(path)
    except MLError as exc:
        raise VerityError(str(exc)) from exc
    meta = meta_from_payload(payload)
    digest = file_sha256(path)
    with transaction.atomic():
        version = ModelVersion.objects.create(
            name=name or meta.name or f"model-{digest[:12]}", checkpoint=str(path), checkpoint_sha256=digest,
            architecture=meta.model.architecture, input_size=meta.preprocess.input_size,
            is_demo=meta.is_demo, metrics=meta.metrics)
        record_event(action="model.registered", obj=version, actor=actor,
                     details={"checkpoint": str(path), "sha256": digest, "is_demo": meta.is_demo})
        if activate:
            model_version_activate(version=version, actor=actor, note="activated on registration")
    return version


def model_version_activate(*, version: ModelVersion, actor: Any = None, note: str = "") -> ModelVersion:
    """Make ``version`` the one active model (promotion; rollback is activating an older one)."""
    with transaction.atomic():
        previous = ModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=version.pk).first()
        ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
        ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
        version.is_active = True
        record_event(action="model.activated", obj=version, actor=actor,
                     details={"note": note, "previous": previous.pk if previous else None})
    return version


def team_create(*, name: str, actor: Any = None) -> Team:
    with transaction.atomic():
        team = Team.objects.create(name=name)
        record_event(action="team.created", obj=team, actor=actor, team=team)
    return team


def membership_set(*, user: Any, team: Team, role: str, actor: Any = None) -> Membership:
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(user=user, team=team, defaults={"role": role})
        record_event(action="membership.set", obj=membership, actor=actor, team=team,
                     details={"user": user.get_username(), "role": role})
    return membership
