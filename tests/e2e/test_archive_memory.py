"""In the browser (issue 14): a re-shared copy of an image the team already judged says "seen
before" with the earlier verdict, and the re-share stability check runs on the worker and shows
its result on the image card. Screenshots go to test-artifacts/e2e/ (not committed)."""

from __future__ import annotations

import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.archive_images import jpeg, reshared, scene
from tests.images import heatmap_png

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_reshared_copy_is_seen_before_and_its_verdict_stability_is_shown(
        page, shot, live_server, lead, active_version, celery_worker_process, tmp_path, monkeypatch):
    from verification import services
    from verification.models import Analysis, Case, StabilityCheck

    # The archive: a case the team finalised last week (recorded through services, no worker needed).
    monkeypatch.setattr("verification.queue.enqueue_analyses", lambda ids: len(ids))
    team = lead.memberships.get().team
    earlier = services.case_submit(user=lead, team=team, title="Flooded station", files=[
        SimpleUploadedFile("station.jpg", jpeg(scene(1)), content_type="image/jpeg")])
    analysis = Analysis.objects.get(image=earlier.images[0])
    services.analysis_start(analysis_id=analysis.pk)
    services.analysis_record(analysis_id=analysis.pk, model_version_id=active_version.pk,
                             outcome=services.AnalysisOutcome(
                                 label="ai_generated", probability_ai=0.93, confidence=0.93, threshold=0.5,
                                 crop_box={"left": 0, "top": 0, "width": 64, "height": 64}, timings_ms={},
                                 heatmap_png=heatmap_png()))
    services.case_finalise(user=lead, case=earlier.case, verdict="ai_generated", comment="generator traces")
    monkeypatch.undo()  # from here on the real broker: the worker process does the work

    base = live_server.url
    copy = tmp_path / "station-from-a-forward.jpg"
    copy.write_bytes(reshared(scene(1)))
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "lena")
    page.fill("#id_password", "pw-lena-12345!")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    # Submit the re-shared copy (cropped, resized, recompressed) through the form.
    page.click("text=New case")
    page.fill("#id_title", "Station photo again")
    page.set_input_files("#id_images", [str(copy)])
    page.click("button:has-text('Submit for analysis')")
    page.wait_for_url(re.compile(r"/cases/\d+/$"))
    seen = page.locator(".seen-before")
    assert seen.count() == 1
    text = seen.inner_text()
    assert "Seen before in case" in text and "Flooded station" in text
    assert "AI-generated" in text and "by lena" in text
    shot(page, "seen-before")

    # The list filter finds it.
    page.goto(f"{base}/?seen_before=on")
    assert page.locator("table.list tbody tr").count() == 1
    assert "Station photo again" in page.locator("table.list").inner_text()

    # Ask for the stability check on the image card; the worker runs it on the inference queue.
    case = Case.objects.get(title="Station photo again")
    page.goto(f"{base}/cases/{case.pk}/")
    page.click("button:has-text('Check re-share stability')")
    page.wait_for_url(re.compile(rf"/cases/{case.pk}/"))
    assert StabilityCheck.objects.filter(image__case=case).count() == 1
    deadline = time.monotonic() + 300
    result = page.locator("[data-stability$='/8']")
    while result.count() == 0 and time.monotonic() < deadline:
        time.sleep(2)
        page.reload()
    shot(page, "stability")
    assert result.count() == 1, StabilityCheck.objects.get(image__case=case).error
    check = StabilityCheck.objects.get(image__case=case)
    shown = page.locator(f"#stability-{check.image_id}").inner_text()
    if check.n_stable == 8:
        assert "Stable under 8 of 8 re-shares" in shown
    else:
        assert f"Flips under {8 - check.n_stable} of 8 re-shares" in shown
        assert all(name in shown for name in check.flipped)
