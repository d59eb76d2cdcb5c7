"""The web form takes what the API takes: an empty file beside a good one lets the good one through
and names the empty one; too many files is a message on the form (issue 16, hole 4)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.images import png_bytes
from verification.models import Case, CaseImage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("verification.queue.enqueue_analyses", lambda ids: len(ids))


def test_an_empty_file_beside_a_good_one_lets_the_good_one_through_and_is_listed(client, people):
    client.force_login(people["owner"])
    response = client.post(reverse("verification:case_create"), {
        "title": "Flood", "team": people["team"].pk,
        "images": [SimpleUploadedFile("good.png", png_bytes(), "image/png"),
                   SimpleUploadedFile("empty.png", b"", "image/png")]}, follow=True)
    case = Case.objects.get()
    assert [i.original_name for i in CaseImage.objects.filter(case=case)] == ["good.png"]
    warnings = [str(m) for m in response.context["messages"]]
    assert any("empty.png" in m and "empty" in m.split("empty.png", 1)[1] for m in warnings), warnings


def test_only_an_empty_file_is_refused_with_its_name_on_the_form(client, people):
    client.force_login(people["owner"])
    response = client.post(reverse("verification:case_create"), {
        "title": "Flood", "team": people["team"].pk, "images": [SimpleUploadedFile("empty.png", b"")]})
    assert response.status_code == 400 and not Case.objects.exists()
    assert any("empty.png" in e for e in response.context["form"].errors["images"])


def test_more_files_than_the_limit_is_a_message_on_the_form_not_a_bare_400(client, people, settings):
    settings.VERITY_MAX_FILES_PER_CASE = 2
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    client.force_login(people["owner"])
    response = client.post(reverse("verification:case_create"), {
        "title": "Flood", "team": people["team"].pk,
        "images": [SimpleUploadedFile(f"{n}.png", png_bytes(seed=n), "image/png") for n in range(3)]})
    assert response.status_code == 400 and not Case.objects.exists()
    assert response.templates and response.templates[0].name == "verification/case_form.html"
    assert "At most 2 files" in response.content.decode()


def test_the_form_still_refuses_a_post_without_a_csrf_token(people):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(people["owner"])
    response = client.post(reverse("verification:case_create"), {
        "title": "x", "team": people["team"].pk, "images": [SimpleUploadedFile("a.png", png_bytes())]})
    assert response.status_code == 403 and not Case.objects.exists()
