"""The analysis task, run in-process against the real model code and database."""

import pytest

from tests.images import png_bytes
from verification import services
from verification.models import Analysis, AnalysisStatus, AuditEvent, CaseImage
from worker import model_cache
from worker.tasks import analyse_image
from tests.queueing import each_analysis as _each_analysis

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    model_cache.clear()
    yield
    model_cache.clear()


@pytest.fixture
def queued(people, upload, monkeypatch):
    monkeypatch.setattr("verification.queue.enqueue_analysis", lambda aid: None)
    monkeypatch.setattr("verification.queue.enqueue_analyses", _each_analysis)

    def make(data=None):
        result = services.case_submit(user=people["owner"], team=people["team"], title="t",
                                      files=[upload("img.png", data)])
        return Analysis.objects.get(image=result.images[0])

    return make


def test_the_task_records_verdict_probability_heatmap_and_model(queued, active_version, settings):
    analysis = queued(png_bytes((120, 100)))
    assert analyse_image.run(analysis.pk) in ("real", "ai_generated")
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.DONE
    assert analysis.model_version == active_version
    assert 0 <= analysis.probability_ai <= 1 and analysis.label in ("real", "ai_generated")
    assert (settings.MEDIA_ROOT / analysis.heatmap).read_bytes()[:4] == b"\x89PNG"
    assert analysis.overlay == ""  # drawn on first view (services.analysis_overlay), not by the worker
    assert analysis.timings_ms["inference_gradcam"] > 0
    assert analysis.attempts == 1 and analysis.started_at and analysis.finished_at
    assert AuditEvent.objects.filter(action="analysis.done", object_id=str(analysis.pk)).count() == 1


def test_running_the_task_twice_records_once(queued, active_version):
    analysis = queued()
    analyse_image.run(analysis.pk)
    first = Analysis.objects.get(pk=analysis.pk)
    assert analyse_image.run(analysis.pk) == "already finished"
    again = Analysis.objects.get(pk=analysis.pk)
    assert again.finished_at == first.finished_at and again.attempts == 1
    assert AuditEvent.objects.filter(action="analysis.done").count() == 1


def test_a_redelivered_task_of_a_dead_worker_completes(queued, active_version):
    analysis = queued()
    services.analysis_start(analysis_id=analysis.pk, claimant="task-1")  # claimed, then the worker died
    analyse_image.apply(args=[analysis.pk], task_id="task-1")  # the broker delivers the same task again
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.DONE and analysis.attempts == 2


def test_another_task_leaves_an_analysis_held_by_a_live_task_alone(queued, active_version):
    analysis = queued()
    services.analysis_start(analysis_id=analysis.pk, claimant="task-1")
    result = analyse_image.apply(args=[analysis.pk], task_id="task-2")
    assert result.get() == "already finished"
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.RUNNING and analysis.claimed_by == "task-1"


def test_one_task_analyses_the_queued_images_together_in_a_batch(queued, active_version, settings):
    settings.VERITY_BATCH_SIZE = 8
    analyses = [queued(png_bytes(seed=i)) for i in range(3)]
    analyse_image.apply(args=[analyses[0].pk], task_id="batch-task")
    rows = Analysis.objects.filter(pk__in=[a.pk for a in analyses])
    assert {a.status for a in rows} == {AnalysisStatus.DONE}
    assert {a.timings_ms["batch_size"] for a in rows} == {3}
    assert {a.claimed_by for a in rows} == {"batch-task"}
    # The tasks of the other two arrive later and find nothing to do.
    assert analyse_image.apply(args=[analyses[1].pk]).get() == "already finished"
    assert AuditEvent.objects.filter(action="analysis.done").count() == 3


def test_the_batch_size_setting_bounds_a_batch(queued, active_version, settings):
    settings.VERITY_BATCH_SIZE = 2
    analyses = [queued(png_bytes(seed=i)) for i in range(3)]
    analyse_image.apply(args=[analyses[0].pk])
    statuses = sorted(Analysis.objects.filter(pk__in=[a.pk for a in analyses]).values_list("status", flat=True))
    assert statuses == [AnalysisStatus.DONE, AnalysisStatus.DONE, AnalysisStatus.QUEUED]


def test_a_bad_image_fails_alone_and_the_rest_of_its_batch_completes(queued, active_version, settings):
    analyses = [queued(png_bytes(seed=i)) for i in range(3)]
    image = CaseImage.objects.get(pk=analyses[1].image_id)
    path = settings.MEDIA_ROOT / image.file
    path.write_bytes(path.read_bytes()[:40])
    analyse_image.apply(args=[analyses[0].pk])
    rows = {a.pk: a for a in Analysis.objects.all()}
    assert rows[analyses[1].pk].status == AnalysisStatus.FAILED
    assert rows[analyses[0].pk].status == rows[analyses[2].pk].status == AnalysisStatus.DONE


def test_a_corrupt_stored_file_marks_the_analysis_failed_with_a_reason(queued, active_version, settings):
    analysis = queued()
    image = CaseImage.objects.get(pk=analysis.image_id)
    path = settings.MEDIA_ROOT / image.file
    path.write_bytes(path.read_bytes()[:60])  # the stored file got truncated on disk
    assert analyse_image.run(analysis.pk) == "failed"
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED
    assert "not a readable image" in analysis.error
    assert AuditEvent.objects.filter(action="analysis.failed").count() == 1


def test_without_an_active_model_the_analysis_fails_and_says_what_to_do(queued):
    analysis = queued()
    analyse_image.run(analysis.pk)
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED and "activate a model" in analysis.error


def test_a_new_active_model_is_used_by_the_next_task_without_restart(queued, active_version, tiny_checkpoint, tmp_path):
    import shutil

    analyse_image.run(queued().pk)
    copy = tmp_path / "second.pt"
    shutil.copy(tiny_checkpoint, copy)
    # Same weights, but a distinct registered version: the cache must follow the active row.
    second = services.model_version_register(checkpoint=copy, name="second", activate=False)
    Analysis.objects.none()
    services.model_version_activate(version=second, note="test promotion")
    nxt = queued(png_bytes(seed=9))
    analyse_image.run(nxt.pk)
    nxt.refresh_from_db()
    assert nxt.model_version == second


def test_a_rerun_uses_the_model_version_it_names_not_the_active_one(queued, active_version, tiny_checkpoint,
                                                                     tmp_path, people):
    import shutil

    first = queued()
    analyse_image.run(first.pk)
    copy = tmp_path / "older.pt"
    shutil.copy(tiny_checkpoint, copy)
    older = services.model_version_register(checkpoint=copy, name="older", activate=False)
    rerun = services.analysis_rerun(user=people["owner"], image=CaseImage.objects.get(pk=first.image_id),
                                    model_version=older)
    analyse_image.run(rerun.pk)
    rerun.refresh_from_db()
    assert rerun.status == AnalysisStatus.DONE and rerun.model_version == older
    assert Analysis.objects.get(pk=first.pk).model_version == active_version


def test_the_worker_keeps_recent_model_versions_loaded(active_version, tiny_checkpoint, tmp_path, settings):
    import shutil

    settings.VERITY_MODEL_CACHE_SIZE = 2
    copies = []
    for name in ("b", "c"):
        shutil.copy(tiny_checkpoint, tmp_path / f"{name}.pt")
        copies.append(services.model_version_register(checkpoint=tmp_path / f"{name}.pt", name=name))
    model_cache.predictor_for(active_version)
    _, first = model_cache.predictor_for(copies[0])
    assert model_cache.loaded_versions() == [active_version.pk, copies[0].pk]
    model_cache.predictor_for(copies[1])  # evicts the least recently used
    assert model_cache.loaded_versions() == [copies[0].pk, copies[1].pk]
    assert model_cache.predictor_for(copies[0])[1] is first  # still loaded, not reloaded


def test_a_batch_message_analyses_its_images_even_when_the_first_is_done(queued, active_version, settings):
    analyses = [queued(png_bytes(seed=20 + i)) for i in range(2)]
    settings.VERITY_BATCH_SIZE = 1
    analyse_image.run(analyses[0].pk)  # the first one alone, e.g. by an earlier message
    settings.VERITY_BATCH_SIZE = 2
    assert analyse_image.run(analyses[0].pk, batch_ids=[analyses[1].pk]) == "already finished"
    assert Analysis.objects.get(pk=analyses[1].pk).status == AnalysisStatus.DONE


def test_a_batch_larger_than_the_workers_sends_the_rest_on(queued, active_version, settings, monkeypatch):
    settings.VERITY_BATCH_SIZE = 2
    analyses = [queued(png_bytes(seed=30 + i)) for i in range(5)]
    resent: list[list[int]] = []
    monkeypatch.setattr("verification.queue.enqueue_analyses", lambda ids: resent.append(list(ids)) or len(ids))
    ids = [a.pk for a in analyses]
    analyse_image.run(ids[0], batch_ids=ids[1:])
    statuses = dict(Analysis.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == [AnalysisStatus.DONE] * 2 + [AnalysisStatus.QUEUED] * 3
    assert resent == [ids[2:]]


def test_recording_a_batch_costs_the_same_queries_for_2_or_6_images(queued, active_version):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from verification.services import AnalysisOutcome

    def outcome() -> AnalysisOutcome:
        return AnalysisOutcome(label="real", probability_ai=0.2, confidence=0.8, threshold=0.5,
                               crop_box={"left": 0, "top": 0, "width": 8, "height": 8}, timings_ms={},
                               heatmap_png=b"\x89PNG-h")

    counts = []
    for n, seed in ((2, 40), (6, 50)):
        ids = [queued(png_bytes(seed=seed + i)).pk for i in range(n)]
        with CaptureQueriesContext(connection) as ctx:
            services.analyses_record(model_version_id=active_version.pk, outcomes={pk: outcome() for pk in ids})
        counts.append(len(ctx))
        assert set(Analysis.objects.filter(pk__in=ids).values_list("status", flat=True)) == {AnalysisStatus.DONE}
        assert AuditEvent.objects.filter(action="analysis.done", object_id__in=[str(i) for i in ids]).count() == n
    assert counts[0] == counts[1]


def test_the_tile_batch_is_measured_by_default_and_fixed_by_the_setting(queued, active_version, settings,
                                                                      monkeypatch):
    from ml import tilebatch
    from worker import tasks

    monkeypatch.setattr(tilebatch, "_measured", {})
    chunks: list[int] = []
    real = tasks.analyse_whole

    def spy(predictor, images, **kw):  # type: ignore[no-untyped-def]
        chunks.append(kw["chunk"])
        return real(predictor, images, **kw)

    monkeypatch.setattr("worker.tasks.analyse_whole", spy)
    settings.VERITY_TILE_BATCH = 0
    first = queued(png_bytes(seed=1))
    analyse_image.run(first.pk)
    _, predictor = model_cache.active_predictor()
    measured = predictor.tile_batch(0)  # the process's measurement, made when the model loaded
    # Which candidates fit the measurement's time budget depends on the machine's load; the
    # smallest always does (tests/ml/test_tilebatch.py covers the rule itself).
    assert chunks == [measured] and min(tilebatch.CPU_CANDIDATES) in predictor.tile_batch_ms
    first.refresh_from_db()
    assert first.timings_ms["tile_batch"] == measured

    settings.VERITY_TILE_BATCH = 5
    second = queued(png_bytes(seed=2))
    analyse_image.run(second.pk)
    second.refresh_from_db()
    assert chunks[-1] == 5 and second.timings_ms["tile_batch"] == 5
