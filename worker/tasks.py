"""Worker tasks. Each takes an id, is safe to run twice, and records its outcome through services.

Analyses are batched: the task for one analysis also claims other queued analyses (up to
``VERITY_BATCH_SIZE``) and runs them through ResNet50 and Grad-CAM in one forward and backward
pass. The tasks of the analyses it took find them finished (or held) and return at once.
"""

from __future__ import annotations

import gc
import logging
import time
import uuid

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError

from ml.errors import MLError
from ml.tilemaps import map_png
from ml.wholeimage import analyse as analyse_whole
from ml.imageio import decode_image
from verification import queue, selectors, services, webhooks
from verification.errors import VerityError
from verification.models import Analysis
from verification.provenance import read_lanes

from . import model_cache
from .heartbeat import beating

logger = logging.getLogger(__name__)


def _consumes_inference() -> bool:
    """Whether this worker takes analyses (a worker started with ``-Q training`` does not)."""
    from celery import current_app

    consumed = current_app.amqp.queues.consume_from  # set from -Q before the pool forks; empty: all
    return not consumed or settings.CELERY_TASK_ROUTES["worker.tasks.analyse_image"]["queue"] in consumed


@worker_process_init.connect
def _preload_model(**_: object) -> None:
    """Load (and warm up) the active model when an inference worker process starts, so the first
    image is not slowed by it. Training workers load what they need per task."""
    if not _consumes_inference():
        return
    try:
        model_cache.active_predictor()
    except Exception:  # noqa: BLE001 - no model yet, or the database is not up: load on first task
        logger.info("no model preloaded; it will be loaded by the first task", exc_info=True)
    # Everything loaded so far lives as long as the process: keep it out of the cyclic garbage
    # collector, whose full passes over the model's many objects otherwise cost ~15 ms per image.
    gc.freeze()


def _gather(claimant: str, batch: list[Analysis]) -> list[Analysis]:
    """Fill the batch up to VERITY_BATCH_SIZE with other queued analyses for the same version."""
    batch = list(batch)
    size = model_cache.batch_size()  # larger on a GPU (worker/layout.py)
    deadline = time.monotonic() + settings.VERITY_BATCH_WAIT_MS / 1000
    while True:
        if len(batch) >= size:
            return batch
        batch += services.analysis_claim_batch(claimant=claimant, limit=size - len(batch),
                                               exclude=[a.pk for a in batch],
                                               model_version_id=batch[0].model_version_id)
        if len(batch) >= size or time.monotonic() >= deadline:
            return batch
        time.sleep(0.02)


@shared_task(bind=True, name="worker.tasks.analyse_image", acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=5)
def analyse_image(self, analysis_id: int, batch_ids: list[int] | None = None) -> str:  # type: ignore[no-untyped-def]
    """Analyse ``analysis_id`` and the rest of its submission's batch (``batch_ids``), filled up
    with other queued analyses to VERITY_BATCH_SIZE."""
    # The task id is the claim: a redelivery of this same task may resume what it had claimed.
    claimant = self.request.id or f"local-{uuid.uuid4()}"
    ids = [analysis_id, *(batch_ids or [])]
    size = model_cache.batch_size()  # larger on a GPU (worker/layout.py)
    if len(ids) > size:  # sent by a web process with a larger batch size than this worker's
        queue.enqueue_analyses(ids[size:])
        ids = ids[:size]
    claimed = services.analyses_claim(analysis_ids=ids, claimant=claimant)
    # One forward pass serves one model version; a re-run asking for another goes alone.
    batch = [a for a in claimed if a.model_version_id == claimed[0].model_version_id] if claimed else []
    for a in claimed:
        if a not in batch:
            services.analysis_requeue(analysis_id=a.pk, reason="asks for another model version than its batch")
    if not batch:
        return "already finished"
    # Beat for every analysis this task holds until it is recorded: if this worker is killed, the
    # sweeper sees the silence and queues them again within a minute (see analyses_stuck).
    with beating(lambda: services.analyses_heartbeat(claimant=claimant), every_s=settings.VERITY_CLAIM_HEARTBEAT_S,
                 name=f"analysis-heartbeat-{claimant}"):
        try:
            batch = _gather(claimant, batch)
        except SoftTimeLimitExceeded:
            pass  # claiming ran out of time: analyse what is claimed (the hard limit still applies)
        outcomes = analyse_batch(batch)
    return outcomes.get(analysis_id, "already finished" if analysis_id not in {a.pk for a in batch} else "failed")


def _fail(analysis_id: int, reason: str, outcomes: dict[int, str], claimant: str | None = None) -> None:
    services.analysis_fail(analysis_id=analysis_id, reason=reason, claimant=claimant)
    outcomes[analysis_id] = "failed"


def analyse_batch(batch: list[Analysis]) -> dict[int, str]:
    """Classify and explain the claimed analyses together; record each one's outcome.

    One bad image fails alone: it never takes down the others in the batch. Outcomes are recorded
    only for analyses this task still holds (the sweeper may have taken back a claim that stopped
    beating), so no analysis is recorded twice."""
    outcomes: dict[int, str] = {}
    claimant = batch[0].claimed_by if batch else None
    pending = list(batch)
    try:
        try:
            # A re-run names its model version (the whole batch asks for the same one); a first
            # analysis uses whichever version is active.
            requested = batch[0].model_version if batch[0].model_version_id else None
            version, predictor = (model_cache.predictor_for(requested) if requested is not None
                                  else model_cache.active_predictor())
        except (MLError, VerityError) as exc:
            for a in pending:
                _fail(a.pk, str(exc), outcomes, claimant)
            return outcomes
        decoded = []
        lanes: dict[int, tuple[list[dict], float]] = {}  # type: ignore[type-arg]
        for a in pending:
            try:
                data = selectors.image_bytes(a.image)
                decoded.append((a, decode_image(data, max_pixels=settings.VERITY_MAX_IMAGE_PIXELS)))
                started = time.perf_counter()  # the provenance lanes never raise: a bad one is its lane's error
                lanes[a.pk] = (read_lanes(data, a.image.format), (time.perf_counter() - started) * 1000)
            except (MLError, OSError) as exc:
                reason = str(exc) if isinstance(exc, MLError) else f"The stored image could not be read: {exc}"
                _fail(a.pk, reason, outcomes, claimant)
        if not decoded:
            return outcomes
        chunk = predictor.tile_batch(settings.VERITY_TILE_BATCH)  # measured once per process and model

        def judge(images: list) -> list:  # every image on its tiles, one map over the whole image
            return analyse_whole(predictor, images, max_tiles=settings.VERITY_MAX_TILES, chunk=chunk,
                                 check_faithfulness=settings.VERITY_CHECK_MAP_FAITHFULNESS)

        try:
            predictions = judge([im for _, im in decoded])
        except (SoftTimeLimitExceeded, OperationalError, InterfaceError):
            raise
        except Exception:  # noqa: BLE001 - isolate the image that breaks the batch
            logger.exception("batch of %d failed; retrying one by one", len(decoded))
            predictions = []
            for a, im in decoded:
                try:
                    predictions.append(judge([im])[0])
                except Exception as exc:  # noqa: BLE001
                    predictions.append(exc)  # type: ignore[arg-type]
        finished: dict[int, services.AnalysisOutcome] = {}
        for (a, _), p in zip(decoded, predictions):
            if isinstance(p, Exception):
                _fail(a.pk, f"Internal error while analysing: {type(p).__name__}: {p}", outcomes, claimant)
                continue
            assert p.heatmap is not None
            timings = {k: round(v, 2) for k, v in p.timings_ms.items()}
            timings["batch_size"] = len(decoded)
            timings["tile_batch"] = chunk
            timings["provenance"] = round(lanes[a.pk][1], 2)
            finished[a.pk] = services.AnalysisOutcome(
                label=p.label, probability_ai=p.probability_ai, confidence=p.confidence, threshold=p.threshold,
                # The map covers the whole image, so the region it is drawn over is all of it.
                crop_box={"left": 0, "top": 0, "width": p.heatmap.shape[1], "height": p.heatmap.shape[0]},
                timings_ms=timings, heatmap_png=map_png(p.heatmap),
                tiles=p.tiles_json(), decisive_tile=p.decisive, judged_fraction=round(p.judged_fraction, 6),
                aggregation=p.rule, map_faithful=None if p.faithfulness is None else p.faithfulness["faithful"],
                faithfulness=p.faithfulness or {}, lanes=lanes[a.pk][0])
        if finished:  # one transaction for the batch
            services.analyses_record(model_version_id=version.pk, outcomes=finished, claimant=claimant)
            outcomes.update({pk: o.label for pk, o in finished.items()})
    except SoftTimeLimitExceeded:
        for a in batch:
            if a.pk not in outcomes:
                _fail(a.pk, (f"The analysis took longer than {settings.CELERY_TASK_SOFT_TIME_LIMIT} s and was "
                             "stopped. Try again; if it keeps happening, the image may be too large for this "
                             "worker."), outcomes, claimant)
    except (OperationalError, InterfaceError):
        raise  # transient database trouble: Celery retries; the claims let the retry resume
    except Exception as exc:  # noqa: BLE001 - anything else must still leave a readable failure
        logger.exception("analysis batch failed")
        for a in batch:
            if a.pk not in outcomes:
                _fail(a.pk, f"Internal error while analysing: {type(exc).__name__}: {exc}", outcomes, claimant)
    return outcomes


@shared_task(name="worker.tasks.requeue_stuck", ignore_result=True)
def requeue_stuck() -> int:
    """Periodic sweeper (celery beat): re-send analyses, training runs, evaluations and dataset scans whose
    message was lost, and take back work whose worker died without a redelivery (a training run
    resumes from its last finished epoch; an evaluation is failed with a reason, to be requested
    again). Claims make a duplicate message harmless."""
    ids = services.analyses_stuck(queued_for_s=settings.VERITY_SWEEP_QUEUED_AFTER_S,
                                  silent_for_s=settings.VERITY_CLAIM_DEAD_AFTER_S)
    count = sum(services.analysis_requeue(analysis_id=pk, reason="stuck; sent to the queue again") for pk in ids)
    runs = services.training_runs_stuck(queued_for_s=settings.VERITY_SWEEP_QUEUED_AFTER_S)
    trained = sum(services.training_run_requeue(run_id=pk, reason="stuck (message lost or worker gone); "
                                                "sent to the queue again") for pk in runs)
    dead, lost = services.evaluations_stuck(queued_for_s=settings.VERITY_SWEEP_QUEUED_AFTER_S)
    for pk in dead:  # past the hard time limit: its worker is gone, and an evaluation cannot resume
        services.evaluation_fail(evaluation_id=pk, reason=(
            "The worker stopped while scoring this evaluation (it ran past the time limit without finishing). "
            "Request the evaluation again."))
    resent = sum(queue.enqueue_evaluation(pk) for pk in lost)  # a duplicate finds it claimed and returns
    scans = sum(services.dataset_scan_requeue(dataset_id=pk, reason="stuck (message lost or worker gone); sent "
                                              "to the queue again")
                for pk in services.dataset_scans_stuck(queued_for_s=settings.VERITY_SWEEP_QUEUED_AFTER_S))
    if count or trained or dead or resent or scans:
        logger.warning("re-enqueued %d stuck analyses, %d training runs, %d evaluations and %d dataset scans; "
                       "failed %d dead evaluations", count, trained, resent, scans, len(dead))
    return count + trained + len(dead) + resent + scans


@shared_task(bind=True, name="worker.tasks.deliver_webhook", acks_late=True, max_retries=None,
             autoretry_for=(OperationalError, InterfaceError), retry_backoff=True,
             retry_kwargs={"max_retries": 10})  # database trouble: bounded; receiver trouble: see below
def deliver_webhook(self, delivery_id: int) -> str:  # type: ignore[no-untyped-def]
    """One attempt at a webhook delivery; retried with growing delays until it succeeds or the
    delivery gives up (VERITY_WEBHOOK_MAX_ATTEMPTS, counted on the row, not by Celery)."""
    attempt = services.webhook_deliver(delivery_id)
    if attempt.retry:
        raise self.retry(countdown=webhooks.backoff_seconds(attempt.attempts))
    return attempt.status


@shared_task(bind=True, name="worker.tasks.train_model", acks_late=True,
             soft_time_limit=settings.VERITY_TRAINING_SOFT_TIME_LIMIT, time_limit=settings.VERITY_TRAINING_TIME_LIMIT)
def train_model(self, run_id: int) -> str:  # type: ignore[no-untyped-def]
    """Train on the run's dataset, then register the checkpoint (not activated) or record why not.

    Safe to deliver twice: only a queued run (or one whose worker stopped reporting) is claimed.
    Checkpoints go to ``VERITY_MODEL_DIR/runs/<run id>/``. A run claimed again after its worker
    died resumes from the ``last.pt`` of its last finished epoch there (or starts over if no
    epoch had finished)."""
    from pathlib import Path

    from ml.errors import TrainingCancelled
    from ml.train import STATE_FILE, train

    from .training import cancel_poll, heartbeat, training_config

    out_dir = Path(settings.VERITY_MODEL_DIR) / "runs" / str(run_id)
    run = services.training_run_begin(run_id=run_id, out_dir=out_dir)
    if run is None:
        return "not queued"
    resume = run.attempts > 1 and (out_dir / STATE_FILE).is_file()

    def progress(event: dict) -> None:  # type: ignore[type-arg]
        if event.get("event") in ("step", "epoch"):
            services.training_run_progress(run_id=run_id, event=event)

    try:
        with heartbeat(run_id):
            result = train(training_config(run, out_dir), progress=progress, should_stop=cancel_poll(run_id),
                           show_bar=False, resume=resume, name=f"{run.dataset.name[:90]}-run{run_id}")
        services.training_run_finish(run_id=run_id, checkpoint=result.checkpoint)
    except TrainingCancelled as exc:
        services.training_run_fail(run_id=run_id, reason=str(exc), cancelled=True)
        return "cancelled"
    except SoftTimeLimitExceeded:
        services.training_run_fail(run_id=run_id, reason=(
            f"Training took longer than {settings.VERITY_TRAINING_SOFT_TIME_LIMIT} s and was stopped. "
            "Use fewer epochs or a smaller dataset, or raise VERITY_TRAINING_SOFT_TIME_LIMIT."))
        return "failed"
    except (MLError, VerityError) as exc:
        services.training_run_fail(run_id=run_id, reason=str(exc))
        return "failed"
    except Exception as exc:  # noqa: BLE001 - anything else must still leave a readable failure
        logger.exception("training run %s failed", run_id)
        services.training_run_fail(run_id=run_id, reason=f"Internal error while training: {type(exc).__name__}: {exc}")
        return "failed"
    return "succeeded"


@shared_task(bind=True, name="worker.tasks.scan_dataset", acks_late=True, reject_on_worker_lost=True,
             soft_time_limit=settings.VERITY_TRAINING_SOFT_TIME_LIMIT, time_limit=settings.VERITY_TRAINING_TIME_LIMIT)
def scan_dataset(self, dataset_id: int) -> str:  # type: ignore[no-untyped-def]
    """Read every image of a registered dataset (unpacking an uploaded zip first) and record its
    counts and fingerprint, on the training queue. Safe to deliver twice: only a pending scan
    (or one whose worker stopped beating) is claimed, and a scan replaces the counts."""
    from .dataset_scan import run_scan

    return run_scan(dataset_id, claimant=self.request.id or f"local-{uuid.uuid4()}")


@shared_task(name="worker.tasks.evaluate_model", acks_late=True,
             soft_time_limit=settings.VERITY_TRAINING_SOFT_TIME_LIMIT, time_limit=settings.VERITY_TRAINING_TIME_LIMIT)
def evaluate_model(evaluation_id: int) -> str:
    """Score a model version on its evaluation's data (training queue). Safe to deliver twice:
    only a queued evaluation is claimed."""
    from .evaluation import run_evaluation

    return run_evaluation(evaluation_id)


@shared_task(name="worker.tasks.reevaluate_active_model", ignore_result=True,
             soft_time_limit=settings.VERITY_TRAINING_SOFT_TIME_LIMIT, time_limit=settings.VERITY_TRAINING_TIME_LIMIT)
def reevaluate_active_model() -> str:
    """Periodic (celery beat, VERITY_REEVALUATE_EVERY_S): score the active model on the reviewed
    images of finalised cases, when there are at least VERITY_DRIFT_MIN_IMAGES of them, and flag
    drift. Runs here, on the training queue, rather than sending a second task."""
    from .evaluation import run_evaluation

    version = selectors.active_model()
    if version is None:
        return "no active model"
    evaluation, reason = services.evaluation_schedule(version=version)
    if evaluation is None:
        logger.info("re-evaluation of %s skipped: %s", version.name, reason)
        return reason
    return run_evaluation(evaluation.pk)

from .stability import reshare_stability  # noqa: E402,F401 - registers worker.tasks.reshare_stability
