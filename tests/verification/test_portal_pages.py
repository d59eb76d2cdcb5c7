"""Every new page and media URL as an owner, a teammate, an outsider, a lead and an admin, plus the
reports, the audit log, the login record and the people page."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.images import png_bytes
from verification import services
from verification.models import Analysis, AuditEvent, Membership, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(crew, make_case):
    return make_case(title="Storm over the bay", labels=("ai_generated",), tags="weather")


def case_urls(case):
    image = case.images.get()
    analysis = Analysis.objects.get(image=image)
    return [
        reverse("verification:case_detail", args=[case.pk]),
        reverse("verification:case_status", args=[case.pk]),
        reverse("verification:case_report", args=[case.pk]),
        reverse("verification:case_report_pdf", args=[case.pk]),
        reverse("verification:image_file", args=[image.pk]),
        reverse("verification:analysis_file", args=[analysis.pk, "overlay"]),
        reverse("verification:analysis_file", args=[analysis.pk, "heatmap"]),
    ]


LEAD_PAGES = ["verification:audit_log", "verification:audit_csv", "verification:dashboard_model",
              "verification:dashboard_live", "verification:dashboard_datasets", "verification:dashboard_operations"]


@pytest.mark.parametrize("who", ["owner", "teammate", "lead", "admin"])
def test_team_members_open_every_case_page_report_and_media(client, crew, case, who):
    client.force_login(crew[who])
    for url in case_urls(case):
        assert client.get(url).status_code == 200, url


def test_an_outsider_gets_404_for_every_case_page_report_and_media(client, crew, case):
    client.force_login(crew["outsider"])
    for url in case_urls(case):
        assert client.get(url).status_code == 404, url
    assert not AuditEvent.objects.filter(action="case.exported").exists()


def test_anonymous_visitors_are_sent_to_log_in_from_every_new_page(client, case):
    urls = case_urls(case) + [reverse(name) for name in LEAD_PAGES] + [reverse("verification:people"),
                                                                       reverse("verification:models"),
                                                                       reverse("verification:case_list_csv")]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


@pytest.mark.parametrize("who", ["owner", "teammate", "outsider"])
def test_reviewers_are_told_dashboards_and_the_audit_log_are_for_leads(client, crew, who):
    client.force_login(crew[who])
    for name in LEAD_PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 403, name
        assert "leads and admins" in response.content.decode()


@pytest.mark.parametrize("who", ["lead", "admin"])
def test_leads_and_admins_open_dashboards_and_the_audit_log(client, crew, case, who):
    client.force_login(crew[who])
    for name in LEAD_PAGES:
        assert client.get(reverse(name)).status_code == 200, name


def test_the_heatmap_png_is_served_bare_and_the_page_has_an_opacity_slider(client, crew, case):
    client.force_login(crew["teammate"])
    analysis = Analysis.objects.get(image__case=case)
    heatmap = client.get(reverse("verification:analysis_file", args=[analysis.pk, "heatmap"]))
    assert heatmap["Content-Type"] == "image/png" and heatmap.content[:4] == b"\x89PNG"
    body = client.get(reverse("verification:case_detail", args=[case.pk])).content.decode()
    assert 'type="range"' in body and f'data-target="overlay-{analysis.image_id}"' in body
    assert reverse("verification:analysis_file", args=[analysis.pk, "heatmap"]) in body


def test_a_probability_near_the_threshold_is_shown_as_uncertain(client, crew, make_case, settings):
    settings.VERITY_UNCERTAIN_MARGIN = 0.1
    near = make_case(title="Close call", labels=("ai_generated",), p=0.55)
    far = make_case(title="Clear", labels=("ai_generated",), p=0.95)
    client.force_login(crew["owner"])
    # The model's box follows the current margin; the stored evidence keeps the rules as applied
    # when the analysis was recorded (docs/verdicts.md), so only the box is checked after the change.
    box = '<span class="label">Uncertain</span>'
    assert box in client.get(reverse("verification:case_detail", args=[near.pk])).content.decode()
    assert "Uncertain" not in client.get(reverse("verification:case_detail", args=[far.pk])).content.decode()
    settings.VERITY_UNCERTAIN_MARGIN = 0.01
    assert box not in client.get(reverse("verification:case_detail", args=[near.pk])).content.decode()


def test_the_html_report_holds_verdicts_decisions_and_the_audit_trail(client, crew, case):
    image = case.images.get()
    services.review_record(user=crew["teammate"], image=image, verdict="real", comment="Shot on film, we have the negative")
    services.case_finalise(user=crew["lead"], case=case, verdict="real", comment="Negative inspected")
    client.force_login(crew["owner"])
    body = client.get(reverse("verification:case_report", args=[case.pk])).content.decode()
    for text in ("Storm over the bay", "Shot on film, we have the negative", "Negative inspected", "review.overridden",
                 "case.finalised", "AI-generated", "disagrees with the model"):
        assert text in body, text
    assert AuditEvent.objects.get(action="case.exported").details == {"format": "html"}


def test_the_pdf_report_is_a_pdf_with_the_case_in_it(client, crew, case):
    client.force_login(crew["owner"])
    response = client.get(reverse("verification:case_report_pdf", args=[case.pk]))
    assert response["Content-Type"] == "application/pdf" and response.content[:5] == b"%PDF-"
    assert f"verity-case-{case.pk}.pdf" in response["Content-Disposition"]
    assert len(response.content) > 2000  # text, two pictures and the audit trail
    assert AuditEvent.objects.get(action="case.exported").details == {"format": "pdf"}


def test_logging_in_writes_an_audit_event(client, crew):
    client.post(reverse("login"), {"username": "owner", "password": "pw-owner-123!"})
    event = AuditEvent.objects.get(action="user.logged_in")
    assert event.actor == crew["owner"] and event.team == crew["team"]


def test_the_audit_log_shows_only_the_leads_teams_and_searches(client, crew, case):
    services.case_submit(user=crew["outsider"], team=crew["other_team"], title="Elsewhere",
                         files=[SimpleUploadedFile("e.png", png_bytes(seed=50))])
    client.force_login(crew["lead"])
    response = client.get(reverse("verification:audit_log"))
    actions = [(e.action, e.case.title if e.case else None) for e in response.context["page"].object_list]
    assert ("case.submitted", "Storm over the bay") in actions
    assert all(title != "Elsewhere" for _, title in actions)
    searched = client.get(reverse("verification:audit_log"), {"q": "storm", "action": "analysis.done"})
    assert [e.action for e in searched.context["page"].object_list] == ["analysis.done"]


def test_the_audit_csv_exports_the_filtered_log_and_is_itself_audited(client, crew, case):
    client.force_login(crew["lead"])
    response = client.get(reverse("verification:audit_csv"), {"action": "case.submitted"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["action"] for r in rows] == ["case.submitted"] and rows[0]["case_title"] == "Storm over the bay"
    assert AuditEvent.objects.get(action="audit.exported").details["rows"] == 1


def test_an_admin_creates_a_user_with_a_role_and_a_reviewer_cannot(client, crew):
    url = reverse("verification:people")
    client.force_login(crew["owner"])
    assert client.get(url).status_code == 403
    client.force_login(crew["admin"])
    response = client.post(url, {"username": "newbie", "email": "n@example.org", "password": "a-long-Passphrase-9",
                                 "team": crew["team"].pk, "role": "lead"})
    assert response.status_code == 302
    membership = Membership.objects.get(user__username="newbie")
    assert membership.role == Role.LEAD and membership.team == crew["team"]
    assert AuditEvent.objects.get(action="user.created").details == {"user": "newbie", "role": "lead"}
    assert client.login(username="newbie", password="a-long-Passphrase-9")


def test_a_weak_first_password_is_refused_with_the_reason(client, crew):
    client.force_login(crew["admin"])
    response = client.post(reverse("verification:people"), {"username": "weak", "password": "123",
                                                             "team": crew["team"].pk, "role": "reviewer"})
    assert response.status_code == 400 and "too short" in response.content.decode()
    assert not Membership.objects.filter(user__username="weak").exists()


def test_an_admin_changes_a_role_but_not_in_another_team(client, crew):
    client.force_login(crew["admin"])
    mine = Membership.objects.get(user=crew["teammate"])
    client.post(reverse("verification:membership_role", args=[mine.pk]), {"role": "lead"})
    assert Membership.objects.get(pk=mine.pk).role == Role.LEAD
    theirs = Membership.objects.get(user=crew["outsider"])
    assert client.post(reverse("verification:membership_role", args=[theirs.pk]), {"role": "admin"}).status_code == 404
    assert Membership.objects.get(pk=theirs.pk).role == Role.REVIEWER


def test_the_case_page_needs_the_same_number_of_queries_for_one_image_or_many(client, crew, make_case,
                                                                                django_assert_max_num_queries):
    client.force_login(crew["lead"])
    small = make_case(title="one", labels=("real",))
    with django_assert_max_num_queries(40) as baseline:
        client.get(reverse("verification:case_detail", args=[small.pk]))
    big = make_case(title="many", labels=("real", "ai_generated", "real", "ai_generated", "real"))
    for image in big.images.all():
        services.review_record(user=crew["owner"], image=image, verdict="real", comment="checked")
    services.comment_add(user=crew["owner"], case=big, body="first")
    with django_assert_max_num_queries(len(baseline.captured_queries)):
        response = client.get(reverse("verification:case_detail", args=[big.pk]))
    assert response.status_code == 200 and len(response.context["rows"]) == 5


def test_promoting_a_version_in_the_admin_is_audited(client, crew, version, django_user_model):
    from verification.models import ModelVersion

    root = django_user_model.objects.create_superuser("root", password="pw-root-12345!")
    newer = ModelVersion.objects.create(name="resnet50-v2", checkpoint="/m/v2.pt", checkpoint_sha256="d" * 64)
    client.force_login(root)
    client.post(reverse("admin:verification_modelversion_changelist"),
                {"action": "promote", "_selected_action": [newer.pk]})
    assert ModelVersion.objects.get(is_active=True) == newer
    event = AuditEvent.objects.get(action="model.activated")
    assert event.actor == root and event.details["previous"] == version.pk


def test_an_admin_promotes_a_model_version_and_a_lead_cannot(client, crew, version):
    from verification.models import ModelVersion

    newer = ModelVersion.objects.create(name="resnet50-v2", checkpoint="/m/v2.pt", checkpoint_sha256="e" * 64)
    url = reverse("verification:models")
    client.force_login(crew["lead"])
    assert client.get(url).status_code == 403
    assert client.post(url, {"version": newer.pk}).status_code == 403
    assert ModelVersion.objects.get(is_active=True) == version
    client.force_login(crew["admin"])
    body = client.get(url).content.decode()
    assert "resnet50-v2" in body and "85.0%" in body
    client.post(url, {"version": newer.pk, "note": "better on the new test split"})
    assert ModelVersion.objects.get(is_active=True) == newer
    event = AuditEvent.objects.get(action="model.activated")
    assert event.actor == crew["admin"] and event.details["note"] == "better on the new test split"
    # Promotions concern every team: admins see them in the audit log, leads (team-scoped) do not.
    log = reverse("verification:audit_log")
    assert "model.activated" in [e.action for e in client.get(log).context["page"].object_list]
    client.force_login(crew["lead"])
    assert "model.activated" not in [e.action for e in client.get(log).context["page"].object_list]


@pytest.mark.parametrize("url,data", [
    ("/cases/new/", {"source_url": "not a url"}),
    ("/account/tokens/", {"name": ""}),
    ("/people/", {"username": "", "email": "not an email"}),
])
def test_form_fields_point_screen_readers_at_their_help_text_and_errors(client, crew, url, data):
    import re

    client.force_login(crew["admin"])
    page = client.post(url, data).content.decode()
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    described = [i for refs in re.findall(r'aria-describedby="([^"]+)"', page) for i in refs.split()]
    assert any(i.endswith("_error") for i in described) and any(i.endswith("_helptext") for i in described)
    assert [i for i in described if i not in ids] == []
