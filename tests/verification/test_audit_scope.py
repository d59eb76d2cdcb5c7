"""Who sees which audit events: a team's admins see their teams' events and the model's life cycle,
never another team's people's events (issue 16, hole 2)."""

import pytest
from django.urls import reverse

from verification import services
from verification.models import AuditEvent, Membership, Role

pytestmark = pytest.mark.django_db


def test_a_team_admin_does_not_see_another_teams_token_events_in_the_log_or_the_csv(client, crew):
    issued = services.token_create(user=crew["outsider"], name="other desk's bot", scopes=["read"])
    services.token_revoke(user=crew["outsider"], token_id=issued.token.pk)
    client.force_login(crew["admin"])
    page = client.get(reverse("verification:audit_log"))
    actions = [e.action for e in page.context["page"].object_list]
    assert "token.created" not in actions and "token.revoked" not in actions
    csv_body = client.get(reverse("verification:audit_csv")).content.decode()
    assert "token.created" not in csv_body and "other desk's bot" not in csv_body


def test_a_token_event_carries_its_owners_team_so_that_teams_admin_sees_it(client, crew):
    services.token_create(user=crew["owner"], name="metro bot", scopes=["read"])
    assert AuditEvent.objects.get(action="token.created").team == crew["team"]
    client.force_login(crew["admin"])
    assert "metro bot" in client.get(reverse("verification:audit_csv")).content.decode()


def test_team_less_events_other_than_the_models_life_cycle_are_for_superusers_only(client, crew,
                                                                                   django_user_model):
    from verification.audit import record_event

    loner = django_user_model.objects.create_user("loner", password="pw-loner-123!")  # in no team
    services.token_create(user=loner, name="loner bot", scopes=["read"])
    record_event(action="model.activated", obj=loner, details={})  # a team-less event for everyone
    client.force_login(crew["admin"])
    actions = [e.action for e in client.get(reverse("verification:audit_log")).context["page"].object_list]
    assert "token.created" not in actions and "model.activated" in actions
    root = django_user_model.objects.create_superuser("root", password="pw-root-123!")
    client.force_login(root)
    assert "loner bot" in client.get(reverse("verification:audit_csv")).content.decode()


def test_an_admin_of_two_teams_sees_both_teams_events(client, crew):
    Membership.objects.create(user=crew["admin"], team=crew["other_team"], role=Role.ADMIN)
    services.token_create(user=crew["outsider"], name="other desk's bot", scopes=["read"])
    client.force_login(crew["admin"])
    assert "other desk's bot" in client.get(reverse("verification:audit_csv")).content.decode()
