"""The sweeper re-sends analyses that no worker is handling; a broker outage loses no submission."""

from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from tests.images import png_bytes
from verification import queue, services
from verification.models import Analysis, AnalysisStatus, AuditEvent
from worker.tasks import requeue_stuck
from tests.queueing import each_analysis as _each_analysis

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


def test_it_takes_back_an_analysis_whose_worker_died_long_ago(people, upload, sent, settings,
                                                            django_capture_on_commit_callbacks):
    analysis = _submit(people, upload)
    services.analysis_start(analysis_id=analysis.pk, claimant="dead-task")
    Analysis.objects.filter(pk=analysis.pk).update(
        started_at=timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120))
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stuck() == 1
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.QUEUED and analysis.claimed_by == "" and sent == [analysis.pk]


def test_a_submission_succeeds_when_the_broker_is_unreachable(people, upload, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    def broker_down(*args, **kwargs):
        raise KombuOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(queue.current_app, "send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        result = services.case_submit(user=people["owner"], team=people["team"], title="t", files=[upload()])
    analysis = Analysis.objects.get(image=result.images[0])
    assert analysis.status == AnalysisStatus.QUEUED  # kept, for the sweeper to send later
