"""The sweeper re-sends analyses that no worker is handling; a broker outage loses no submission."""

from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from tests.images import png_bytes
from tests.queueing import each_analysis as _each_analysis
from verification import queue, services
from verification.models import Analysis, AnalysisStatus, AuditEvent
from worker.tasks import requeue_stuck

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr("verification.queue.enqueue_analysis", calls.append)
    monkeypatch.setattr("verification.queue.enqueue_analyses", _each_analysis)
    return calls


_seed = iter(range(10_000))


def _submit(people, upload):
    # A distinct image each time: a repeat of the same bytes would be linked as a duplicate.
    result = services.case_submit(user=people["owner"], team=people["team"], title="t",
                                  files=[upload("x.png", png_bytes(seed=next(_seed)))])
    return Analysis.objects.get(image=result.images[0])


def test_it_resends_an_analysis_queued_too_long(people, upload, sent, settings, django_capture_on_commit_callbacks):
    analysis = _submit(people, upload)
    Analysis.objects.filter(pk=analysis.pk).update(
        enqueued_at=timezone.now() - timedelta(seconds=settings.VERITY_SWEEP_QUEUED_AFTER_S + 5))
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stuck() == 1
    assert sent == [analysis.pk]
    assert AuditEvent.objects.filter(action="analysis.requeued", object_id=str(analysis.pk)).exists()


def test_it_leaves_recently_queued_and_finished_analyses_alone(people, upload, sent):
    _submit(people, upload)
    done = _submit(people, upload)
    Analysis.objects.filter(pk=done.pk).update(status=AnalysisStatus.DONE,
                                               enqueued_at=timezone.now() - timedelta(days=1))
    assert requeue_stuck() == 0 and sent == []


def test_it_takes_back_an_analysis_whose_claimant_stopped_beating(people, upload, sent, settings,
                                                                 django_capture_on_commit_callbacks):
    analysis = _submit(people, upload)
    services.analysis_start(analysis_id=analysis.pk, claimant="dead-task")
    Analysis.objects.filter(pk=analysis.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.VERITY_CLAIM_DEAD_AFTER_S + 1))
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stuck() == 1
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.QUEUED and analysis.claimed_by == "" and sent == [analysis.pk]


def test_it_leaves_a_long_running_analysis_alone_while_its_claimant_beats(people, upload, sent, settings):
    analysis = _submit(people, upload)
    services.analysis_start(analysis_id=analysis.pk, claimant="slow-but-alive")
    Analysis.objects.filter(pk=analysis.pk).update(
        started_at=timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT))
    assert services.analyses_heartbeat(claimant="slow-but-alive") == 1
    assert requeue_stuck() == 0 and sent == []


def test_a_dead_claimant_is_taken_back_within_a_minute_with_the_default_settings(settings):
    # Worst case: the worker dies just after a beat; the row looks dead DEAD_AFTER_S later, and the
    # next sweep comes at most one interval after that.
    assert settings.VERITY_CLAIM_DEAD_AFTER_S + settings.VERITY_SWEEP_INTERVAL_S <= 60
    assert settings.CELERY_BEAT_SCHEDULE["requeue-stuck-analyses"]["schedule"] == settings.VERITY_SWEEP_INTERVAL_S


def test_a_task_whose_claim_was_taken_back_cannot_record_or_fail_it(people, upload, sent):
    """The sweeper took the analysis from a task that looked dead and another task took it; when the
    first one turns out alive and finishes, its result is dropped: one analysis.done, the second's."""
    from tests.images import heatmap_png
    from verification.models import ModelVersion

    version = ModelVersion.objects.create(name="v", checkpoint="/m/v.pt", checkpoint_sha256="a" * 64)
    analysis = _submit(people, upload)
    services.analysis_start(analysis_id=analysis.pk, claimant="stalled")
    services.analysis_requeue(analysis_id=analysis.pk, reason="claimant silent")
    services.analysis_start(analysis_id=analysis.pk, claimant="second")
    outcome = services.AnalysisOutcome(label="real", probability_ai=0.1, confidence=0.9, threshold=0.5,
                                       crop_box={}, timings_ms={}, heatmap_png=heatmap_png())
    services.analysis_fail(analysis_id=analysis.pk, reason="stalled task gave up", claimant="stalled")
    services.analyses_record(model_version_id=version.pk, outcomes={analysis.pk: outcome}, claimant="stalled")
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.RUNNING and analysis.claimed_by == "second"
    services.analyses_record(model_version_id=version.pk, outcomes={analysis.pk: outcome}, claimant="second")
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.DONE
    assert AuditEvent.objects.filter(action="analysis.done", object_id=str(analysis.pk)).count() == 1
    assert not AuditEvent.objects.filter(action="analysis.failed").exists()


def test_the_heartbeat_thread_beats_while_the_block_runs_and_stops_after():
    import time

    from worker.heartbeat import beating

    beats: list[float] = []
    with beating(lambda: beats.append(time.monotonic()), every_s=0.02, name="test"):
        time.sleep(0.2)
    seen = len(beats)
    time.sleep(0.1)
    assert seen >= 3 and len(beats) == seen


def test_a_submission_succeeds_when_the_broker_is_unreachable(people, upload, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    def broker_down(*args, **kwargs):
        raise KombuOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(queue.current_app, "send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        result = services.case_submit(user=people["owner"], team=people["team"], title="t", files=[upload()])
    analysis = Analysis.objects.get(image=result.images[0])
    assert analysis.status == AnalysisStatus.QUEUED  # kept, for the sweeper to send later
