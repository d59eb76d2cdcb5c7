"""Every page and media URL, as the owner, a teammate, an outsider and an anonymous visitor."""

import pytest
from django.urls import reverse

from verification import services
from verification.models import Analysis, AnalysisStatus
from tests.images import heatmap_png
from tests.queueing import each_analysis as _each_analysis

pytestmark = pytest.mark.django_db


@pytest.fixture
def done_case(people, upload, monkeypatch, active_version):
    monkeypatch.setattr("verification.queue.enqueue_analysis", lambda aid: None)
    monkeypatch.setattr("verification.queue.enqueue_analyses", _each_analysis)
    result = services.case_submit(user=people["owner"], team=people["team"], title="Storm", files=[upload()])
    analysis = Analysis.objects.get(image=result.images[0])
    services.analysis_start(analysis_id=analysis.pk)
    services.analysis_record(analysis_id=analysis.pk, model_version_id=active_version.pk,
                             outcome=services.AnalysisOutcome(
                                 label="ai_generated", probability_ai=0.91, confidence=0.91, threshold=0.5,
                                 crop_box={"left": 0, "top": 0, "width": 64, "height": 64},
                                 timings_ms={"inference_gradcam": 12.0},
                                 heatmap_png=heatmap_png()))
    return result.case, result.images[0], Analysis.objects.get(pk=analysis.pk)


def _urls(case, image, analysis):
    return [
        reverse("verification:case_detail", args=[case.pk]),
        reverse("verification:case_status", args=[case.pk]),
        reverse("verification:image_file", args=[image.pk]),
        reverse("verification:analysis_file", args=[analysis.pk, "overlay"]),
        reverse("verification:analysis_file", args=[analysis.pk, "heatmap"]),
    ]


@pytest.mark.parametrize("who", ["owner", "teammate"])
def test_team_members_see_the_case_and_its_media(client, people, done_case, who):
    client.force_login(people[who])
    for url in _urls(*done_case):
        assert client.get(url).status_code == 200, url


def test_an_outsider_gets_404_for_every_page_and_media_url(client, people, done_case):
    client.force_login(people["outsider"])
    for url in _urls(*done_case):
        assert client.get(url).status_code == 404, url


def test_an_anonymous_visitor_is_sent_to_log_in(client, done_case):
    for url in _urls(*done_case):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


def test_the_case_list_shows_only_the_users_teams(client, people, done_case):
    client.force_login(people["outsider"])
    assert "Storm" not in client.get(reverse("verification:case_list")).content.decode()
    client.force_login(people["teammate"])
    assert "Storm" in client.get(reverse("verification:case_list")).content.decode()


def test_the_case_page_shows_verdict_probability_heatmap_and_model(client, people, done_case):
    case, image, analysis = done_case
    client.force_login(people["owner"])
    body = client.get(reverse("verification:case_detail", args=[case.pk])).content.decode()
    assert "AI-generated" in body and "0.910" in body
    assert reverse("verification:analysis_file", args=[analysis.pk, "overlay"]) in body
    assert analysis.model_version.name in body and "Demo model" in body
    assert "analysis.done" in body  # history


def test_a_pending_case_page_says_so_and_polls(client, people, upload, monkeypatch):
    monkeypatch.setattr("verification.queue.enqueue_analysis", lambda aid: None)
    monkeypatch.setattr("verification.queue.enqueue_analyses", _each_analysis)
    result = services.case_submit(user=people["owner"], team=people["team"], title="t", files=[upload()])
    client.force_login(people["owner"])
    body = client.get(reverse("verification:case_detail", args=[result.case.pk])).content.decode()
    assert "Waiting in the queue" in body and 'data-pending="1"' in body
    status = client.get(reverse("verification:case_status", args=[result.case.pk])).json()
    assert status["pending"] == 1 and status["analyses"][0]["status"] == AnalysisStatus.QUEUED


def test_the_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200 and "Log in to Verity" in response.content.decode()


def test_logging_in_with_the_right_password_reaches_the_case_list(client, people):
    response = client.post(reverse("login"), {"username": "owner", "password": "pw-owner-123!"}, follow=True)
    assert response.status_code == 200 and "Cases" in response.content.decode()
    assert response.context["user"] == people["owner"]


def test_the_case_page_shows_timings_in_ms_and_the_batch_size_as_a_count(client, people, done_case):
    case, _, analysis = done_case
    Analysis.objects.filter(pk=analysis.pk).update(timings_ms={"inference_gradcam": 12.0, "batch_size": 3,
                                                                 "tile_batch": 8})
    client.force_login(people["owner"])
    body = client.get(reverse("verification:case_detail", args=[case.pk])).content.decode()
    assert "inference_gradcam 12 ms" in body and "analysed in a batch of 3" in body
    assert "8 tiles per forward pass" in body
    assert "batch_size" not in body and "tile_batch" not in body
