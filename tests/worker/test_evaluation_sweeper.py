"""The sweeper and evaluations: one whose worker died is failed with a reason (it cannot resume),
one whose message was lost is sent again, and live or merely waiting ones are left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from verification.models import EvaluationSource, EvaluationStatus, ModelEvaluation, ModelVersion
from worker.tasks import requeue_stuck

pytestmark = pytest.mark.django_db


@pytest.fixture
def evaluation(db):  # type: ignore[no-untyped-def]
    version = ModelVersion.objects.create(name="v1", checkpoint="/models/v1.pt", checkpoint_sha256="a" * 64)

    def make(status: str, *, age_s: float) -> ModelEvaluation:
        row = ModelEvaluation.objects.create(model_version=version, source=EvaluationSource.REVIEWED_CASES,
                                             data_fingerprint="f" * 64, status=status)
        then = timezone.now() - timedelta(seconds=age_s)
        ModelEvaluation.objects.filter(pk=row.pk).update(
            created_at=then, started_at=then if status == EvaluationStatus.RUNNING else None)
        return ModelEvaluation.objects.get(pk=row.pk)

    return make


def test_a_running_evaluation_past_the_hard_limit_is_failed_with_a_reason(evaluation, sent_tasks, settings):
    dead = evaluation("running", age_s=settings.VERITY_TRAINING_TIME_LIMIT + 120)
    live = evaluation("running", age_s=60)
    assert requeue_stuck() == 1
    dead.refresh_from_db()
    live.refresh_from_db()
    assert dead.status == "failed" and "Request the evaluation again" in dead.error
    assert live.status == "running" and sent_tasks == []


def test_a_queued_evaluation_whose_message_was_lost_is_sent_again(evaluation, sent_tasks, settings):
    lost = evaluation("queued", age_s=settings.VERITY_SWEEP_QUEUED_AFTER_S + 60)
    fresh = evaluation("queued", age_s=5)
    assert requeue_stuck() == 1
    assert [(args, q) for _, args, q in sent_tasks] == [([lost.pk], "training")]
    assert ModelEvaluation.objects.get(pk=fresh.pk).status == "queued"


def test_a_queued_evaluation_waiting_behind_live_work_is_not_sent_again(evaluation, sent_tasks, settings):
    evaluation("queued", age_s=settings.VERITY_SWEEP_QUEUED_AFTER_S + 60)
    evaluation("running", age_s=60)  # the training queue is busy with another evaluation
    assert requeue_stuck() == 0 and sent_tasks == []
