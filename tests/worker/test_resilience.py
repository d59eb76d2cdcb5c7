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
