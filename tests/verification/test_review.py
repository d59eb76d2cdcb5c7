"""Human review: confirming and overriding image verdicts, comments, assignment, finalising,
reopening and re-running analyses, through the pages and the services."""

import pytest
from django.urls import reverse

from verification import services
from verification.errors import InvalidTransition, VerityError
from verification.models import Analysis, AnalysisStatus, AuditEvent, Case, CaseImage, Comment, ModelVersion, Review

pytestmark = pytest.mark.django_db


def test_confirming_the_models_verdict_needs_no_comment(client, crew, make_case):
    case = make_case(labels=("ai_generated",))
    image = case.images.get()
    client.force_login(crew["teammate"])
    response = client.post(reverse("verification:image_review", args=[image.pk]), {"verdict": "ai_generated"})
    assert response.status_code == 302
    review = Review.objects.get()
    assert review.verdict == "ai_generated" and not review.is_override and review.reviewer == crew["teammate"]
    assert CaseImage.objects.get(pk=image.pk).human_verdict == "ai_generated"
    assert AuditEvent.objects.filter(action="review.confirmed", case=case).count() == 1


def test_overriding_without_a_comment_is_refused_with_a_message(client, crew, make_case):
    case = make_case(labels=("ai_generated",))
    image = case.images.get()
    client.force_login(crew["owner"])
    response = client.post(reverse("verification:image_review", args=[image.pk]), {"verdict": "real"}, follow=True)
    assert "a comment is required" in response.content.decode()
    assert not Review.objects.exists() and CaseImage.objects.get(pk=image.pk).human_verdict == ""


def test_overriding_with_a_comment_is_recorded_shown_and_audited(client, crew, make_case):
    case = make_case(labels=("ai_generated",))
    image = case.images.get()
    client.force_login(crew["owner"])
    response = client.post(reverse("verification:image_review", args=[image.pk]),
                           {"verdict": "real", "comment": "Original RAW file from the photographer"}, follow=True)
    body = response.content.decode()
    assert "Original RAW file from the photographer" in body and "overrode" in body
    review = Review.objects.get()
    assert review.is_override and review.analysis.label == "ai_generated"
    event = AuditEvent.objects.get(action="review.overridden")
    assert event.details["verdict"] == "real" and event.details["model_label"] == "ai_generated"


def test_inconclusive_counts_as_an_override(crew, make_case):
    image = make_case(labels=("real",)).images.get()
    with pytest.raises(VerityError, match="comment is required"):
        services.review_record(user=crew["owner"], image=image, verdict="inconclusive")


def test_an_outsider_cannot_review_comment_or_finalise_and_gets_404(client, crew, make_case):
    case = make_case()
    image = case.images.get()
    client.force_login(crew["outsider"])
    posts = [
        (reverse("verification:image_review", args=[image.pk]), {"verdict": "real", "comment": "x"}),
        (reverse("verification:case_comment", args=[case.pk]), {"body": "hi"}),
        (reverse("verification:case_finalise", args=[case.pk]), {"verdict": "real"}),
        (reverse("verification:case_reopen", args=[case.pk]), {"reason": "x"}),
        (reverse("verification:case_assign", args=[case.pk]), {"assignee": ""}),
        (reverse("verification:image_rerun", args=[image.pk]), {"model_version": ModelVersion.objects.get().pk}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    assert not Review.objects.exists() and not Comment.objects.exists()
    assert Case.objects.get().status == "open" and Analysis.objects.count() == 1


def test_comments_form_threads(client, crew, make_case):
    case = make_case()
    client.force_login(crew["owner"])
    client.post(reverse("verification:case_comment", args=[case.pk]), {"body": "Who posted this first?"})
    first = Comment.objects.get()
    client.force_login(crew["teammate"])
    client.post(reverse("verification:case_comment", args=[case.pk]), {"body": "A reseller, 3 days ago",
                                                                         "parent": first.pk})
    reply = Comment.objects.exclude(pk=first.pk).get()
    assert reply.parent == first and reply.author == crew["teammate"]
    body = client.get(reverse("verification:case_detail", args=[case.pk])).content.decode()
    assert body.index("Who posted this first?") < body.index("A reseller, 3 days ago")
    assert AuditEvent.objects.filter(action="comment.added").count() == 2


def test_a_reviewer_cannot_finalise_but_a_lead_can(client, crew, make_case):
    case = make_case(labels=("ai_generated",))
    client.force_login(crew["owner"])
    response = client.post(reverse("verification:case_finalise", args=[case.pk]), {"verdict": "real"}, follow=True)
    assert "Only a lead" in response.content.decode()
    assert Case.objects.get().status == "open"
    client.force_login(crew["lead"])
    # The image has no review yet: the lead is asked to confirm, inside the form, with the choice kept.
    asked = client.post(reverse("verification:case_finalise", args=[case.pk]),
                        {"verdict": "real", "comment": "Photographer confirmed"})
    assert asked.status_code == 400 and Case.objects.get().status == "open"
    body = asked.content.decode()
    assert 'id="finalise-error"' in body and "1 image(s) have no review yet" in body
    assert 'value="real" required id="id_verdict_0" checked' in body or 'checked' in body.split('id="final"')[1]
    assert "Photographer confirmed</textarea>" in body
    client.post(reverse("verification:case_finalise", args=[case.pk]),
                {"verdict": "real", "comment": "Photographer confirmed", "confirm_unreviewed": "on"})
    case.refresh_from_db()
    assert case.status == "finalised" and case.final_verdict == "real" and case.finalised_by == crew["lead"]
    assert case.disagrees
    event = AuditEvent.objects.get(action="case.finalised")
    assert event.details == {"verdict": "real", "model_verdict": "ai_generated", "disagrees": True,
                             "comment": "Photographer confirmed", "unreviewed": 1, "unreviewed_confirmed": True}


def test_a_finalised_case_refuses_reviews_until_a_lead_reopens_it(crew, make_case):
    case = make_case(labels=("real",))
    image = case.images.get()
    services.case_finalise(user=crew["lead"], case=case, verdict="real")
    with pytest.raises(InvalidTransition):
        services.review_record(user=crew["owner"], image=image, verdict="real")
    with pytest.raises(VerityError, match="Only a lead"):
        services.case_reopen(user=crew["owner"], case=case, reason="new evidence")
    services.case_reopen(user=crew["lead"], case=case, reason="new evidence")
    case.refresh_from_db()
    assert case.status == "open" and case.final_verdict == "" and case.finalised_at is None
    services.review_record(user=crew["owner"], image=image, verdict="real")
    assert AuditEvent.objects.get(action="case.reopened").details["previous_verdict"] == "real"


def test_a_case_cannot_be_finalised_while_analyses_run(crew, make_case):
    case = make_case(labels=(None,))
    with pytest.raises(InvalidTransition, match="still being analysed"):
        services.case_finalise(user=crew["lead"], case=case, verdict="real")


def test_a_lead_assigns_a_case_only_to_a_team_member(client, crew, make_case):
    case = make_case()
    client.force_login(crew["lead"])
    client.post(reverse("verification:case_assign", args=[case.pk]), {"assignee": crew["teammate"].pk})
    assert Case.objects.get().assignee == crew["teammate"]
    with pytest.raises(VerityError, match="not in"):
        services.case_assign(user=crew["lead"], case=case, assignee=crew["outsider"])
    assert AuditEvent.objects.filter(action="case.assigned").count() == 1


def test_a_rerun_with_another_version_queues_a_new_analysis_after_commit(client, crew, make_case, _no_broker,
                                                                          django_capture_on_commit_callbacks):
    case = make_case(labels=("ai_generated",))
    image = case.images.get()
    other = ModelVersion.objects.create(name="resnet50-v2", checkpoint="/m/v2.pt", checkpoint_sha256="b" * 64)
    client.force_login(crew["teammate"])
    _no_broker.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("verification:image_rerun", args=[image.pk]), {"model_version": other.pk})
    new = Analysis.objects.filter(image=image).order_by("-id").first()
    assert new.status == AnalysisStatus.QUEUED and new.model_version == other
    assert _no_broker == [new.pk]
    assert Analysis.objects.filter(image=image).count() == 2
    body = client.get(reverse("verification:case_detail", args=[case.pk])).content.decode()
    assert "Waiting in the queue" in body and "Earlier analyses" in body
