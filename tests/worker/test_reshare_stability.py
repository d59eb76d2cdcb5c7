"""The re-share stability task (issue 14): the worker re-judges an image under the eight re-shares
with the active model, records which flip, and the case page and report say so."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from ml.reshare import STABILITY_NAMES
from tests.archive_images import jpeg, scene
from verification import services
from verification.models import AuditEvent, StabilityCheck, StabilityStatus
from worker import model_cache
from worker.stability import reshare_stability


@pytest.fixture(autouse=True)
def _fresh_model_cache():  # type: ignore[no-untyped-def]
    model_cache.clear()
    yield
    model_cache.clear()


@pytest.fixture
def requested(people, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("verification.queue.enqueue_analyses", lambda ids: len(ids))
    monkeypatch.setattr("verification.queue.enqueue_stability", lambda pk: True)
    result = services.case_submit(user=people["owner"], team=people["team"], title="Harbour", files=[
        SimpleUploadedFile("harbour.jpg", jpeg(scene(7)), content_type="image/jpeg")])
    return services.stability_request(user=people["teammate"], image=result.images[0])


def test_the_task_judges_eight_reshares_and_the_case_page_shows_the_result(client, people, requested,
                                                                           active_version):
    assert reshare_stability.run(requested.pk) == "done"
    check = StabilityCheck.objects.get(pk=requested.pk)
    assert check.status == StabilityStatus.DONE and check.model_version == active_version
    assert [r["transform"] for r in check.results] == list(STABILITY_NAMES) and check.n_total == 8
    assert check.n_stable == sum(r["label"] == check.label for r in check.results)
    assert check.flipped == [r["transform"] for r in check.results if r["label"] != check.label]
    assert check.cost_ms > 0 and check.label in ("real", "ai_generated")
    assert AuditEvent.objects.filter(action="stability.done", case=check.image.case).count() == 1
    assert reshare_stability.run(requested.pk) == "not queued"  # a redelivery does nothing

    client.force_login(people["owner"])
    page = client.get(reverse("verification:case_detail", args=[check.image.case_id])).content.decode()
    expected = ("Stable under 8 of 8 re-shares" if check.n_stable == 8
                else f"Flips under {8 - check.n_stable} of 8 re-shares")
    assert expected in page and f'data-stability="{check.n_stable}/8"' in page
    report = client.get(reverse("verification:case_report", args=[check.image.case_id])).content.decode()
    assert expected in report


def test_a_missing_file_fails_the_check_with_a_reason(requested, active_version, settings):
    (settings.MEDIA_ROOT / requested.image.file).unlink()
    assert reshare_stability.run(requested.pk) == "failed"
    check = StabilityCheck.objects.get(pk=requested.pk)
    assert check.status == StabilityStatus.FAILED and "could not run" in check.error


def test_the_image_card_button_queues_a_check_and_an_outsider_gets_a_404(client, people, requested):
    image = requested.image
    StabilityCheck.objects.filter(pk=requested.pk).update(status=StabilityStatus.FAILED)
    client.force_login(people["outsider"])
    assert client.post(reverse("verification:image_stability", args=[image.pk])).status_code == 404
    assert StabilityCheck.objects.count() == 1
    client.force_login(people["owner"])
    response = client.post(reverse("verification:image_stability", args=[image.pk]))
    assert response.status_code == 302 and StabilityCheck.objects.filter(
        image=image, status=StabilityStatus.QUEUED, requested_by=people["owner"]).count() == 1
    client.post(reverse("verification:case_stability", args=[image.case_id]))  # already queued: reused
    assert StabilityCheck.objects.count() == 2
