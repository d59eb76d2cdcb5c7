import pytest
from django.urls import reverse

from tests.images import bomb_png, png_bytes
from verification import services
from verification.errors import SubmissionRejected, VerityError
from verification.models import Analysis, AnalysisStatus, AuditEvent, Case, CaseImage
from tests.queueing import each_analysis as _each_analysis

pytestmark = pytest.mark.django_db


def test_submitting_a_case_creates_rows_and_enqueues_after_commit(people, upload, monkeypatch,
                                                               django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr("verification.queue.enqueue_analysis", sent.append)
    monkeypatch.setattr("verification.queue.enqueue_analyses", _each_analysis)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = services.case_submit(user=people["owner"], team=people["team"], title="Flood photo",
                                      files=[upload("a.png"), upload("b.png", png_bytes(seed=2))])
        assert sent == []  # nothing is enqueued before the transaction commits
    for cb in callbacks:
        cb()
    case = Case.objects.get()
    assert case.title == "Flood photo" and case.team == people["team"]
    assert CaseImage.objects.filter(case=case).count() == 2
    analyses = Analysis.objects.filter(image__case=case)
    assert {a.status for a in analyses} == {AnalysisStatus.QUEUED}
    assert sorted(sent) == sorted(a.pk for a in analyses)
    event = AuditEvent.objects.get(action="case.submitted")
    assert event.actor == people["owner"] and event.case == case and len(event.details["images"]) == 2
    assert result.rejected == []


def test_images_are_stored_under_their_sha256(people, upload, settings):
    import hashlib

    data = png_bytes(seed=5)
    services.case_submit(user=people["owner"], team=people["team"], title="t", files=[upload("x.png", data)])
    image = CaseImage.objects.get()
    digest = hashlib.sha256(data).hexdigest()
    assert image.sha256 == digest and digest in image.file
    assert (settings.MEDIA_ROOT / image.file).read_bytes() == data


def test_a_submission_with_only_bad_files_creates_nothing(people, upload):
    with pytest.raises(SubmissionRejected) as exc:
        services.case_submit(user=people["owner"], team=people["team"], title="t",
                             files=[upload("notes.jpg", b"just text"), upload("bomb.png", bomb_png())])
    assert [d["file"] for d in exc.value.details] == ["notes.jpg", "bomb.png"]
    assert not Case.objects.exists() and not CaseImage.objects.exists() and not AuditEvent.objects.exists()


def test_bad_files_do_not_stop_the_good_ones_in_the_same_case(people, upload):
    result = services.case_submit(user=people["owner"], team=people["team"], title="t",
                                  files=[upload("good.png"), upload("bad.png", b"\x89PNG\r\n\x1a\n broken")])
    assert [i.original_name for i in result.images] == ["good.png"]
    assert [r.name for r in result.rejected] == ["bad.png"]
    assert Analysis.objects.count() == 1


def test_files_over_the_size_limit_are_refused_before_reading(people, upload, settings):
    settings.VERITY_MAX_UPLOAD_BYTES = 100
    with pytest.raises(SubmissionRejected) as exc:
        services.case_submit(user=people["owner"], team=people["team"], title="t", files=[upload("big.png")])
    assert "limit" in exc.value.details[0]["reason"]


def test_an_outsider_cannot_submit_into_another_team(people, upload):
    with pytest.raises(VerityError, match="not a member"):
        services.case_submit(user=people["outsider"], team=people["team"], title="t", files=[upload()])
    assert not Case.objects.exists()


def test_the_web_form_rejects_a_non_image_with_a_clear_error_and_creates_nothing(client, people, upload):
    client.force_login(people["owner"])
    response = client.post(reverse("verification:case_create"), {
        "title": "Suspicious", "team": people["team"].pk,
        "images": [upload("report.jpg", b"%PDF-1.4 not an image", "image/jpeg")]})
    assert response.status_code == 400
    body = response.content.decode()
    assert "report.jpg" in body and "not a readable image" in body
    assert not Case.objects.exists() and not Analysis.objects.exists()


def test_the_web_form_creates_a_case_and_redirects_to_it(client, people, upload, monkeypatch):
    monkeypatch.setattr("verification.queue.enqueue_analysis", lambda aid: None)
    monkeypatch.setattr("verification.queue.enqueue_analyses", _each_analysis)
    client.force_login(people["owner"])
    response = client.post(reverse("verification:case_create"), {
        "title": "Protest", "source_url": "https://example.org/post/1", "notes": "from a reader",
        "team": people["team"].pk, "images": [upload("p.png")]})
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("verification:case_detail", args=[case.pk])
    assert case.source_url == "https://example.org/post/1" and case.created_by == people["owner"]


def test_the_audit_history_cannot_be_changed_or_deleted(people, upload):
    services.case_submit(user=people["owner"], team=people["team"], title="t", files=[upload()])
    event = AuditEvent.objects.get()
    event.action = "tampered"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().update(action="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().action == "case.submitted"
