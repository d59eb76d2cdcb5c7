"""POST /api/v1/datasets/ with an uploaded zip, and POST /api/v1/datasets/from-reviews/."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.data.sources import load_samples
from tests.dataset_scans import scanned
from tests.dataset_zips import HOSTILE, as_upload, split_layout, zip_bytes
from tests.images import png_bytes
from tests.reviewed_cases import reviewed_case
from verification.models import Dataset, Membership, Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def dataset_dir(settings, tmp_path: Path) -> Path:
    settings.VERITY_DATASET_DIR = tmp_path / "datasets"
    return settings.VERITY_DATASET_DIR


@pytest.fixture
def team_admin(people):  # type: ignore[no-untyped-def]
    """The owner, made an admin of the team: an admin of one team, not a superuser."""
    Membership.objects.filter(user=people["owner"]).update(role=Role.ADMIN)
    return people["owner"]


def test_an_admin_registers_an_uploaded_zip(api, admin_user):
    archive = as_upload(zip_bytes(split_layout()))
    response = api("admin").post("/api/v1/datasets/", {"name": "zipped", "archive": archive}, format="multipart")
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "pending" and response.json()["analysis"] == {}
    scanned(Dataset.objects.get())
    body = api("admin").get(response["Location"]).json()
    assert body["origin"] == "upload" and body["analysis"]["total"] == 5 and body["analysis"]["skipped_files"] == 1
    assert body["analysis"]["by_class"] == {"real": 2, "ai_generated": 3}
    assert Dataset.objects.get().path == body["path"]
    assert api("admin").get(f"/api/v1/datasets/{body['id']}/").json()["origin"] == "upload"


@pytest.mark.parametrize("kind", ["traversal", "not a zip", "empty", "symlink"])
def test_a_bad_zip_is_a_400_that_names_the_archive_and_leaves_nothing(api, admin_user, dataset_dir, kind):
    make, message = HOSTILE[kind]
    response = api("admin").post("/api/v1/datasets/", {"name": "bad", "archive": as_upload(make())}, format="multipart")
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error["message"] and "archive" in error["details"]
    assert not Dataset.objects.exists() and not (dataset_dir.exists() and any(dataset_dir.iterdir()))


def test_a_path_and_an_archive_together_are_refused(api, admin_user, tmp_path):
    response = api("admin").post("/api/v1/datasets/", {"name": "x", "path": str(tmp_path),
                                                       "archive": as_upload(zip_bytes(split_layout()))},
                                 format="multipart")
    assert response.status_code == 400 and "path" in response.json()["error"]["details"]
    assert not Dataset.objects.exists()


@pytest.fixture
def reviewed(people, admin_user):  # type: ignore[no-untyped-def]
    """Two real and two AI-generated reviewed images in the team; one of each in the other team."""
    verdicts = [(1, "real"), (2, "real"), (3, "ai_generated"), (4, "ai_generated")]
    reviewed_case(team=people["team"], reviewer=people["teammate"], finaliser=admin_user,
                  images=[(png_bytes((40, 32), seed=s), v) for s, v in verdicts])
    reviewed_case(team=people["other_team"], reviewer=people["outsider"], finaliser=admin_user, images=[
        (png_bytes((40, 32), seed=5), "real"), (png_bytes((40, 32), seed=6), "ai_generated")])


def test_a_team_admin_builds_a_dataset_from_the_teams_reviews_only(api, team_admin, reviewed):
    response = api("owner").post("/api/v1/datasets/from-reviews/", {"name": "reviewed"}, format="json")
    assert response.status_code == 202, response.json()
    scanned(Dataset.objects.get())
    body = api("owner").get(response["Location"]).json()
    assert body["origin"] == "reviews" and body["analysis"]["by_class"] == {"real": 2, "ai_generated": 2}
    assert sorted(s.label for s in load_samples(body["path"])) == ["ai_generated"] * 2 + ["real"] * 2
    mixed = api("owner").post("/api/v1/datasets/from-reviews/", {"name": "mixed", "mix_with": body["id"]},
                              format="json")
    assert mixed.status_code == 202
    scanned(Dataset.objects.get(name="mixed"))
    body = api("owner").get(mixed["Location"]).json()
    assert body["analysis"]["total"] == 8 and body["analysis"]["reviewed"]["mixed_with"] == "reviewed"


def test_from_reviews_refuses_too_few_images_and_an_unknown_dataset(api, team_admin):
    few = api("owner").post("/api/v1/datasets/from-reviews/", {"name": "few"}, format="json")
    assert few.status_code == 400 and "No finalised case" in few.json()["error"]["message"]
    unknown = api("owner").post("/api/v1/datasets/from-reviews/", {"name": "x", "mix_with": 999}, format="json")
    assert unknown.status_code == 400 and "mix_with" in unknown.json()["error"]["details"]
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("who", ["owner", "teammate", "outsider", None])
def test_people_who_are_not_admins_cannot_upload_or_build(api, people, reviewed, dataset_dir, who):
    client = api(who)
    upload = client.post("/api/v1/datasets/", {"name": "x", "archive": as_upload(zip_bytes(split_layout()))},
                         format="multipart")
    build = client.post("/api/v1/datasets/from-reviews/", {"name": "y"}, format="json")
    for response in (upload, build):
        assert response.status_code == (403 if who else 401), response.json()
    assert not Dataset.objects.exists() and not dataset_dir.exists()


def test_a_read_only_admin_token_cannot_build(api, admin_user, reviewed):
    response = api("admin", scopes=("read",)).post("/api/v1/datasets/from-reviews/", {"name": "y"}, format="json")
    assert response.status_code == 403 and not Dataset.objects.exists()
