"""Datasets from an uploaded zip and from reviewed cases: the services and the Datasets page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from ml.data.sources import fingerprint, load_samples
from tests.dataset_scans import scanned
from tests.dataset_zips import HOSTILE, as_upload, split_layout, zip_bytes
from tests.images import png_bytes
from tests.reviewed_cases import reviewed_case
from verification import services
from verification.errors import VerityError
from verification.models import AuditEvent, CaseImage, Dataset

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dataset_dir", "fast_passwords")]


def leftovers(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.exists() else []


# --- Upload a zip ---------------------------------------------------------------------------------


def test_a_zipped_dataset_is_unpacked_into_a_verity_folder_and_registered_like_a_path(crew, dataset_dir):
    dataset = scanned(services.dataset_register_archive(actor=crew["admin"], name="zipped",
                                                        archive=as_upload(zip_bytes(split_layout()))))
    a = dataset.analysis
    assert dataset.origin == "upload" and Path(dataset.path).parent == dataset_dir
    assert a["total"] == 5 and a["by_class"] == {"real": 2, "ai_generated": 3}
    assert a["by_split"] == {"train": 3, "val": 0, "test": 2}
    assert a["undecodable"] == 1 and a["skipped_files"] == 1  # broken.png is read and fails; notes.txt is skipped
    event = AuditEvent.objects.get(action="dataset.registered", object_id=str(dataset.pk))
    assert event.details["origin"] == "upload" and event.details["files"] == 6  # 5 images and notes.txt
    assert AuditEvent.objects.get(action="dataset.scan_ready", object_id=str(dataset.pk)).details["total"] == 5
    # The same path registration reads the unpacked folder to the same fingerprint.
    again = scanned(services.dataset_register(actor=crew["admin"], name="by-path", path=dataset.path))
    assert again.fingerprint == dataset.fingerprint and again.origin == "path"


@pytest.mark.parametrize("members", [
    {"my-data/REAL/a.png": png_bytes((40, 32), seed=11), "my-data/FAKE/b.png": png_bytes((40, 32), seed=12)},
    {"labels.csv": b"path,label\nimgs/a.png,real\nimgs/b.png,fake\n", "imgs/a.png": png_bytes((40, 32), seed=11),
     "imgs/b.png": png_bytes((40, 32), seed=12)},
], ids=["zipped folder", "csv manifest"])
def test_a_zip_of_a_dataset_folder_or_of_a_manifest_is_read(crew, members):
    dataset = scanned(services.dataset_register_archive(actor=crew["admin"], name="d",
                                                        archive=as_upload(zip_bytes(members))))
    assert dataset.analysis["by_class"] == {"real": 1, "ai_generated": 1}
    assert {s.label for s in load_samples(dataset.path)} == {"real", "ai_generated"}


# Found only while unpacking or reading the images: the scan (a task) fails with the reason.
FOUND_BY_THE_SCAN = {"lying sizes", "no images"}


@pytest.mark.parametrize("kind", sorted(set(HOSTILE) - FOUND_BY_THE_SCAN))
def test_a_hostile_broken_or_empty_zip_is_refused_and_leaves_nothing(crew, settings, dataset_dir, tmp_path, kind):
    settings.VERITY_MAX_DATASET_UNZIPPED_BYTES = 50_000
    make, message = HOSTILE[kind]
    with pytest.raises(VerityError, match=message) as refused:
        services.dataset_register_archive(actor=crew["admin"], name="bad", archive=as_upload(make()))
    assert "archive" in refused.value.details
    assert not Dataset.objects.exists() and leftovers(dataset_dir) == []
    assert not (tmp_path / "escaped").exists() and not (dataset_dir.parent / "escaped").exists()


@pytest.mark.parametrize("kind", sorted(FOUND_BY_THE_SCAN))
def test_a_zip_that_lies_about_its_sizes_or_holds_no_images_fails_its_scan(crew, settings, tmp_path, kind):
    settings.VERITY_MAX_DATASET_UNZIPPED_BYTES = 50_000
    make, message = HOSTILE[kind]
    dataset = scanned(services.dataset_register_archive(actor=crew["admin"], name="bad", archive=as_upload(make())))
    assert dataset.status == "failed" and message in dataset.scan_error
    assert dataset.analysis == {} and dataset.fingerprint == ""
    assert not (tmp_path / "escaped").exists()


def test_a_zip_with_too_many_files_or_over_the_size_limit_is_refused(crew, settings, dataset_dir):
    settings.VERITY_MAX_DATASET_ZIP_MEMBERS = 3
    with pytest.raises(VerityError, match="at most 3"):
        services.dataset_register_archive(actor=crew["admin"], name="many", archive=as_upload(zip_bytes(split_layout())))
    settings.VERITY_MAX_DATASET_ZIP_BYTES = 100
    with pytest.raises(VerityError, match="at most 0 MB") as too_large:
        services.dataset_register_archive(actor=crew["admin"], name="big", archive=as_upload(zip_bytes(split_layout())))
    assert too_large.value.status == 413
    assert not Dataset.objects.exists() and leftovers(dataset_dir) == []


def test_a_manifest_in_a_zip_may_not_point_outside_it(crew, dataset_dir, tmp_path):
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(png_bytes((40, 32), seed=5))
    members = {"MANIFEST.csv": f"path,label\n{outside},real\nin.png,fake\n".encode(),
               "in.png": png_bytes((40, 32), seed=6)}
    dataset = scanned(services.dataset_register_archive(actor=crew["admin"], name="sneaky",
                                                        archive=as_upload(zip_bytes(members))))
    assert dataset.status == "failed" and "outside the archive" in dataset.scan_error and dataset.analysis == {}


# --- Build from reviewed cases --------------------------------------------------------------------


@pytest.fixture
def root(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_superuser("root", password="pw-root-123!")


@pytest.fixture
def reviewed(crew, root) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """Reviewed images of the admin's team and of another team, named by what should happen to them."""
    img = {name: png_bytes((40, 32), seed=200 + i) for i, name in enumerate(
        ["real1", "real2", "ai1", "ai2", "conflict", "inconclusive", "open", "outsider_real", "outsider_ai"])}
    team, other = crew["team"], crew["other_team"]
    reviewed_case(team=team, reviewer=crew["owner"], finaliser=crew["lead"], images=[
        (img["real1"], "real"), (img["real2"], "real"), (img["ai1"], "ai_generated"), (img["conflict"], "real"),
        (img["inconclusive"], "inconclusive")])
    # A copy of ai1 with the same verdict (merged) and a copy of "conflict" with the other verdict (dropped).
    reviewed_case(team=team, reviewer=crew["teammate"], finaliser=crew["lead"], images=[
        (img["ai1"], "ai_generated"), (img["ai2"], "ai_generated"), (img["conflict"], "ai_generated")])
    reviewed_case(team=team, reviewer=crew["owner"], finaliser=crew["lead"], images=[(img["open"], "real")],
                  finalise=False)
    reviewed_case(team=other, reviewer=crew["outsider"], finaliser=root, images=[
        (img["outsider_real"], "real"), (img["outsider_ai"], "ai_generated")])
    return img


def labels_by_sha256(dataset: Dataset) -> dict[str, str]:
    from verification.storage import sha256_hex

    return {sha256_hex(s.read_bytes()): s.label for s in load_samples(dataset.path)}


def test_a_dataset_from_reviews_holds_the_finalised_real_and_ai_images_of_the_admins_teams(crew, reviewed,
                                                                                           dataset_dir):
    from verification.storage import sha256_hex

    dataset = scanned(services.dataset_build_from_reviews(actor=crew["admin"], name="reviewed"))
    expected = {"real1": "real", "real2": "real", "ai1": "ai_generated", "ai2": "ai_generated"}
    assert labels_by_sha256(dataset) == {sha256_hex(reviewed[k]): v for k, v in expected.items()}
    assert dataset.origin == "reviews" and Path(dataset.path).parent == dataset_dir
    assert dataset.analysis["total"] == 4 and dataset.analysis["by_class"] == {"real": 2, "ai_generated": 2}
    counts = dataset.analysis["reviewed"]
    assert counts["images"] == 4 and counts["duplicates_merged"] == 2 and counts["conflicting_images_dropped"] == 1
    event = AuditEvent.objects.get(action="dataset.registered", object_id=str(dataset.pk))
    assert event.actor == crew["admin"] and event.details["conflicting_images_dropped"] == 1
    assert all(s.split == "" and s.source == "verity-reviews" for s in load_samples(dataset.path))


def test_a_superuser_builds_from_the_reviews_of_the_team_they_pick_and_must_pick_one(crew, root, reviewed):
    from verification.storage import sha256_hex

    # A dataset without a team is seen by every admin: it may not hold any team's reviewed images.
    with pytest.raises(VerityError, match="Choose the team") as refused:
        services.dataset_build_from_reviews(actor=root, name="everyone")
    assert refused.value.details == {"team": ["Choose a team."]} and not Dataset.objects.exists()
    dataset = scanned(services.dataset_build_from_reviews(actor=root, name="team", team=crew["team"]))
    assert dataset.team == crew["team"] and dataset.analysis["by_class"] == {"real": 2, "ai_generated": 2}
    assert not {sha256_hex(reviewed[k]) for k in ("outsider_real", "outsider_ai")} & labels_by_sha256(dataset).keys()


@pytest.fixture
def double(crew, django_user_model):  # type: ignore[no-untyped-def]
    """An admin of both the crew's team and the other team."""
    from verification.models import Membership, Role

    user = django_user_model.objects.create_user("double", password="pw-double-123!")
    for team in (crew["team"], crew["other_team"]):
        Membership.objects.create(user=user, team=team, role=Role.ADMIN)
    return user


def test_an_admin_of_two_teams_builds_from_the_picked_teams_reviews_only_through_every_door(
        client, crew, double, reviewed):
    """Issue 16: the dataset belongs to the picked team, whose other admins see it; the reviewed
    images of the admin's other team must not be copied into it (service, page and API alike)."""
    from rest_framework.test import APIClient

    from verification.storage import sha256_hex

    mine = {sha256_hex(reviewed[k]): v for k, v in
            {"real1": "real", "real2": "real", "ai1": "ai_generated", "ai2": "ai_generated"}.items()}
    theirs = {sha256_hex(reviewed[k]) for k in ("outsider_real", "outsider_ai")}

    by_service = scanned(services.dataset_build_from_reviews(actor=double, name="service", team=crew["team"]))
    assert labels_by_sha256(by_service) == mine and by_service.analysis["reviewed"]["images"] == 4

    client.force_login(double)
    page = client.post(reverse("verification:datasets"), {"intake": "reviews", "name": "page",
                                                          "team": crew["team"].pk})
    assert page.status_code == 302
    by_page = scanned(Dataset.objects.get(name="page"))
    assert by_page.team == crew["team"] and labels_by_sha256(by_page) == mine

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer " + services.token_create(
        user=double, name="datasets", scopes=("read", "submit")).secret)
    answer = api.post("/api/v1/datasets/from-reviews/", {"name": "api", "team": crew["team"].pk}, format="json")
    assert answer.status_code == 202
    by_api = scanned(Dataset.objects.get(name="api"))
    assert by_api.team == crew["team"] and labels_by_sha256(by_api) == mine
    # Team A's other admin sees these datasets; none holds team B's images.
    assert all(not theirs & labels_by_sha256(d).keys() for d in (by_service, by_page, by_api))
    # Picking team B gives B's two images only (too few of each class: refused, nothing written).
    with pytest.raises(VerityError, match="at least 2 images of each class.*1 real and 1 AI-generated"):
        services.dataset_build_from_reviews(actor=double, name="b", team=crew["other_team"])


def test_the_dataset_keeps_its_images_when_the_stored_files_are_deleted(crew, reviewed):
    dataset = scanned(services.dataset_build_from_reviews(actor=crew["admin"], name="reviewed"))
    for name in CaseImage.objects.values_list("file", flat=True).distinct():
        default_storage.delete(name)
    assert fingerprint(load_samples(dataset.path)) == dataset.fingerprint


def test_mixing_adds_a_registered_datasets_samples_with_their_own_split(crew, reviewed, tmp_path):
    extra = tmp_path / "extra"
    for i, cls in enumerate(["REAL", "FAKE", "FAKE"]):
        (extra / "test" / cls).mkdir(parents=True, exist_ok=True)
        (extra / "test" / cls / f"{i}.png").write_bytes(png_bytes((40, 32), seed=300 + i))
    other = scanned(services.dataset_register(actor=crew["admin"], name="extra", path=str(extra)))
    dataset = scanned(services.dataset_build_from_reviews(actor=crew["admin"], name="mixed", mix_with=other))
    assert dataset.analysis["by_class"] == {"real": 3, "ai_generated": 4}
    assert dataset.analysis["by_split"]["test"] == 3 and dataset.analysis["reviewed"]["mixed_samples"] == 3
    assert sorted(s.source for s in load_samples(dataset.path)) == [""] * 3 + ["verity-reviews"] * 4


def test_too_few_reviewed_images_are_refused_and_leave_nothing(crew, dataset_dir):
    with pytest.raises(VerityError, match="No finalised case"):
        services.dataset_build_from_reviews(actor=crew["admin"], name="nothing")
    reviewed_case(team=crew["team"], reviewer=crew["owner"], finaliser=crew["lead"], images=[
        (png_bytes((40, 32), seed=1), "real"), (png_bytes((40, 32), seed=2), "real"),
        (png_bytes((40, 32), seed=3), "ai_generated")])
    with pytest.raises(VerityError, match="at least 2 images of each class.*2 real and 1 AI-generated"):
        services.dataset_build_from_reviews(actor=crew["admin"], name="few")
    assert not Dataset.objects.exists() and leftovers(dataset_dir) == []


@pytest.mark.parametrize("who", ["owner", "lead", "outsider"])
def test_only_admins_build_or_upload_datasets(crew, reviewed, dataset_dir, who):
    with pytest.raises(services.NotAllowed):
        services.dataset_build_from_reviews(actor=crew[who], name="x")
    with pytest.raises(services.NotAllowed):
        services.dataset_register_archive(actor=crew[who], name="y", archive=as_upload(zip_bytes(split_layout())))
    assert not Dataset.objects.exists() and leftovers(dataset_dir) == []


# --- The Datasets page ----------------------------------------------------------------------------


def test_an_admin_uploads_a_zip_and_builds_from_reviews_on_the_page(client, crew, reviewed):
    client.force_login(crew["admin"])
    url = reverse("verification:datasets")
    response = client.post(url, {"intake": "archive", "name": "zipped", "archive": as_upload(zip_bytes(split_layout()))})
    assert response.status_code == 302
    scanned(Dataset.objects.get())  # mixing in needs a ready dataset
    response = client.post(url, {"intake": "reviews", "name": "reviewed", "mix_with": Dataset.objects.get().pk})
    assert response.status_code == 302
    scanned(Dataset.objects.get(name="reviewed"))
    page = client.get(url).content.decode()
    assert 'data-dataset="zipped" data-origin="upload"' in page and "Uploaded zip" in page
    assert 'data-dataset="reviewed" data-origin="reviews"' in page and "Reviewed cases" in page
    assert Dataset.objects.get(name="reviewed").analysis["total"] == 9  # 4 reviewed + 5 from the zip


def test_a_bad_zip_on_the_page_is_a_400_with_the_reason_and_nothing_left(client, crew, dataset_dir):
    client.force_login(crew["admin"])
    response = client.post(reverse("verification:datasets"), {
        "intake": "archive", "name": "bad", "archive": as_upload(HOSTILE["traversal"][0]())})
    assert response.status_code == 400 and "outside its own folder" in response.content.decode()
    assert not Dataset.objects.exists() and leftovers(dataset_dir) == []
    too_few = client.post(reverse("verification:datasets"), {"intake": "reviews", "name": "few"})
    assert too_few.status_code == 400 and "No finalised case" in too_few.content.decode()


@pytest.mark.parametrize("who", ["owner", "lead", "outsider", None])
def test_people_who_are_not_admins_cannot_upload_or_build_on_the_page(client, crew, reviewed, dataset_dir, who):
    if who:
        client.force_login(crew[who])
    url = reverse("verification:datasets")
    upload = client.post(url, {"intake": "archive", "name": "x", "archive": as_upload(zip_bytes(split_layout()))})
    build = client.post(url, {"intake": "reviews", "name": "y"})
    for response in (upload, build):
        assert response.status_code == 403 if who else (response.status_code == 302 and "login" in response.url)
    assert not Dataset.objects.exists() and leftovers(dataset_dir) == []


def test_an_admins_dataset_zip_may_exceed_the_request_limit_but_nothing_else(client, crew, settings):
    data = zip_bytes(split_layout())
    settings.VERITY_MAX_REQUEST_BYTES = 1000
    settings.VERITY_MAX_DATASET_ZIP_BYTES = 10 * len(data)
    client.force_login(crew["owner"])
    refused = client.post(reverse("verification:datasets"), {"intake": "archive", "name": "x", "archive": as_upload(data)})
    assert refused.status_code == 413
    client.force_login(crew["admin"])
    case = client.post(reverse("verification:case_create"), {"title": "x", "team": crew["team"].pk,
                                                             "images": [as_upload(data, "a.zip")]})
    assert case.status_code == 413
    response = client.post(reverse("verification:datasets"), {"intake": "archive", "name": "x", "archive": as_upload(data)})
    assert response.status_code == 302 and Dataset.objects.get().origin == "upload"


def test_the_upload_form_shows_the_folder_layout_literally(client, crew):
    client.force_login(crew["admin"])
    body = client.get(reverse("verification:datasets")).content.decode()
    # Help texts are HTML: written raw, "<split>" would vanish as an unknown tag.
    assert "A zip of &lt;split&gt;/&lt;REAL|FAKE&gt;/ or &lt;REAL|FAKE&gt;/ folders" in body
