"""Every endpoint, as the owner, a teammate, an outsider and an admin, each with an API token."""

from __future__ import annotations

import pytest

from tests.images import heatmap_png
from verification.models import AuditEvent, Case

pytestmark = pytest.mark.django_db

MEMBERS = ["owner", "teammate"]
NON_MEMBERS = ["outsider", "admin"]  # the admin is in no team: team data is 404 for them too


def _team_urls(case, image, analysis) -> list[tuple[str, str]]:
    return [
        (f"/api/v1/cases/{case.pk}/", "application/json"),
        (f"/api/v1/cases/{case.pk}/events/", "application/json"),
        (f"/api/v1/images/{image.pk}/", "application/json"),
        (f"/api/v1/images/{image.pk}/file/", "image/png"),
        (f"/api/v1/analyses/{analysis.pk}/", "application/json"),
        (f"/api/v1/analyses/{analysis.pk}/heatmap/", "image/png"),
        (f"/api/v1/analyses/{analysis.pk}/overlay/", "image/png"),
    ]


@pytest.mark.parametrize("who", MEMBERS)
def test_team_members_read_every_object_of_their_teams_case(api, done_case, who):
    client = api(who, scopes=("read",))
    for url, content_type in _team_urls(*done_case):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith(content_type), url


@pytest.mark.parametrize("who", NON_MEMBERS)
def test_people_outside_the_team_get_404_for_every_object_of_the_case(api, done_case, who):
    client = api(who)
    for url, _ in _team_urls(*done_case):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found", url


@pytest.mark.parametrize("who,count", [("owner", 1), ("teammate", 1), ("outsider", 0), ("admin", 0)])
def test_lists_hold_only_the_callers_teams_objects(api, done_case, who, count):
    client = api(who, scopes=("read",))
    for url in ("/api/v1/cases/", "/api/v1/images/", "/api/v1/analyses/"):
        body = client.get(url).json()
        assert body["count"] == count, url
        assert len(body["results"]) == count, url


def test_the_case_detail_carries_images_latest_analysis_and_result_fields(api, done_case, active_version, settings):
    settings.VERITY_UNCERTAIN_MARGIN = 0.15
    case, image, analysis = done_case
    body = api("teammate", scopes=("read",)).get(f"/api/v1/cases/{case.pk}/").json()
    assert body["status"] == "done" and body["verdict"] == "ai_generated"
    assert body["analyses"] == {"queued": 0, "running": 0, "done": 1, "failed": 0}
    assert [i["id"] for i in body["images"]] == [image.pk]
    result = body["images"][0]["latest_analysis"]
    assert result["id"] == analysis.pk and result["label"] == "ai_generated"
    assert result["probability_ai"] == pytest.approx(0.91) and result["uncertain"] is False
    assert result["uncertain_band"] == {"low": 0.35, "high": 0.65}
    assert result["model_version"] == {"id": active_version.pk, "name": active_version.name, "is_demo": True}
    assert result["timings_ms"] == {"inference_gradcam": 12.5}
    assert result["heatmap_url"].endswith(f"/api/v1/analyses/{analysis.pk}/heatmap/")


def test_a_probability_near_the_threshold_is_reported_as_uncertain(api, people, upload, active_version,
                                                                  record_done):
    from verification import services
    from verification.models import Analysis

    result = services.case_submit(user=people["owner"], team=people["team"], title="Close call", files=[upload()])
    analysis = record_done(Analysis.objects.get(image=result.images[0]), active_version, label="real", p=0.44)
    body = api("owner").get(f"/api/v1/analyses/{analysis.pk}/").json()
    assert body["uncertain"] is True and body["label"] == "real"
    assert api("owner").get("/api/v1/metrics/").json()["uncertain"] == 1


def test_downloads_return_the_stored_bytes(api, done_case, settings):
    case, image, analysis = done_case
    client = api("owner", scopes=("read",))
    assert client.get(f"/api/v1/images/{image.pk}/file/").content == (settings.MEDIA_ROOT / image.file).read_bytes()
    assert client.get(f"/api/v1/analyses/{analysis.pk}/heatmap/").content == heatmap_png()
    # The overlay is drawn on its first request (a PNG of the crop the model saw), then kept.
    overlay = client.get(f"/api/v1/analyses/{analysis.pk}/overlay/").content
    analysis.refresh_from_db()
    assert overlay[:4] == b"\x89PNG" and (settings.MEDIA_ROOT / analysis.overlay).read_bytes() == overlay
    assert client.get(f"/api/v1/analyses/{analysis.pk}/overlay/").content == overlay


def test_the_heatmap_of_an_unfinished_analysis_is_a_409_not_ready(api, people, upload):
    from verification import services
    from verification.models import Analysis

    result = services.case_submit(user=people["owner"], team=people["team"], title="t", files=[upload()])
    analysis = Analysis.objects.get(image=result.images[0])
    response = api("owner").get(f"/api/v1/analyses/{analysis.pk}/heatmap/", HTTP_ACCEPT="image/png")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == {"code": "not_ready", "message": response.json()["error"]["message"],
                                        "details": {"status": "queued"}}


@pytest.mark.parametrize("who", ["owner", "teammate", "outsider", "admin"])
def test_everyone_signed_in_sees_the_model_versions_and_the_active_one(api, active_version, who):
    client = api(who, scopes=("read",))
    listed = client.get("/api/v1/model-versions/").json()
    assert [v["id"] for v in listed["results"]] == [active_version.pk]
    active = client.get("/api/v1/model-versions/active/")
    assert active.status_code == 200 and active.json()["id"] == active_version.pk
    assert active.json()["metrics"] == active_version.metrics
    assert "checkpoint" not in active.json()  # the server's file path is not the client's business
    assert client.get(f"/api/v1/model-versions/{active_version.pk}/").json()["is_active"] is True


def test_without_an_active_model_the_active_endpoint_is_a_503_with_its_own_code(api, people):
    response = api("owner").get("/api/v1/model-versions/active/")
    assert response.status_code == 503 and response.json()["error"]["code"] == "no_active_model"


@pytest.mark.parametrize("who,cases", [("owner", 1), ("teammate", 1), ("outsider", 0), ("admin", 0)])
def test_metrics_count_only_the_callers_teams_and_show_the_active_model(api, done_case, active_version, who,
                                                                        cases):
    body = api(who, scopes=("read",)).get("/api/v1/metrics/").json()
    assert body["cases"] == cases and body["images"] == cases
    assert body["analyses"] == {"queued": 0, "running": 0, "done": cases, "failed": 0}
    assert body["verdicts"] == {"real": 0, "ai_generated": cases}
    assert body["active_model"]["id"] == active_version.pk


def test_the_audit_history_of_a_case_lists_its_events_newest_first(api, done_case):
    case = done_case[0]
    body = api("teammate").get(f"/api/v1/cases/{case.pk}/events/").json()
    assert [e["action"] for e in body["results"]] == ["analysis.done", "analysis.started", "case.submitted"]
    assert body["results"][2]["actor"] == "owner" and body["results"][1]["actor"] is None
    assert body["count"] == AuditEvent.objects.filter(case=case).count()


@pytest.mark.parametrize("who,team_names", [("owner", ["Metro desk"]), ("outsider", ["Foreign desk"]),
                                            ("admin", [])])
def test_me_names_the_user_their_teams_and_the_tokens_scopes(api, people, who, team_names):
    body = api(who, scopes=("read",)).get("/api/v1/me/").json()
    assert body["username"] == who and [t["name"] for t in body["teams"]] == team_names
    assert body["token"]["scopes"] == ["read"] and body["is_staff"] is (who == "admin")


# --- Tags and notes ------------------------------------------------------------------------------

@pytest.mark.parametrize("who", MEMBERS)
def test_team_members_add_tags_and_notes_and_the_change_is_audited(api, done_case, people, who):
    case = done_case[0]
    response = api(who).patch(f"/api/v1/cases/{case.pk}/", {"add_tags": ["Flood", "reader tip"],
                                                             "notes": "Agency confirms."}, format="json")
    assert response.status_code == 200
    assert response.json()["tags"] == ["flood", "reader tip"] and response.json()["notes"] == "Agency confirms."
    assert sorted(case.tags.values_list("name", flat=True)) == ["flood", "reader tip"]
    assert Case.objects.get(pk=case.pk).notes == "Agency confirms."
    event = AuditEvent.objects.get(action="case.updated")
    assert event.actor == people[who] and event.details["tags"] == {"before": [], "after": ["flood", "reader tip"]}


def test_tags_can_be_removed_and_replaced(api, done_case):
    case = done_case[0]
    client = api("owner")
    client.patch(f"/api/v1/cases/{case.pk}/", {"tags": ["a", "b", "c"]}, format="json")
    body = client.patch(f"/api/v1/cases/{case.pk}/", {"remove_tags": ["B"]}, format="json").json()
    assert body["tags"] == ["a", "c"]
    assert sorted(case.tags.values_list("name", flat=True)) == ["a", "c"]


def test_a_case_list_filters_by_tag(api, done_case, people, upload):
    from verification import services

    services.case_submit(user=people["owner"], team=people["team"], title="Other", files=[upload()])
    client = api("owner")
    client.patch(f"/api/v1/cases/{done_case[0].pk}/", {"tags": ["election"]}, format="json")
    assert [c["id"] for c in client.get("/api/v1/cases/?tag=Election").json()["results"]] == [done_case[0].pk]


@pytest.mark.parametrize("who", NON_MEMBERS)
def test_outsiders_cannot_tag_another_teams_case(api, done_case, who):
    response = api(who).patch(f"/api/v1/cases/{done_case[0].pk}/", {"tags": ["x"]}, format="json")
    assert response.status_code == 404
    assert not Case.tags.through.objects.exists() and not AuditEvent.objects.filter(action="case.updated").exists()


def test_an_invalid_tag_is_a_400_naming_the_field(api, done_case):
    response = api("owner").patch(f"/api/v1/cases/{done_case[0].pk}/", {"add_tags": ["<script>"]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "add_tags" in error["details"]
    assert not Case.tags.through.objects.exists()


def test_an_empty_update_is_a_400(api, done_case):
    response = api("owner").patch(f"/api/v1/cases/{done_case[0].pk}/", {}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


def test_a_patch_that_is_not_json_is_a_415(api, done_case):
    response = api("owner").patch(f"/api/v1/cases/{done_case[0].pk}/", "notes=x",
                                  content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


# --- Filters and ordering -------------------------------------------------------------------------

@pytest.fixture
def three_cases(people, upload, active_version, record_done):
    """"Harbour fire" (ai_generated), "Market" (real) and "Parade" (pending), created a day apart."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.images import png_bytes
    from verification import services
    from verification.models import Analysis

    made = {}
    for days_ago, title, label in [(3, "Harbour fire", "ai_generated"), (2, "Market", "real"), (1, "Parade", None)]:
        result = services.case_submit(user=people["owner"], team=people["team"], title=title,
                                      source_url=f"https://src.example/{title.split()[0].lower()}",
                                      files=[upload(data=png_bytes(seed=days_ago))])
        Case.objects.filter(pk=result.case.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
        if label:
            record_done(Analysis.objects.get(image=result.images[0]), active_version, label=label,
                        p=0.9 if label == "ai_generated" else 0.1)
        made[title] = result.case.pk
    return made


def _titles(client, **params):
    response = client.get("/api/v1/cases/", params)
    assert response.status_code == 200, response.json()
    return [c["title"] for c in response.json()["results"]]


def test_cases_filter_by_status(api, three_cases):
    client = api("owner")
    assert _titles(client, status="pending") == ["Parade"]
    assert _titles(client, status="done") == ["Market", "Harbour fire"]
    assert _titles(client, status="failed") == []


def test_cases_filter_by_verdict(api, three_cases):
    client = api("owner")
    assert _titles(client, verdict="ai_generated") == ["Harbour fire"]
    assert _titles(client, verdict="real") == ["Market"]
    assert _titles(client, verdict="none") == ["Parade"]


def test_cases_filter_by_creation_time_and_search_title_or_source(api, three_cases):
    from datetime import timedelta

    from django.utils import timezone

    client = api("owner")
    now = timezone.now()
    assert _titles(client, created_after=(now - timedelta(days=2, hours=1)).isoformat(),
                   created_before=(now - timedelta(hours=12)).isoformat()) == ["Parade", "Market"]
    assert _titles(client, search="harbour") == ["Harbour fire"]
    assert _titles(client, search="src.example/market") == ["Market"]


def test_cases_are_ordered_and_paginated(api, three_cases):
    client = api("owner")
    assert _titles(client, ordering="title") == ["Harbour fire", "Market", "Parade"]
    page = client.get("/api/v1/cases/", {"ordering": "created_at", "page_size": 2}).json()
    assert page["count"] == 3 and [c["title"] for c in page["results"]] == ["Harbour fire", "Market"]
    assert page["next"] and client.get(page["next"]).json()["results"][0]["title"] == "Parade"


def test_analyses_filter_by_label_and_case(api, three_cases):
    client = api("owner")
    body = client.get("/api/v1/analyses/", {"label": "real"}).json()
    assert [a["case"] for a in body["results"]] == [three_cases["Market"]]
    body = client.get("/api/v1/analyses/", {"case": three_cases["Parade"]}).json()
    assert [a["status"] for a in body["results"]] == ["queued"]


def test_images_filter_by_case(api, three_cases):
    body = api("owner").get("/api/v1/images/", {"case": three_cases["Market"]}).json()
    assert [i["case"] for i in body["results"]] == [three_cases["Market"]]
