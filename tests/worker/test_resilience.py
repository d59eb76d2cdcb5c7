"""A worker process killed with SIGKILL in the middle of a task loses nothing: the task is
delivered again (acks late, reject on worker lost) and every analysis completes exactly once."""

import dataclasses
import os
import signal
import subprocess

import pytest

from ml.checkpoint import load_checkpoint, save_checkpoint
from tests.images import png_bytes
from tests.worker_process import celery_worker, wait_for
from verification import services
from verification.models import Analysis, AnalysisStatus, AuditEvent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def slow_version(tiny_checkpoint, tmp_path):
    """The tiny model served at 512 px: ResNet50 is fully convolutional, so the same weights run on
    larger crops, slowly enough (about a second a image) to be killed mid-task."""
    model, meta = load_checkpoint(tiny_checkpoint)
    meta.preprocess = dataclasses.replace(meta.preprocess, input_size=512)
    path = save_checkpoint(tmp_path / "slow.pt", model, meta)
    return services.model_version_register(checkpoint=path, name="slow", activate=True)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_a_worker_process_killed_mid_task_loses_no_analysis(people, upload, slow_version, settings, tmp_path):
    settings.VERITY_BATCH_SIZE = 1
    images = [upload(f"img{i}.png", png_bytes((600, 600), seed=i)) for i in range(3)]
    result = services.case_submit(user=people["owner"], team=people["team"], title="burst", files=images)
    ids = [Analysis.objects.get(image=i).pk for i in result.images]
    log = tmp_path / "worker.log"
    with celery_worker(log, extra_env={"VERITY_BATCH_SIZE": "1"}) as proc:
        running = wait_for(lambda: Analysis.objects.filter(pk__in=ids, status=AnalysisStatus.RUNNING).first(),
                           timeout=120, interval=0.05, proc=proc, log_path=log)
        children = wait_for(lambda: _children(proc.pid), timeout=10, proc=proc, log_path=log)
        for child in children:
            os.kill(child, signal.SIGKILL)  # the pool process dies without acknowledging its task
        wait_for(lambda: Analysis.objects.filter(pk__in=ids, status=AnalysisStatus.DONE).count() == 3,
                 timeout=240, proc=proc, log_path=log)
    killed = Analysis.objects.get(pk=running.pk)
    assert killed.attempts == 2, "the killed task should have been delivered again and resumed"
    for pk in ids:
        assert AuditEvent.objects.filter(action="analysis.done", object_id=str(pk)).count() == 1
    assert "WorkerLostError" in log.read_text() or "exited with 'signal 9" in log.read_text()


def test_a_whole_worker_killed_with_sigkill_has_its_analyses_taken_back_within_a_minute(
        people, upload, slow_version, settings, tmp_path):
    """kill -9 of the whole worker (not just a pool process): nothing redelivers its message until the
    broker's visibility timeout (an hour on Redis), so the claim's silent heartbeat is what tells.
    Another worker's sweeper queues the analysis again within 60 s, and it is recorded once."""
    import time

    env = {"VERITY_BATCH_SIZE": "1", "VERITY_SWEEP_QUEUED_AFTER_S": "30"}
    result = services.case_submit(user=people["owner"], team=people["team"], title="one",
                                  files=[upload("img.png", png_bytes((600, 600), seed=10))])
    ids = [Analysis.objects.get(image=i).pk for i in result.images]
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with celery_worker(first_log, extra_env=env) as first:
        running = wait_for(lambda: Analysis.objects.filter(pk__in=ids, status=AnalysisStatus.RUNNING).first(),
                           timeout=120, interval=0.05, proc=first, log_path=first_log)
        with celery_worker(second_log, extra_env=env, beat=True) as second:
            os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool, without a word to the broker
            killed_at = time.monotonic()
            first.wait(timeout=10)
            wait_for(lambda: AuditEvent.objects.filter(action="analysis.requeued", object_id=str(running.pk)).exists(),
                     timeout=75, interval=0.2, proc=second, log_path=second_log)
            taken_back_after = time.monotonic() - killed_at
            wait_for(lambda: Analysis.objects.filter(pk__in=ids, status=AnalysisStatus.DONE).count() == len(ids),
                     timeout=240, proc=second, log_path=second_log)
    assert taken_back_after <= 60, f"taken back {taken_back_after:.0f} s after the kill"
    for pk in ids:
        assert AuditEvent.objects.filter(action="analysis.done", object_id=str(pk)).count() == 1
