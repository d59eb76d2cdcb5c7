"""One case intake behind two doors (issue 16): the web form and ``POST /api/v1/cases/`` hand their
files to ``services.case_submit``, so the same bad zip is refused member by member in the same
words through both, retries with an Idempotency-Key return the first case, and the token that
submitted is recorded by the service."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from tests.dataset_zips import zip_bytes
from tests.images import png_bytes
from verification import services
from verification.models import ApiSubmission, ApiToken, Case, IdempotencyKey
from verification.services.idempotency import IdempotencyConflict

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("verification.queue.enqueue_analyses", lambda ids: len(ids))


def _bad_zip() -> bytes:
    return zip_bytes({
        "good.png": png_bytes(seed=1),
        "inner.zip": zip_bytes({"hidden.png": png_bytes(seed=2)}),
        "../escape.png": png_bytes(seed=3),
        "notes.txt": b"not an image at all\n",
        "empty.png": b"",
    })


def _api(user) -> tuple[APIClient, ApiToken]:  # type: ignore[no-untyped-def]
    issued = services.token_create(user=user, name="cms", scopes=["read", "submit"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    return client, issued.token


def _through_the_form(client, people, files) -> tuple[int, list[str], list[str]]:  # type: ignore[no-untyped-def]
    """Status, the warnings shown after a created case, and the form's errors after a refusal."""
    client.force_login(people["owner"])
    response = client.post(reverse("verification:case_create"),
                           {"title": "Bad zip", "team": people["team"].pk, "images": files}, follow=True)
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    form = response.context.get("form")
    errors = list(form.errors.get("images", [])) if form is not None and response.status_code == 400 else []
    return response.status_code, warnings, errors


def _as_shown(rejected: list[dict[str, str]]) -> set[str]:
    return {f"{r['file']} was not accepted: {r['reason']}" for r in rejected}


def test_both_doors_refuse_the_same_members_of_a_bad_zip_in_the_same_words(client, people):
    api, _ = _api(people["teammate"])
    response = api.post(CASES, {"images": [SimpleUploadedFile("batch.zip", _bad_zip(), "application/zip")]},
                        format="multipart")
    assert response.status_code == 201
    rejected = response.json()["rejected"]
    by_name = {r["file"]: r for r in rejected}
    assert set(by_name) == {"batch.zip/inner.zip", "batch.zip/escape.png", "batch.zip/notes.txt",
                            "batch.zip/empty.png"}
    assert "zip inside a zip" in by_name["batch.zip/inner.zip"]["reason"]
    assert "unsafe" in by_name["batch.zip/escape.png"]["reason"]
    assert "not a readable image" in by_name["batch.zip/notes.txt"]["reason"]
    assert "empty" in by_name["batch.zip/empty.png"]["reason"]
    assert {r["kind"] for r in rejected} <= {"invalid", "unsupported", "too_large"}

    status, warnings, _ = _through_the_form(
        client, people, [SimpleUploadedFile("batch.zip", _bad_zip(), "application/zip")])
    assert status == 200
    assert set(warnings) == _as_shown(rejected)
    names = [sorted(i.original_name for i in case.images.all()) for case in Case.objects.order_by("pk")]
    assert names == [["batch.zip/good.png"], ["batch.zip/good.png"]]


def test_a_zip_past_the_file_limit_is_refused_by_name_through_both_doors_and_the_rest_goes_on(
        client, people, settings):
    settings.VERITY_MAX_FILES_PER_CASE = 2

    def files() -> list[SimpleUploadedFile]:
        many = zip_bytes({f"{n}.png": png_bytes(seed=10 + n) for n in range(3)})
        return [SimpleUploadedFile("single.png", png_bytes(seed=9), "image/png"),
                SimpleUploadedFile("many.zip", many, "application/zip")]

    api, _ = _api(people["teammate"])
    response = api.post(CASES, {"images": files()}, format="multipart")
    assert response.status_code == 201
    rejected = response.json()["rejected"]
    assert [r["file"] for r in rejected] == ["many.zip"]
    assert "holds 3 files; at most 2" in rejected[0]["reason"] and rejected[0]["kind"] == "too_large"

    status, warnings, _ = _through_the_form(client, people, files())
    assert status == 200 and set(warnings) == _as_shown(rejected)
    assert [[i.original_name for i in c.images.all()] for c in Case.objects.all()] == [["single.png"]] * 2


def test_nothing_acceptable_is_the_same_list_on_the_form_and_in_the_api_error(client, people):
    def files() -> list[SimpleUploadedFile]:
        return [SimpleUploadedFile("doc.pdf", b"%PDF-1.7 not an image", "application/pdf"),
                SimpleUploadedFile("batch.zip", zip_bytes({"notes.txt": b"hello"}), "application/zip")]

    api, _ = _api(people["teammate"])
    response = api.post(CASES, {"images": files()}, format="multipart")
    # Neither file is an image: the one answer for "unsupported", whichever door.
    assert response.status_code == 415
    details = response.json()["error"]["details"]
    assert [d["file"] for d in details] == ["doc.pdf", "batch.zip/notes.txt"]

    status, _, errors = _through_the_form(client, people, files())
    assert status == 400 and not Case.objects.exists()
    assert {f"{d['file']}: {d['reason']}" for d in details} <= set(errors)


def test_an_idempotent_retry_returns_the_first_case_and_its_refusals(people):
    api, token = _api(people["owner"])
    archive = _bad_zip()  # once: a zip's bytes hold the time it was written, and a retry sends the same bytes

    def post(title: str = "Flood") -> object:
        return api.post(CASES, {"title": title, "images": [
            SimpleUploadedFile("batch.zip", archive, "application/zip")]},
            format="multipart", HTTP_IDEMPOTENCY_KEY="retry-1")

    first, again = post(), post()
    assert first.status_code == 201 and again.status_code == 200  # type: ignore[attr-defined]
    assert again["Idempotent-Replayed"] == "true"  # type: ignore[index]
    assert again.json()["id"] == first.json()["id"]  # type: ignore[attr-defined]
    assert again.json()["rejected"] == first.json()["rejected"]  # type: ignore[attr-defined]
    assert Case.objects.count() == 1
    assert IdempotencyKey.objects.get(key="retry-1").case_id == first.json()["id"]  # type: ignore[attr-defined]
    assert post(title="Another").status_code == 409  # type: ignore[attr-defined]
    assert ApiSubmission.objects.get().token == token


def test_the_service_records_the_key_and_the_token_whichever_door_calls_it(people):
    _, token = _api(people["owner"])

    def submit(title: str = "Flood") -> services.SubmissionResult:
        return services.case_submit(user=people["owner"], team=people["team"], title=title, token=token,
                                    idempotency_key="svc-1",
                                    files=[SimpleUploadedFile("a.png", png_bytes(seed=5), "image/png")])

    first = submit()
    again = submit()
    assert not first.replayed and again.replayed and again.case == first.case
    assert ApiSubmission.objects.get(case=first.case).token == token
    with pytest.raises(IdempotencyConflict):
        submit(title="Changed")
    assert Case.objects.count() == 1
