"""Every GET route answers with its ``.json`` format suffix too (the router makes those routes; an action
that did not take the suffix answered 500) — issue 16, hole 3."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_active_model_answers_with_a_json_suffix(api, active_version):
    response = api("owner", scopes=("read",)).get("/api/v1/model-versions/active.json")
    assert response.status_code == 200 and response.json()["id"] == active_version.pk


def test_without_an_active_model_both_spellings_answer_the_one_no_active_model_error(api, people):
    client = api("owner", scopes=("read",))
    for url in ("/api/v1/model-versions/active/", "/api/v1/model-versions/active.json"):
        response = client.get(url)
        assert response.status_code == 503, url
        error = response.json()["error"]
        assert error["code"] == "no_active_model" and "activate" in error["message"]


def test_every_action_of_a_case_answers_with_a_json_suffix(api, done_case):
    case, image, analysis = done_case
    client = api("owner", scopes=("read",))
    for url in (f"/api/v1/cases/{case.pk}.json", f"/api/v1/cases/{case.pk}/events.json",
                f"/api/v1/images/{image.pk}.json", f"/api/v1/images/{image.pk}/file.json",
                f"/api/v1/analyses/{analysis.pk}/heatmap.json", f"/api/v1/analyses/{analysis.pk}/overlay.json",
                "/api/v1/cases.json", "/api/v1/datasets.json", "/api/v1/training-runs.json"):
        response = client.get(url)
        assert response.status_code in (200, 403), (url, response.status_code)
