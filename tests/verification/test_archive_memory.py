"""Archive memory (issue 14): near-duplicates are linked within a team at intake, shown on the case
page and in the case list, and a changed final verdict flags the cases that hold a near-duplicate."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from tests.archive_images import jpeg, reshared, scene
from verification import services
from verification.models import (Analysis, ArchiveFlag, ArchiveMatch, AuditEvent, ImageFingerprint,
                                 Notification)

from .conftest import finish


def _submit(user: Any, team: Any, title: str, data: bytes, name: str = "photo.jpg") -> Any:
    return services.case_submit(user=user, team=team, title=title,
                                files=[SimpleUploadedFile(name, data, content_type="image/jpeg")])  # type: ignore[list-item]  # the stub types SimpleUploadedFile's name and size as optional


def _finalised(crew: Any, version: Any, title: str, im: Image.Image, verdict: str = "ai_generated") -> Any:
    result = _submit(crew["owner"], crew["team"], title, jpeg(im))
    finish(Analysis.objects.get(image=result.images[0]), version, "ai_generated", 0.9)
    return services.case_finalise(user=crew["lead"], case=result.case, verdict=verdict, comment="traced")


@pytest.mark.django_db
def test_a_reencoded_resized_and_cropped_copy_is_linked_and_the_case_page_says_so(client, crew, version):
    original = _finalised(crew, version, "Flooded station", scene(1))
    copy = _submit(crew["teammate"], crew["team"], "Station again", reshared(scene(1)), "copy.jpg")

    match = ArchiveMatch.objects.get(image=copy.images[0])
    assert match.matched.case_id == original.pk and match.distance <= 31
    client.force_login(crew["teammate"])
    page = client.get(reverse("verification:case_detail", args=[copy.case.pk])).content.decode()
    assert "Seen before in case" in page and "Flooded station" in page
    assert 'data-earlier-verdict="ai_generated"' in page and "AI-generated" in page and "by lead" in page
    assert original.finalised_at.strftime("%-d %b %Y") in page


@pytest.mark.django_db
def test_mirrored_and_rotated_copies_are_linked(crew, version):
    original = _finalised(crew, version, "Original", scene(5))
    mirrored = _submit(crew["owner"], crew["team"], "Mirrored",
                       jpeg(scene(5).transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    rotated = _submit(crew["owner"], crew["team"], "Rotated", jpeg(scene(5).transpose(Image.Transpose.ROTATE_90)))
    assert ArchiveMatch.objects.get(image=mirrored.images[0]).variant == "flip_left_right"
    # The rotated copy is a near-duplicate of both earlier ones; the variant is the transform that
    # brings it back onto each (turning it 270 degrees undoes a 90 degree turn).
    found = {m.matched.case_id: m.variant for m in ArchiveMatch.objects.filter(image=rotated.images[0])}
    assert found == {original.pk: "rotate_270", mirrored.case.pk: "transpose"}


@pytest.mark.django_db
def test_a_different_image_is_not_linked(client, crew, version):
    _finalised(crew, version, "Flooded station", scene(1))
    other = _submit(crew["owner"], crew["team"], "Another story", jpeg(scene(2)))
    assert not ArchiveMatch.objects.filter(image=other.images[0]).exists()
    assert ImageFingerprint.objects.filter(image=other.images[0]).count() == 4  # but it is remembered
    client.force_login(crew["owner"])
    assert "Seen before" not in client.get(reverse("verification:case_detail", args=[other.case.pk])).content.decode()


@pytest.mark.django_db
def test_another_teams_archive_is_never_matched(client, crew, version):
    ours = _finalised(crew, version, "Our secret source", scene(3))
    theirs = _submit(crew["outsider"], crew["other_team"], "Theirs", reshared(scene(3)))
    assert not ArchiveMatch.objects.filter(image=theirs.images[0]).exists()
    client.force_login(crew["outsider"])
    page = client.get(reverse("verification:case_detail", args=[theirs.case.pk])).content.decode()
    assert "Seen before" not in page and "Our secret source" not in page
    # And the other way round: our later copy links to ours, never to theirs.
    again = _submit(crew["owner"], crew["team"], "Ours again", reshared(scene(3)))
    assert [m.matched.case_id for m in ArchiveMatch.objects.filter(image=again.images[0])] == [ours.pk]


@pytest.mark.django_db
def test_an_image_with_a_low_quality_hash_is_not_remembered(crew, version):
    flat = _submit(crew["owner"], crew["team"], "Grey", jpeg(Image.new("RGB", (300, 200), (128, 128, 128))))
    again = _submit(crew["owner"], crew["team"], "Grey again", jpeg(Image.new("RGB", (300, 200), (130, 130, 130))))
    assert not ImageFingerprint.objects.filter(image__in=[flat.images[0], again.images[0]]).exists()
    assert not ArchiveMatch.objects.exists()


@pytest.mark.django_db
def test_the_index_keeps_words_and_chunks_of_every_hash(crew, version):
    from verification import archive_index

    result = _submit(crew["owner"], crew["team"], "Indexed", jpeg(scene(9)))
    fingerprints = ImageFingerprint.objects.filter(image=result.images[0], team=crew["team"])
    assert fingerprints.count() == 4
    for row in fingerprints:
        assert {f: getattr(row, f) for f in archive_index.columns(bytes(row.value))} == archive_index.columns(
            bytes(row.value))


@pytest.mark.django_db
def test_changing_a_final_verdict_flags_the_linked_cases_and_tells_their_watchers(client, crew, version):
    original = _finalised(crew, version, "Flooded station", scene(1), verdict="ai_generated")
    linked = _submit(crew["teammate"], crew["team"], "Station again", reshared(scene(1)))
    unrelated = _submit(crew["teammate"], crew["team"], "Other", jpeg(scene(2)))
    services.comment_add(user=crew["owner"], case=linked.case, body="Looks like the one from last week")

    services.case_reopen(user=crew["lead"], case=original, reason="new evidence")
    services.case_finalise(user=crew["lead"], case=original, verdict="real", comment="photographer found")

    flag = ArchiveFlag.objects.get()
    assert (flag.case_id, flag.source_case_id, flag.previous_verdict, flag.new_verdict) == (
        linked.case.pk, original.pk, "ai_generated", "real")
    assert not ArchiveFlag.objects.filter(case=unrelated.case).exists()
    told = set(Notification.objects.filter(case=linked.case).values_list("user__username", flat=True))
    assert told == {"teammate", "owner"}  # the submitter and the commenter
    assert AuditEvent.objects.filter(case=linked.case, action="case.archive_flagged").exists()
    client.force_login(crew["teammate"])
    page = client.get(reverse("verification:case_detail", args=[linked.case.pk])).content.decode()
    assert "Flagged for review" in page and "from AI-generated" in page and "to Real photograph" in page
    notes = client.get(reverse("verification:notifications")).content.decode()
    assert "Station again" in notes and "changed from AI-generated to Real photograph" in notes

    # Resolving the flag takes the banner away; the audit history keeps it.
    client.post(reverse("verification:flag_resolve", args=[flag.pk]))
    assert ArchiveFlag.objects.get().resolved_by == crew["teammate"]
    assert "Flagged for review" not in client.get(
        reverse("verification:case_detail", args=[linked.case.pk])).content.decode()


@pytest.mark.django_db
def test_finalising_again_with_the_same_verdict_flags_nothing(crew, version):
    original = _finalised(crew, version, "Flooded station", scene(1), verdict="ai_generated")
    _submit(crew["teammate"], crew["team"], "Station again", reshared(scene(1)))
    services.case_reopen(user=crew["lead"], case=original, reason="second look")
    services.case_finalise(user=crew["lead"], case=original, verdict="ai_generated")
    assert not ArchiveFlag.objects.exists() and not Notification.objects.exists()


@pytest.mark.django_db
def test_an_outsider_cannot_resolve_a_flag_or_see_its_notifications(client, crew, version):
    original = _finalised(crew, version, "Flooded station", scene(1))
    _submit(crew["teammate"], crew["team"], "Station again", reshared(scene(1)))
    services.case_reopen(user=crew["lead"], case=original, reason="x")
    services.case_finalise(user=crew["lead"], case=original, verdict="real")
    flag = ArchiveFlag.objects.get()
    client.force_login(crew["outsider"])
    assert client.post(reverse("verification:flag_resolve", args=[flag.pk])).status_code == 404
    assert ArchiveFlag.objects.get().resolved_at is None
    assert "Station again" not in client.get(reverse("verification:notifications")).content.decode()


@pytest.mark.django_db
def test_the_case_list_filters_cases_seen_before(client, crew, version):
    _finalised(crew, version, "Flooded station", scene(1))
    copy = _submit(crew["owner"], crew["team"], "Station again", reshared(scene(1)))
    _submit(crew["owner"], crew["team"], "Fresh picture", jpeg(scene(2)))
    client.force_login(crew["owner"])
    response = client.get(reverse("verification:case_list"), {"seen_before": "on"})
    assert [c.pk for c in response.context["page"].object_list] == [copy.case.pk]


@pytest.mark.django_db
def test_uploads_are_decoded_and_fingerprinted_before_the_submission_transaction_opens(crew, version, monkeypatch):
    # On SQLite a write transaction holds the database's one write lock: the slow, database-free
    # work of a submission (decoding every upload, hashing it for the archive) must run before it,
    # or a large upload keeps workers from recording results for as long.
    import importlib

    from django.db import connection

    from ml import phash
    from verification import archive_index

    intake = importlib.import_module("verification.services.intake")  # the package exports a function of that name

    depth: dict[str, list[int]] = {"decode": [], "hash": [], "lookup": []}

    def spy(name: str, fn: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            depth[name].append(len(connection.atomic_blocks))
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(intake, "inspect_image", spy("decode", intake.inspect_image))
    monkeypatch.setattr(phash, "fingerprints", spy("hash", phash.fingerprints))
    monkeypatch.setattr(archive_index, "lookup_many", spy("lookup", archive_index.lookup_many))
    outside = len(connection.atomic_blocks)  # the test's own transaction, if any
    _submit(crew["owner"], crew["team"], "Earlier", jpeg(scene(1)))
    result = _submit(crew["owner"], crew["team"], "Copy", reshared(scene(1)), "copy.jpg")

    assert depth["decode"] == [outside, outside] and depth["hash"] == [outside, outside]
    assert all(d > outside for d in depth["lookup"])  # the lookup and the links stay in the transaction
    assert ArchiveMatch.objects.filter(image=result.images[0]).count() == 1
