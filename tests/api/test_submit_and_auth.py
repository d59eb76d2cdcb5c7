"""Submitting cases through the API, authentication, scopes, idempotency and error statuses."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tests.dataset_zips import zip_bytes
from tests.images import jpeg_bytes, png_bytes
from verification import services
from verification.models import ApiSubmission, ApiToken, IdempotencyKey
from verification.models import Analysis, AuditEvent, Case, CaseImage

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


# --- Submission ------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["owner", "teammate"])
def test_a_member_submits_several_images_and_gets_201_with_the_case(api, people, upload, who, _no_broker,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(who).post(CASES, {"title": "Protest photos", "source_url": "https://news.example/a",
                                         "images": [upload("a.png"), upload("b.jpg", jpeg_bytes(), "image/jpeg")]},
                                 format="multipart")
    assert response.status_code == 201
    body = response.json()
    case = Case.objects.get()
    assert body["id"] == case.pk and body["status"] == "pending" and body["rejected"] == []
    assert response["Location"].endswith(f"/api/v1/cases/{case.pk}/")
    assert case.created_by == people[who] and case.team == people["team"]
    assert case.source_url == "https://news.example/a"
    assert sorted(i["original_name"] for i in body["images"]) == ["a.png", "b.jpg"]
    assert [kind for kind, _ in _no_broker] == ["analyse", "analyse"]
    assert ApiSubmission.objects.get(case=case).token.user == people[who]


def test_a_zip_counts_as_the_images_in_it(api, upload):
    archive = zip_bytes({"one.png": png_bytes(seed=1), "pics/two.jpg": jpeg_bytes(seed=2),
                    "__MACOSX/._one.png": b"junk", ".DS_Store": b"junk", "readme.txt": b"not an image"})
    response = api("owner").post(CASES, {"images": [upload("batch.zip", archive, "application/zip")]},
                                 format="multipart")
    assert response.status_code == 201
    # One naming rule for both doors: "archive.zip/member" (tests/verification/test_one_intake.py).
    assert sorted(CaseImage.objects.values_list("original_name", flat=True)) == ["batch.zip/one.png",
                                                                               "batch.zip/two.jpg"]
    assert [r["file"] for r in response.json()["rejected"]] == ["batch.zip/readme.txt"]
    assert Analysis.objects.count() == 2


def test_a_zip_that_unpacks_past_the_limit_is_a_413_and_creates_nothing(api, upload, settings):
    settings.VERITY_MAX_ARCHIVE_BYTES = 10_000
    archive = zip_bytes({"big.bin": b"\0" * 50_000})  # a few hundred bytes compressed
    response = api("owner").post(CASES, {"images": [upload("bomb.zip", archive, "application/zip")]},
                                 format="multipart")
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert not Case.objects.exists()


def test_a_good_and_a_bad_file_create_the_case_and_report_the_bad_one(api, upload):
    response = api("owner").post(CASES, {"images": [upload("good.png"), upload("bad.png", b"\x89PNG\r\n\x1a\n junk")]},
                                 format="multipart")
    assert response.status_code == 201
    assert response.json()["rejected"][0]["file"] == "bad.png"
    assert list(CaseImage.objects.values_list("original_name", flat=True)) == ["good.png"]


def test_only_unreadable_images_is_a_400_listing_each_file_and_creates_nothing(api, upload):
    response = api("owner").post(CASES, {"images": [upload("cut.png", png_bytes()[:60])]}, format="multipart")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "submission_rejected" and error["details"][0]["file"] == "cut.png"
    assert not Case.objects.exists() and not AuditEvent.objects.filter(action="case.submitted").exists()


def test_files_that_are_not_images_at_all_are_a_415(api, upload):
    response = api("owner").post(CASES, {"images": [upload("doc.pdf", b"%PDF-1.7 ...", "application/pdf")]},
                                 format="multipart")
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
    assert not Case.objects.exists()


def test_a_json_body_is_a_415_because_images_need_multipart(api):
    response = api("owner").post(CASES, {"title": "x"}, format="json")
    assert response.status_code == 415
    assert not Case.objects.exists()


def test_files_over_the_size_limit_are_a_413(api, upload, settings):
    settings.VERITY_MAX_UPLOAD_BYTES = 1000
    response = api("owner").post(CASES, {"images": [upload("big.png")]}, format="multipart")
    assert response.status_code == 413 and response.json()["error"]["details"][0]["file"] == "big.png"
    assert not Case.objects.exists()


def test_no_images_is_a_400_naming_the_field(api):
    response = api("owner").post(CASES, {"title": "nothing"}, format="multipart")
    assert response.status_code == 400 and "images" in response.json()["error"]["details"]


def test_a_member_of_several_teams_must_name_one_and_may_not_name_a_foreign_one(api, people, upload):
    from verification.models import Membership

    Membership.objects.create(user=people["owner"], team=people["other_team"])
    client = api("owner")
    assert client.post(CASES, {"images": [upload()]}, format="multipart").status_code == 400
    response = client.post(CASES, {"images": [upload()], "team": people["other_team"].pk}, format="multipart")
    assert response.status_code == 201 and Case.objects.get().team == people["other_team"]
    outsider = api("outsider").post(CASES, {"images": [upload()], "team": people["team"].pk}, format="multipart")
    assert outsider.status_code == 400 and "team" in outsider.json()["error"]["details"]
    assert Case.objects.count() == 1


# --- Authentication and scopes ------------------------------------------------------------------------

def test_a_read_only_token_cannot_submit(api, upload):
    response = api("owner", scopes=("read",)).post(CASES, {"images": [upload()]}, format="multipart")
    assert response.status_code == 403
    assert response.json()["error"] == {"code": "permission_denied",
                                        "message": "This token lacks the 'submit' scope.", "details": {}}
    assert not Case.objects.exists()


def test_a_read_only_token_cannot_change_tags(api, done_case):
    response = api("owner", scopes=("read",)).patch(f"/api/v1/cases/{done_case[0].pk}/", {"tags": ["x"]},
                                                    format="json")
    assert response.status_code == 403


def test_a_revoked_token_fails_with_401(token_for, people):
    from rest_framework.test import APIClient

    raw = token_for("owner")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(CASES).status_code == 200
    token = ApiToken.objects.get(prefix=raw.split("_")[1])
    services.token_revoke(user=people["owner"], token_id=token.pk)
    response = client.get(CASES)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoked", object_id=str(token.pk)).count() == 1


@pytest.mark.parametrize("header", ["Bearer vty_deadbeef_wrong", "Bearer nonsense", "Bearer a b"])
def test_an_invalid_token_is_a_401(header, people):
    from rest_framework.test import APIClient

    response = APIClient().get(CASES, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"


def test_a_token_with_a_changed_secret_is_refused(token_for):
    from rest_framework.test import APIClient

    raw = token_for("owner")
    tampered = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    assert APIClient().get(CASES, HTTP_AUTHORIZATION=f"Bearer {tampered}").status_code == 401


def test_no_credentials_is_a_401(people):
    from rest_framework.test import APIClient

    response = APIClient().get(CASES)
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_the_token_of_an_inactive_user_is_refused(api, people):
    client = api("owner")
    people["owner"].is_active = False
    people["owner"].save()
    assert client.get(CASES).status_code == 401


def test_using_a_token_records_its_last_use(token_for):
    from rest_framework.test import APIClient

    raw = token_for("owner")
    assert ApiToken.objects.get(prefix=raw.split("_")[1]).last_used_at is None
    APIClient().get(CASES, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert ApiToken.objects.get(prefix=raw.split("_")[1]).last_used_at is not None


def test_only_a_hash_of_the_token_is_stored(token_for):
    import hashlib

    raw = token_for("owner")
    row = ApiToken.objects.get(prefix=raw.split("_")[1])
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(list(ApiToken.objects.values_list()))


def test_a_portal_session_can_use_the_browsable_api(client, people, done_case):
    client.force_login(people["owner"])
    assert client.get(CASES, HTTP_ACCEPT="text/html").status_code == 200
    assert client.get(CASES).json()["count"] == 1


def test_a_session_post_without_the_csrf_token_is_refused(people, upload):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(people["owner"])
    response = client.post(CASES, {"images": [upload()]})
    assert response.status_code == 403 and not Case.objects.exists()


# --- Idempotency -------------------------------------------------------------------------------------

def _post(client, upload, key, title="Fire", data=None):
    return client.post(CASES, {"title": title, "images": [upload("fire.png", data)]}, format="multipart",
                       HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_returns_the_same_case_and_creates_no_second(api, upload, _no_broker,
                                                                          django_capture_on_commit_callbacks):
    client = api("owner")
    with django_capture_on_commit_callbacks(execute=True):
        first = _post(client, upload, "key-1")
        again = _post(client, upload, "key-1")
    assert first.status_code == 201 and again.status_code == 200
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert again.json()["id"] == first.json()["id"]
    assert Case.objects.count() == 1 and Analysis.objects.count() == 1 and len(_no_broker) == 1
    record = IdempotencyKey.objects.get()
    assert record.key == "key-1" and record.case_id == first.json()["id"] and len(record.request_sha256) == 64


def test_the_same_key_with_a_different_body_is_a_409(api, upload):
    client = api("owner")
    first = _post(client, upload, "key-2")
    other_title = _post(client, upload, "key-2", title="Another fire")
    other_file = _post(client, upload, "key-2", data=png_bytes(seed=9))
    for response in (other_title, other_file):
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert response.json()["error"]["details"] == {"case": first.json()["id"]}
    assert Case.objects.count() == 1


def test_keys_belong_to_their_user(api, upload):
    first = _post(api("owner"), upload, "shared-key")
    second = _post(api("teammate"), upload, "shared-key")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"] and Case.objects.count() == 2


def test_a_failed_submission_does_not_use_up_its_key(api, upload):
    client = api("owner")
    bad = client.post(CASES, {"images": [upload("cut.png", png_bytes()[:60])]}, format="multipart",
                      HTTP_IDEMPOTENCY_KEY="key-3")
    assert bad.status_code == 400 and not IdempotencyKey.objects.exists()
    assert _post(client, upload, "key-3").status_code == 201


def test_an_overlong_key_is_a_400(api, upload):
    response = _post(api("owner"), upload, "k" * 256)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Case.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_case(token_for, people):
    """Two threads post the same request at once; the unique constraint lets only one create."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    raw = token_for("owner")
    data = png_bytes(seed=3)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def post() -> None:
        try:
            client = APIClient()
            barrier.wait()
            response = client.post(CASES, {"title": "Race", "images": [SimpleUploadedFile("r.png", data)]},
                                   format="multipart", HTTP_AUTHORIZATION=f"Bearer {raw}",
                                   HTTP_IDEMPOTENCY_KEY="race-key")
            results.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [200, 201]
    assert Case.objects.count() == 1 and IdempotencyKey.objects.count() == 1


# --- Throttling -----------------------------------------------------------------------------------

def test_a_token_over_its_rate_gets_429_with_retry_after(api, people, settings):
    settings.VERITY_API_RATE_READ = "3/min"
    client = api("owner")
    statuses = [client.get(CASES).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get(CASES)
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) > 0 and response.json()["error"]["details"]["retry_after_s"] > 0
    assert api("teammate").get(CASES).status_code == 200  # another token has its own budget


def test_submissions_have_their_own_budget(api, upload, settings):
    settings.VERITY_API_RATE_SUBMIT = "1/min"
    client = api("owner")
    assert client.post(CASES, {"images": [upload()]}, format="multipart").status_code == 201
    assert client.post(CASES, {"images": [upload()]}, format="multipart").status_code == 429
    assert client.get(CASES).status_code == 200
    assert Case.objects.count() == 1


# --- Status codes of malformed requests --------------------------------------------------------------

def test_form_fields_over_the_memory_limit_are_a_413(api, upload, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api("owner").post(CASES, {"notes": "x" * 5000, "images": [upload()]}, format="multipart")
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert not Case.objects.exists()


def test_more_files_than_allowed_in_one_request_is_a_413(api, upload, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    response = api("owner").post(CASES, {"images": [upload(f"{i}.png") for i in range(3)]}, format="multipart")
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_files"
    assert not Case.objects.exists()


def test_an_unsupported_method_is_a_405_in_the_error_shape(api, done_case):
    response = api("owner").delete(f"/api/v1/cases/{done_case[0].pk}/")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    assert Case.objects.filter(pk=done_case[0].pk).exists()


def test_an_invalid_filter_value_is_a_400_naming_the_parameter(api, people):
    response = api("owner").get(CASES, {"status": "sideways", "created_after": "yesterday"})
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"status", "created_after"}


def test_an_unknown_api_path_is_a_json_404(api, people):
    response = api("owner").get("/api/v1/nothing-here/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_pruning_forgets_old_keys_only_and_a_forgotten_key_can_be_used_again(api, upload):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    client = api("owner")
    _post(client, upload, "old-key")
    _post(client, upload, "new-key", title="Other")
    IdempotencyKey.objects.filter(key="old-key").update(created_at=timezone.now() - timedelta(hours=25))
    call_command("prune_idempotency_keys", hours=24)
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new-key"]
    assert Case.objects.count() == 2  # the cases stay
    assert _post(client, upload, "old-key").status_code == 201


@pytest.mark.parametrize("who", ["outsider", "admin"])
def test_people_outside_the_team_cannot_submit_into_it(api, people, upload, who):
    response = api(who).post(CASES, {"images": [upload()], "team": people["team"].pk}, format="multipart")
    assert response.status_code == 400 and "team" in response.json()["error"]["details"]
    assert not Case.objects.exists()


def test_an_admin_in_no_team_is_told_to_join_one_before_submitting(api, upload):
    response = api("admin").post(CASES, {"images": [upload()]}, format="multipart")
    assert response.status_code == 400 and "not in any team" in response.json()["error"]["message"]
    assert not Case.objects.exists()
