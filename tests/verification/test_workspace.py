"""The case page as a review workspace: counts, per-image state, the inline override error with the
choice kept, and a history that names images and folds the worker's steps."""

from __future__ import annotations

from django.urls import reverse

from verification import services
from verification.models import Review


def _page(client, case):  # type: ignore[no-untyped-def]
    response = client.get(reverse("verification:case_detail", args=[case.pk]))
    assert response.status_code == 200
    return response, response.content.decode()


def test_the_header_counts_flagged_and_reviewed_images_and_points_to_the_next(client, crew, make_case) -> None:
    case = make_case("Seven", labels=("ai_generated", "real", "ai_generated"))
    first, second, third = case.images.order_by("pk")
    services.review_record(user=crew["owner"], image=first, verdict="ai_generated")
    services.review_record(user=crew["owner"], image=second, verdict="ai_generated", comment="Mirrored text")
    client.force_login(crew["teammate"])
    response, body = _page(client, case)
    assert "2 of 3</strong> images flagged as AI-generated" in body
    assert "1 of 3 reviewed" not in body and "2 of 3 reviewed" in body
    assert f'id="next-unreviewed" href="#image-{third.pk}"' in body
    states = {r["image"].pk: r["state"] for r in response.context["rows"]}
    assert states == {first.pk: "reviewed", second.pk: "disagrees", third.pk: "flagged"}
    assert body.count('class="thumb state-') == 3 and "Reviewed: disagrees with the model" in body


def test_an_override_without_a_comment_shows_the_error_in_that_card_with_the_choice_kept(
        client, crew, make_case) -> None:
    case = make_case("Two", labels=("ai_generated", "real"))
    first, second = case.images.order_by("pk")
    client.force_login(crew["owner"])
    response = client.post(reverse("verification:image_review", args=[second.pk]), {"verdict": "ai_generated"})
    assert response.status_code == 400 and not Review.objects.exists()
    body = response.content.decode()
    card = body.split(f'id="image-{second.pk}"')[1].split('<section class="card')[0]
    assert 'role="alert">Say why you override the model' in card
    assert f'id="verdict-{second.pk}-ai_generated" required checked' in card
    other = body.split(f'id="image-{first.pk}"')[1].split(f'id="image-{second.pk}"')[0]
    assert "Say why you override" not in other and "checked" not in other


def test_a_confirmation_goes_on_to_the_next_unreviewed_image(client, crew, make_case) -> None:
    case = make_case("Two", labels=("ai_generated", "real"))
    first, second = case.images.order_by("pk")
    client.force_login(crew["owner"])
    response = client.post(reverse("verification:image_review", args=[first.pk]),
                           {"verdict": "ai_generated", "advance": "1"})
    assert response.status_code == 302 and response["Location"].endswith(f"#image-{second.pk}")
    assert Review.objects.get().is_override is False


def test_the_history_names_images_newest_first_and_folds_an_analysis(client, crew, make_case) -> None:
    case = make_case("History", labels=("ai_generated",))
    image = case.images.get()
    services.review_record(user=crew["owner"], image=image, verdict="real", comment="Agency original")
    client.force_login(crew["owner"])
    response, body = _page(client, case)
    lines = response.context["history"]
    assert [line.event.action for line in lines] == ["review.overridden", "analysis.done", "case.submitted"]
    assert lines[1].steps == ["started", "done"] and lines[1].image_name == image.original_name
    assert lines[0].image_name == image.original_name
    history = body.split('id="history"')[1]
    assert "analysis started, done" in history and " UTC</time>" in history


def test_long_unbroken_names_are_allowed_to_wrap(client, crew, make_case) -> None:
    case = make_case("A" * 180, labels=("real",))
    client.force_login(crew["owner"])
    _, body = _page(client, case)
    assert '<h1 class="wrap-anywhere" dir="auto">' + "A" * 180 in body
