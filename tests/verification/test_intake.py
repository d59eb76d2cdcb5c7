"""Zip archives, duplicates within a team, tags and file metadata at submission."""

import io
import struct
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from tests.images import jpeg_bytes, photo_like, png_bytes
from verification import services
from verification.errors import SubmissionRejected
from verification.metadata import read_metadata
from verification.models import Analysis, AuditEvent, Case, CaseImage

pytestmark = pytest.mark.django_db


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> SimpleUploadedFile:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return SimpleUploadedFile("batch.zip", buf.getvalue(), content_type="application/zip")


def test_a_zip_of_images_becomes_one_case_with_an_analysis_per_image(crew, _no_broker,
                                                                      django_capture_on_commit_callbacks):
    archive = make_zip({"a.png": png_bytes(seed=1), "sub/b.jpg": jpeg_bytes(seed=2), "__MACOSX/._a.png": b"x"})
    with django_capture_on_commit_callbacks(execute=True):
        result = services.case_submit(user=crew["owner"], team=crew["team"], title="Batch", files=[archive])
    assert sorted(i.original_name for i in result.images) == ["batch.zip/a.png", "batch.zip/b.jpg"]
    assert result.rejected == [] and Analysis.objects.count() == 2 and len(_no_broker) == 2


def test_zip_members_with_unsafe_paths_are_refused_by_name_and_the_rest_accepted(crew):
    archive = make_zip({"../../etc/evil.png": png_bytes(seed=1), "/abs.png": png_bytes(seed=2),
                        "ok.png": png_bytes(seed=3)})
    result = services.case_submit(user=crew["owner"], team=crew["team"], title="t", files=[archive])
    assert [i.original_name for i in result.images] == ["batch.zip/ok.png"]
    assert {r.name for r in result.rejected} == {"batch.zip/evil.png", "batch.zip/abs.png"}
    assert all("unsafe" in r.reason for r in result.rejected)


def test_a_zip_bomb_is_refused_before_it_is_inflated(crew, settings):
    settings.VERITY_MAX_ARCHIVE_BYTES = 1_000_000
    archive = make_zip({"zeros.png": b"\0" * 5_000_000})  # 5 MB of zeros compress to a few KB
    assert archive.size < 50_000
    with pytest.raises(SubmissionRejected) as exc:
        services.case_submit(user=crew["owner"], team=crew["team"], title="t", files=[archive])
    reason = exc.value.details[0]["reason"]
    assert "zip bomb" in reason and "limit is 1 MB" in reason
    assert not Case.objects.exists()


def test_a_zip_with_too_many_members_is_refused_with_the_limit(crew, settings):
    settings.VERITY_MAX_FILES_PER_CASE = 3
    archive = make_zip({f"{i}.png": png_bytes(seed=i) for i in range(4)})
    with pytest.raises(SubmissionRejected) as exc:
        services.case_submit(user=crew["owner"], team=crew["team"], title="t", files=[archive])
    assert "holds 4 files; at most 3" in exc.value.details[0]["reason"]


def test_the_form_reports_each_rejected_file_and_keeps_the_good_ones(client, crew):
    client.force_login(crew["owner"])
    archive = make_zip({"good.png": png_bytes(seed=4), "notes.txt": b"hello"})
    response = client.post(reverse("verification:case_create"), {
        "title": "Mixed", "team": crew["team"].pk, "tags": "Flood, flood, Elections", "images": [archive]},
        follow=True)
    body = response.content.decode()
    assert "batch.zip/notes.txt was not accepted" in body
    case = Case.objects.get()
    assert [i.original_name for i in case.images.all()] == ["batch.zip/good.png"]
    assert sorted(t.name for t in case.tags.all()) == ["elections", "flood"]


def _stored_bytes(image, settings) -> bytes:
    return (settings.MEDIA_ROOT / image.file).read_bytes()


def test_a_duplicate_within_the_team_is_linked_not_analysed_again(client, crew, make_case, settings):
    first = make_case(title="First sighting", labels=("ai_generated",))
    original = first.images.get()
    result = services.case_submit(user=crew["teammate"], team=crew["team"], title="Repost", files=[
        SimpleUploadedFile("repost.png", _stored_bytes(original, settings), content_type="image/png")])
    image = result.images[0]
    assert image.duplicate_of == original and result.duplicates == [image]
    assert not Analysis.objects.filter(image=image).exists()
    assert image.model_label == "ai_generated" and Case.objects.get(pk=result.case.pk).model_verdict == "ai_generated"
    event = AuditEvent.objects.get(action="case.submitted", case=result.case)
    assert event.details["images"][0]["duplicate_of"] == original.pk
    client.force_login(crew["teammate"])
    body = client.get(reverse("verification:case_detail", args=[result.case.pk])).content.decode()
    assert "already submitted to your team" in body and "First sighting" in body
    assert reverse("verification:case_detail", args=[first.pk]) in body
    # The borrowed heatmap is served to the team, from the original's analysis.
    borrowed = Analysis.objects.get(image=original)
    assert reverse("verification:analysis_file", args=[borrowed.pk, "overlay"]) in body


def test_a_duplicate_of_a_pending_image_gets_its_verdict_when_the_original_finishes(crew, upload, version):
    from tests.verification.conftest import finish

    data = png_bytes(seed=77)
    first = services.case_submit(user=crew["owner"], team=crew["team"], title="a", files=[upload("a.png", data)])
    second = services.case_submit(user=crew["owner"], team=crew["team"], title="b", files=[upload("b.png", data)])
    finish(Analysis.objects.get(image=first.images[0]), version, "real", 0.2)
    assert CaseImage.objects.get(pk=second.images[0].pk).model_label == "real"
    assert Case.objects.get(pk=second.case.pk).model_verdict == "real"


def test_the_same_bytes_twice_in_one_upload_are_analysed_once_and_later_uploads_link_the_first(
        crew, upload, _no_broker, django_capture_on_commit_callbacks):
    a, b = png_bytes(seed=81), png_bytes(seed=82)
    with django_capture_on_commit_callbacks(execute=True):
        result = services.case_submit(user=crew["owner"], team=crew["team"], title="Twice", files=[
            upload("a.png", a), upload("b.png", b), upload("a-again.png", a)])
    first, other, again = result.images
    assert [i.original_name for i in CaseImage.objects.filter(case=result.case)] == ["a.png", "b.png", "a-again.png"]
    assert first.duplicate_of is None and other.duplicate_of is None
    assert CaseImage.objects.get(pk=again.pk).duplicate_of_id == first.pk and result.duplicates == [again]
    assert sorted(_no_broker) == sorted(Analysis.objects.filter(image__in=[first, other]).values_list("pk", flat=True))
    assert not Analysis.objects.filter(image=again).exists()
    later = services.case_submit(user=crew["owner"], team=crew["team"], title="Later", files=[upload("a3.png", a)])
    assert later.images[0].duplicate_of == first  # the earliest copy, not the later duplicate


def test_submitting_costs_the_same_queries_for_2_or_12_images(crew, upload):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # A team's first audited write creates its audit chain's head row: a one-time cost, not a
    # per-image one, so a first submission is made before counting.
    services.case_submit(user=crew["owner"], team=crew["team"], title="first",
                         files=[upload("0.png", png_bytes(seed=899))])
    counts = []
    for n, seed in ((2, 900), (12, 920)):
        files = [upload(f"{i}.png", png_bytes(seed=seed + i)) for i in range(n)]
        with CaptureQueriesContext(connection) as ctx:
            result = services.case_submit(user=crew["owner"], team=crew["team"], title=f"{n} images", files=files)
        assert len(result.images) == n and Analysis.objects.filter(image__case=result.case).count() == n
        counts.append(len(ctx))
    assert counts[0] == counts[1], counts


def test_the_same_bytes_in_another_team_are_not_linked(crew, make_case, settings):
    first = make_case(title="Ours")
    result = services.case_submit(user=crew["outsider"], team=crew["other_team"], title="Theirs", files=[
        SimpleUploadedFile("x.png", _stored_bytes(first.images.get(), settings))])
    assert result.images[0].duplicate_of is None and Analysis.objects.filter(image=result.images[0]).exists()


def _jpeg_with_exif_and_c2pa() -> bytes:
    im = photo_like((40, 30))
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "EOS R5"  # Model
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    data = buf.getvalue()
    # An APP11 segment carrying a JUMBF box labelled c2pa, inserted after SOI as C2PA writers do.
    payload = b"JP\x00\x00\x00\x00\x00\x01" + b"\x00\x00\x00\x20jumb" + b"\x00\x00\x00\x18jumdc2pa\x00"
    segment = b"\xff\xeb" + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


def test_exif_camera_fields_are_read_and_shown(client, crew):
    data = _jpeg_with_exif_and_c2pa()
    meta = read_metadata(data, "JPEG")
    assert meta["has_exif"] and meta["camera"]["Make"] == "Canon" and meta["camera"]["Model"] == "EOS R5"
    result = services.case_submit(user=crew["owner"], team=crew["team"], title="t",
                                  files=[SimpleUploadedFile("cam.jpg", data)])
    assert CaseImage.objects.get(pk=result.images[0].pk).metadata["camera"]["Model"] == "EOS R5"
    client.force_login(crew["owner"])
    body = client.get(reverse("verification:case_detail", args=[result.case.pk])).content.decode()
    assert "EOS R5" in body and 'data-has-exif="1"' in body


def test_a_plain_png_has_no_exif():
    meta = read_metadata(png_bytes(), "PNG")
    assert meta == {"has_exif": False, "camera": {}}
