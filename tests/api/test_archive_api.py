"""The archive memory and re-share stability through the API (issue 14): matches on images, the
``seen_before`` case filter, stability checks, and the webhook sent when a linked verdict changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.archive_images import jpeg, reshared, scene
from tests.images import heatmap_png
from verification import services
from verification.models import Analysis, Membership, Role, StabilityCheck, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(people, django_user_model) -> Any:  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_user("lead", password="pw-lead-123!")
    Membership.objects.create(user=user, team=people["team"], role=Role.LEAD)
    return user


@pytest.fixture
def sent_checks(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    sent: list[int] = []
    monkeypatch.setattr("verification.queue.enqueue_stability", sent.append)
    return sent


def _file(data: bytes, name: str = "photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


def _finalised_original(people: Any, lead: Any, active_version: Any, verdict: str = "ai_generated") -> Any:
    result = services.case_submit(user=people["owner"], team=people["team"], title="Flooded station",
                                  files=[_file(jpeg(scene(1)))])  # type: ignore[list-item]  # the stub types SimpleUploadedFile's name and size as optional
    analysis = Analysis.objects.get(image=result.images[0])
    services.analysis_start(analysis_id=analysis.pk)
    services.analysis_record(analysis_id=analysis.pk, model_version_id=active_version.pk,
                             outcome=services.AnalysisOutcome(
        label="ai_generated", probability_ai=0.9, confidence=0.9, threshold=0.5,
        crop_box={"left": 0, "top": 0, "width": 64, "height": 64}, timings_ms={}, heatmap_png=heatmap_png()))
    return services.case_finalise(user=lead, case=result.case, verdict=verdict)


def test_an_image_lists_its_near_duplicates_with_the_earlier_verdict(api, people, lead, active_version):
    original = _finalised_original(people, lead, active_version)
    created = api("teammate").post("/api/v1/cases/", {"images": [_file(reshared(scene(1)), "copy.jpg")]},
                                   format="multipart")
    assert created.status_code == 201
    image = created.json()["images"][0]
    assert [(m["case"], m["final_verdict"], m["finalised_by"], m["case_status"]) for m in image["seen_before"]] == [
        (original.pk, "ai_generated", "lead", "finalised")]
    assert image["seen_before"][0]["distance"] <= 31
    listed = api("teammate").get("/api/v1/images/", {"case": created.json()["id"]}).json()["results"][0]
    assert listed["seen_before"][0]["image"] == original.images.get().pk
    # The outsider sees neither the image nor, through it, our case.
    assert api("outsider").get(f"/api/v1/images/{image['id']}/").status_code == 404


def test_the_case_list_filters_cases_seen_before(api, people, lead, active_version):
    _finalised_original(people, lead, active_version)
    copy = api("owner").post("/api/v1/cases/", {"images": [_file(reshared(scene(1)))]}, format="multipart").json()
    api("owner").post("/api/v1/cases/", {"images": [_file(jpeg(scene(2)))]}, format="multipart")
    ids = [c["id"] for c in api("owner").get("/api/v1/cases/", {"seen_before": "true"}).json()["results"]]
    assert ids == [copy["id"]]
    assert api("outsider").get("/api/v1/cases/", {"seen_before": "true"}).json()["results"] == []


def test_another_teams_copy_is_not_matched_through_the_api(api, people, lead, active_version):
    _finalised_original(people, lead, active_version)
    theirs = api("outsider").post("/api/v1/cases/", {"images": [_file(reshared(scene(1)))]}, format="multipart")
    assert theirs.json()["images"][0]["seen_before"] == []


def test_a_stability_check_is_queued_for_an_image_or_a_whole_case(api, people, sent_checks,
                                                                 django_capture_on_commit_callbacks):
    result = services.case_submit(user=people["owner"], team=people["team"], title="Two",
                                  files=[_file(jpeg(scene(1)), "a.jpg"), _file(jpeg(scene(2)), "b.jpg")])
    first = result.images[0]
    with django_capture_on_commit_callbacks(execute=True):
        response = api("teammate").post("/api/v1/stability-checks/", {"image": first.pk}, format="json")
    assert response.status_code == 202 and response.json()[0]["status"] == "queued"
    check = StabilityCheck.objects.get(image=first)
    # Asking again while it is queued returns the same check; a whole case adds one for the other image.
    with django_capture_on_commit_callbacks(execute=True):
        both = api("teammate").post("/api/v1/stability-checks/", {"case": result.case.pk}, format="json").json()
    assert [c["id"] for c in both][0] == check.pk and StabilityCheck.objects.count() == 2
    assert sorted(sent_checks) == sorted(StabilityCheck.objects.values_list("pk", flat=True))
    assert api("owner").get(f"/api/v1/images/{first.pk}/").json()["reshare_stability"]["id"] == check.pk


def test_stability_checks_keep_to_the_team_and_need_the_submit_scope(api, people, sent_checks):
    result = services.case_submit(user=people["owner"], team=people["team"], title="One", files=[_file(jpeg(scene(1)))])
    image = result.images[0]
    assert api("outsider").post("/api/v1/stability-checks/", {"image": image.pk}, format="json").status_code == 404
    assert api("outsider").post("/api/v1/stability-checks/", {"case": result.case.pk}, format="json").status_code == 404
    assert api("owner", scopes=("read",)).post("/api/v1/stability-checks/", {"image": image.pk},
                                               format="json").status_code == 403
    assert api("owner").post("/api/v1/stability-checks/", {}, format="json").status_code == 400
    assert not StabilityCheck.objects.exists() and not sent_checks
    services.stability_request(user=people["owner"], image=image)
    assert api("outsider").get("/api/v1/stability-checks/").json()["results"] == []


def test_a_changed_verdict_sends_a_webhook_for_a_linked_case_submitted_through_the_api(
        people, lead, active_version, _no_broker, django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    original = _finalised_original(people, lead, active_version)
    issued = services.token_create(user=people["teammate"], name="cms", scopes=["read", "submit"],
                                 webhook_url="https://hooks.example.com/verity")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    linked = client.post("/api/v1/cases/", {"images": [_file(reshared(scene(1)))]}, format="multipart").json()
    services.case_reopen(user=lead, case=original, reason="photographer found")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_finalise(user=lead, case=original, verdict="real")
    delivery = WebhookDelivery.objects.get(event="case.archive_flagged")
    assert delivery.token == issued.token and delivery.analysis is None
    assert delivery.payload["data"]["case"]["id"] == linked["id"]
    assert delivery.payload["data"]["source_case"]["id"] == original.pk
    assert ((delivery.payload["data"]["previous_verdict"], delivery.payload["data"]["verdict"])
            == ("ai_generated", "real"))
    assert ("webhook", delivery.pk) in _no_broker
