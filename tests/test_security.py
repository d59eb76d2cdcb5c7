"""Security checks: CSRF on forms, login rate limits, request size limits, password hashing."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from verification.models import Case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def test_login_is_locked_after_repeated_failures_even_with_the_right_password(client, people, settings):
    settings.VERITY_LOGIN_MAX_FAILURES = 3
    url = reverse("login")
    for _ in range(3):
        assert client.post(url, {"username": "owner", "password": "wrong"}).status_code == 200
    response = client.post(url, {"username": "owner", "password": "pw-owner-123!"})
    assert response.status_code == 429 and "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_other_users_can_still_log_in_while_one_is_locked(client, people, settings):
    settings.VERITY_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        client.post(reverse("login"), {"username": "owner", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "teammate", "password": "pw-mate-123!"})
    assert response.status_code == 302


def test_forms_refuse_posts_without_a_csrf_token(people, upload):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    assert client.post(reverse("login"), {"username": "owner", "password": "pw-owner-123!"}).status_code == 403
    client.force_login(people["owner"])
    response = client.post(reverse("verification:case_create"), {"title": "x", "team": people["team"].pk,
                                                                "images": [upload()]})
    assert response.status_code == 403 and not Case.objects.exists()


def test_an_oversized_request_is_refused_before_its_body_is_read(client, people, settings):
    settings.VERITY_MAX_REQUEST_BYTES = 1000
    client.force_login(people["owner"])
    response = client.generic("POST", reverse("verification:case_create"), b"x" * 2000,
                              content_type="multipart/form-data; boundary=zzz")
    assert response.status_code == 413 and "at most" in response.content.decode()
    assert not Case.objects.exists()


def test_passwords_are_stored_hashed(people):
    stored = people["owner"].password
    assert stored.startswith(("pbkdf2_sha256$", "argon2", "bcrypt")) and "pw-owner-123!" not in stored


def test_the_admin_login_shares_the_limit_and_thirty_guesses_then_the_right_password_get_no_session(
        client, django_user_model, settings):
    from verification.models import AuditEvent

    django_user_model.objects.create_superuser("root", password="pw-root-123!")
    for _ in range(30):
        client.post("/admin/login/", {"username": "root", "password": "guess", "next": "/admin/"})
    response = client.post("/admin/login/", {"username": "root", "password": "pw-root-123!", "next": "/admin/"})
    assert response.status_code == 200  # the admin's form again, not the redirect of a login
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("verification:case_list")).status_code == 302  # the portal asks for a login
    # Failures up to the lockout are audited, then the lockout once; refused attempts add nothing.
    limit = settings.VERITY_LOGIN_MAX_FAILURES
    assert AuditEvent.objects.filter(action="login.failed", details__username="root").count() == limit
    locked = AuditEvent.objects.get(action="login.locked_out")
    assert locked.details["username"] == "root" and locked.actor is None


def test_failures_at_either_door_count_against_the_same_limit(client, people, settings):
    settings.VERITY_LOGIN_MAX_FAILURES = 2
    client.post("/admin/login/", {"username": "owner", "password": "wrong"})
    client.post(reverse("login"), {"username": "owner", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "owner", "password": "pw-owner-123!"})
    assert response.status_code == 429 and "_auth_user_id" not in client.session


def test_guesses_spread_over_many_addresses_still_lock_the_username(client, people, settings):
    settings.VERITY_LOGIN_MAX_FAILURES = 2
    for n in range(10):  # 5 x the per-address limit, each from its own address
        client.post(reverse("login"), {"username": "owner", "password": "wrong"}, REMOTE_ADDR=f"10.0.0.{n}")
    response = client.post(reverse("login"), {"username": "owner", "password": "pw-owner-123!"},
                           REMOTE_ADDR="10.0.1.1")
    assert response.status_code == 429


def test_a_failed_login_for_a_member_is_shown_to_their_teams_admin_not_to_another_team(people):
    from django.test import Client

    from verification import selectors
    from verification.models import AuditEvent, Membership, Role

    Client().post(reverse("login"), {"username": "owner", "password": "wrong"})
    Membership.objects.filter(user=people["teammate"]).update(role=Role.ADMIN)
    Membership.objects.filter(user=people["outsider"]).update(role=Role.ADMIN)
    event = AuditEvent.objects.get(action="login.failed")
    assert event.team == people["team"]
    assert event in selectors.audit_log(people["teammate"])
    assert event not in selectors.audit_log(people["outsider"])
