"""Broker outages and time limits, with a real worker and a private Redis server."""

import dataclasses
import time

import pytest
from django.urls import reverse

from ml.checkpoint import load_checkpoint, save_checkpoint
from tests.images import png_bytes
from tests.worker_process import celery_worker, free_port, private_redis, publishing_to, wait_for
from verification import services
from verification.models import Analysis, AnalysisStatus, AuditEvent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_submissions_during_a_redis_outage_are_all_analysed_once_it_is_back(
        client, people, active_version, upload, tmp_path):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    log = tmp_path / "worker.log"
    client.force_login(people["owner"])

    def submit(title: str, n: int):
        t = time.monotonic()
        response = client.post(reverse("verification:case_create"), {
            "title": title, "team": people["team"].pk,
            "images": [upload(f"{title}-{i}.png", png_bytes(seed=hash(title) % 1000 + i)) for i in range(n)]})
        return response, time.monotonic() - t

    env = {"CELERY_BROKER_URL": url, "VERITY_SWEEP_QUEUED_AFTER_S": "3", "VERITY_SWEEP_INTERVAL_S": "2"}
    with publishing_to(url), celery_worker(log, extra_env=env, beat=True) as worker:
        with private_redis(port) as redis_server:
            response, _ = submit("before", 1)
            assert response.status_code == 302
            redis_server.terminate()
            redis_server.wait(timeout=10)
        # Redis is down: the submission is still accepted, promptly, and its analyses kept.
        response, seconds = submit("during", 2)
        assert response.status_code == 302 and seconds < 20
        during = Analysis.objects.filter(image__case__title="during")
        assert during.count() == 2
        with private_redis(port):
            wait_for(lambda: Analysis.objects.filter(status=AnalysisStatus.DONE).count() == 3,
                     timeout=180, proc=worker, log_path=log)
    for analysis in Analysis.objects.all():
        assert AuditEvent.objects.filter(action="analysis.done", object_id=str(analysis.pk)).count() == 1


def test_a_task_over_its_time_limit_fails_with_a_reason_and_the_next_one_runs(
        people, upload, tiny_checkpoint, tmp_path):
    model, meta = load_checkpoint(tiny_checkpoint)
    meta.preprocess = dataclasses.replace(meta.preprocess, input_size=512)
    fast = services.model_version_register(checkpoint=tiny_checkpoint, name="fast", activate=True)
    slow = services.model_version_register(
        checkpoint=save_checkpoint(tmp_path / "slow.pt", model, meta), name="slow")
    log = tmp_path / "worker.log"
    env = {"CELERY_TASK_SOFT_TIME_LIMIT": "2", "CELERY_TASK_TIME_LIMIT": "60", "VERITY_BATCH_SIZE": "8"}
    with celery_worker(log, extra_env=env) as worker:  # preloads the fast model, which stays cached
        # Activate the slow model only once the worker process has picked the fast one to preload:
        # on a busy machine the process starts late and would otherwise preload the slow one.
        wait_for(lambda: log.exists() and "loading model version fast" in log.read_text(), timeout=120,
                 proc=worker, log_path=log)
        services.model_version_activate(version=slow, note="a slow model")
        # Eight 512-pixel images in one batch take several seconds of CPU: over a 2 s soft limit.
        burst = services.case_submit(user=people["owner"], team=people["team"], title="slow",
                                     files=[upload(f"{i}.png", png_bytes((520, 520), seed=i)) for i in range(8)])
        wait_for(lambda: not Analysis.objects.filter(image__case=burst.case, status__in=["queued", "running"]).exists(),
                 timeout=180, proc=worker, log_path=log)
        failed = Analysis.objects.filter(image__case=burst.case, status=AnalysisStatus.FAILED)
        assert failed.exists() and all("took longer than 2 s" in a.error for a in failed), log.read_text()[-3000:]
        services.model_version_activate(version=fast, note="back to the fast model")
        second = services.case_submit(user=people["owner"], team=people["team"], title="fast",
                                      files=[upload("small.png", png_bytes())]).images[0]
        done = wait_for(lambda: Analysis.objects.filter(image=second, status=AnalysisStatus.DONE).first(),
                        timeout=120, proc=worker, log_path=log)
        assert worker.poll() is None  # the worker survived the time limit
    assert done.model_version == fast and slow.pk != fast.pk
