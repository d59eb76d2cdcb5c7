"""Reviews through the API: owner, teammate, outsider and admin; scopes; the override rule."""

import pytest

from verification.models import AuditEvent, Review

pytestmark = pytest.mark.django_db


def _image(done_case):
    return done_case[1] if isinstance(done_case, tuple) else done_case.images.first()


@pytest.mark.parametrize("who", ["owner", "teammate"])
def test_team_members_confirm_the_model_without_a_comment(api, done_case, who, people):
    image = _image(done_case)
    response = api(who).post("/api/v1/reviews/", {"image": image.pk, "verdict": "ai_generated"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["is_override"] is False and body["reviewer"] == who and body["case"] == image.case_id
    review = Review.objects.get(pk=body["id"])
    assert review.reviewer == people[who] and review.verdict == "ai_generated"
    assert AuditEvent.objects.filter(action="review.confirmed", object_id=str(review.pk)).exists()


def test_an_override_without_a_comment_is_refused_and_records_nothing(api, done_case):
    response = api("owner").post("/api/v1/reviews/", {"image": _image(done_case).pk, "verdict": "real"},
                                 format="json")
    assert response.status_code == 400 and "comment" in response.json()["error"]["message"]
    assert not Review.objects.exists()


def test_an_override_with_a_comment_is_recorded_as_an_override(api, done_case):
    response = api("owner").post("/api/v1/reviews/", {"image": _image(done_case).pk, "verdict": "real",
                                                       "comment": "Photographer's original found."}, format="json")
    assert response.status_code == 201 and response.json()["is_override"] is True


@pytest.mark.parametrize("who", ["outsider", "admin"])
def test_people_outside_the_team_get_404_and_see_no_reviews(api, done_case, who):
    image = _image(done_case)
    api("owner").post("/api/v1/reviews/", {"image": image.pk, "verdict": "ai_generated"}, format="json")
    response = api(who).post("/api/v1/reviews/", {"image": image.pk, "verdict": "ai_generated"}, format="json")
    assert response.status_code == 404
    assert api(who).get("/api/v1/reviews/").json()["count"] == 0
    assert Review.objects.count() == 1


def test_a_read_only_token_cannot_review_but_can_list(api, done_case):
    image = _image(done_case)
    assert api("owner", scopes=("read",)).post(
        "/api/v1/reviews/", {"image": image.pk, "verdict": "ai_generated"}, format="json").status_code == 403
    api("owner").post("/api/v1/reviews/", {"image": image.pk, "verdict": "ai_generated"}, format="json")
    listed = api("teammate", scopes=("read",)).get(f"/api/v1/reviews/?case={image.case_id}").json()
    assert listed["count"] == 1 and listed["results"][0]["image"] == image.pk


@pytest.mark.parametrize("bad", [{"case": "abc"}, {"image": "0"}])
def test_a_bad_filter_is_a_400_naming_the_field_in_the_shape_of_the_other_lists(api, done_case, bad):
    client = api("owner")
    reviews, analyses = client.get("/api/v1/reviews/", bad), client.get("/api/v1/analyses/", bad)
    assert reviews.status_code == analyses.status_code == 400
    error = reviews.json()["error"]
    assert error["code"] == "invalid" and list(error["details"]) == list(bad)
    assert error["message"].startswith(f"{next(iter(bad))}: ")
    assert reviews.json() == analyses.json()
