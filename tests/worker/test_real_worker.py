"""The real path: web upload -> queue -> a Celery worker process -> ResNet50 + Grad-CAM -> database.

Runs on whatever the suite is configured with: real PostgreSQL and Redis when DATABASE_URL and
CELERY_BROKER_URL point at them (as in CI's first pass), the embedded SQLite and filesystem
broker otherwise (CI's second pass)."""

import pytest
from django.conf import settings
from django.urls import reverse

from tests.images import jpeg_bytes, png_bytes
from tests.worker_process import celery_worker, wait_for
from verification.models import Analysis, AnalysisStatus, AuditEvent, Case

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _broker_kind() -> str:
    return settings.CELERY_BROKER_URL.split(":", 1)[0]


def test_an_uploaded_image_comes_back_with_a_verdict_and_heatmap(client, people, active_version, upload, tmp_path):
    log = tmp_path / "worker.log"
    with celery_worker(log) as proc:
        client.force_login(people["owner"])
        response = client.post(reverse("verification:case_create"), {
            "title": f"Real worker on {_broker_kind()}", "team": people["team"].pk,
            "images": [upload("one.png", png_bytes((150, 120))),
                       upload("two.jpg", jpeg_bytes((80, 200)), "image/jpeg")]})
        assert response.status_code == 302
        case = Case.objects.get()

        def all_done():
            rows = list(Analysis.objects.filter(image__case=case))
            return len(rows) == 2 and all(a.status == AnalysisStatus.DONE for a in rows) and rows

        analyses = wait_for(all_done, timeout=180, proc=proc, log_path=log)
    for analysis in analyses:
        assert analysis.model_version_id == active_version.pk
        assert analysis.label in ("real", "ai_generated") and 0 <= analysis.probability_ai <= 1
        assert (settings.MEDIA_ROOT / analysis.heatmap).read_bytes()[:4] == b"\x89PNG"
        assert analysis.attempts == 1
    assert AuditEvent.objects.filter(action="analysis.done").count() == 2
    page = client.get(reverse("verification:case_detail", args=[case.pk])).content.decode()
    assert "p(AI-generated)" in page and "overlay.png" in page
    overlay = client.get(reverse("verification:analysis_file", args=[analyses[0].pk, "overlay"]))
    assert overlay.status_code == 200 and overlay.content[:4] == b"\x89PNG" and len(overlay.content) > 100


def test_the_worker_marks_a_corrupt_file_failed_and_keeps_going(client, people, active_version, upload, tmp_path):
    client.force_login(people["owner"])
    client.post(reverse("verification:case_create"), {
        "title": "mixed", "team": people["team"].pk,
        "images": [upload("bad.png", png_bytes(seed=3)), upload("good.png", png_bytes(seed=4))]})
    bad = Analysis.objects.get(image__original_name="bad.png")
    path = settings.MEDIA_ROOT / bad.image.file
    path.write_bytes(path.read_bytes()[:50])  # damaged in storage after it was accepted
    log = tmp_path / "worker.log"
    with celery_worker(log) as proc:
        wait_for(lambda: not Analysis.objects.filter(status__in=["queued", "running"]).exists(),
                 timeout=180, proc=proc, log_path=log)
    bad.refresh_from_db()
    good = Analysis.objects.get(image__original_name="good.png")
    assert bad.status == AnalysisStatus.FAILED and "not a readable image" in bad.error
    assert good.status == AnalysisStatus.DONE
