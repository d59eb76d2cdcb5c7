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
