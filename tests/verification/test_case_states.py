"""A case has two states with two names: ``processing_status`` (the analyses: pending, done,
failed) and ``review_state`` (the reviewers: open, finalised). The API (1.1) and the web case list
use those names; the API's old ``status`` (of the analyses) and the archive match's ``case_status``
(of the review) still answer, as deprecated aliases, until 2.0."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from verification import services
from verification.models import Analysis, AnalysisStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

LIST = "/api/v1/cases/"


@pytest.fixture
def cases(crew, make_case) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Analysed and open; analysed and finalised; still analysing (open); every analysis failed (open)."""
    judged = make_case(title="Judged", labels=("real",))
    closed = make_case(title="Closed", labels=("ai_generated",))
    services.case_finalise(user=crew["lead"], case=closed, verdict="ai_generated")
    waiting = make_case(title="Waiting", labels=(None,))
    broken = make_case(title="Broken", labels=(None,))
    Analysis.objects.filter(image__case=broken).update(status=AnalysisStatus.FAILED)
    return {"judged": judged, "closed": closed, "waiting": waiting, "broken": broken}


def _api(user: Any) -> APIClient:
    client = APIClient()
    secret = services.token_create(user=user, name="t", scopes=("read",)).secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(c["title"] for c in response.json()["results"])


def test_the_api_names_the_two_states_apart(crew, cases):
    client = _api(crew["owner"])
    rows = {c["title"]: c for c in client.get(LIST).json()["results"]}
    assert {t: (r["processing_status"], r["review_state"]) for t, r in rows.items()} == {
        "Judged": ("done", "open"), "Closed": ("done", "finalised"),
        "Waiting": ("pending", "open"), "Broken": ("failed", "open")}
    detail = client.get(f"{LIST}{cases['closed'].pk}/").json()
    assert (detail["processing_status"], detail["review_state"]) == ("done", "finalised")


def test_the_deprecated_status_is_still_the_processing_status(crew, cases):
    rows = _api(crew["owner"]).get(LIST).json()["results"]
    assert all(r["status"] == r["processing_status"] for r in rows)


def test_the_api_list_filters_on_both_names_and_the_old_one(crew, cases):
    client = _api(crew["owner"])
    assert _titles(client.get(LIST, {"processing_status": "done"})) == ["Closed", "Judged"]
    assert _titles(client.get(LIST, {"processing_status": "pending"})) == ["Waiting"]
    assert _titles(client.get(LIST, {"processing_status": "failed"})) == ["Broken"]
    assert _titles(client.get(LIST, {"review_state": "finalised"})) == ["Closed"]
    assert _titles(client.get(LIST, {"review_state": "open", "processing_status": "done"})) == ["Judged"]
    assert _titles(client.get(LIST, {"status": "pending"})) == ["Waiting"]  # deprecated alias


def test_an_unknown_state_is_a_400_that_names_the_field(crew, cases):
    response = _api(crew["owner"]).get(LIST, {"review_state": "done"})
    assert response.status_code == 400
    assert "review_state" in response.json()["error"]["details"]


def test_the_schema_is_version_1_1_and_documents_both_states(client):
    import yaml

    spec = yaml.safe_load(client.get("/api/v1/schema/").content)
    assert spec["info"]["version"].split()[0] == "1.1.0"  # "1.1.0 (v1)": the version, then the path's
    case = spec["components"]["schemas"]["Case"]["properties"]
    assert {"processing_status", "review_state", "status"} <= set(case)
    enums = spec["components"]["schemas"]
    assert enums["ProcessingStatusEnum"]["enum"] == ["pending", "done", "failed"]
    assert enums["ReviewStateEnum"]["enum"] == ["open", "finalised"]
    names = {p["name"] for p in spec["paths"]["/api/v1/cases/"]["get"]["parameters"]}
    assert {"processing_status", "review_state", "status"} <= names


def _web_titles(response: Any) -> list[str]:
    assert response.status_code == 200
    return sorted(c.title for c in response.context["page"].object_list)


def test_the_web_list_uses_the_same_words(client, crew, cases):
    client.force_login(crew["owner"])
    url = reverse("verification:case_list")
    page = client.get(url)
    assert b"Review state" in page.content and b"Processing status" in page.content
    assert _web_titles(client.get(url, {"review_state": "finalised"})) == ["Closed"]
    assert _web_titles(client.get(url, {"processing_status": "pending"})) == ["Waiting"]
    assert _web_titles(client.get(url, {"processing_status": "failed"})) == ["Broken"]
    assert _web_titles(client.get(url, {"processing_status": "done", "review_state": "open"})) == ["Judged"]
    # The list's old ``status`` parameter (its review state) still works for old links.
    assert _web_titles(client.get(url, {"status": "finalised"})) == ["Closed"]
