"""The portal page where people create, see and revoke their API tokens."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from verification.models import ApiToken
from verification.models import AuditEvent

pytestmark = pytest.mark.django_db


def _secret(html: str, testid: str = "token-secret") -> str:
    match = re.search(rf'data-testid="{testid}">([^<]+)<', html)
    assert match, "the secret is shown on the page"
    return match.group(1)


def test_creating_a_token_shows_its_secret_once_and_stores_only_a_hash(client, people):
    client.force_login(people["owner"])
    response = client.post(reverse("token_list"), {"name": "CMS bot", "scopes": ["read", "submit"]})
    assert response.status_code == 201
    secret = _secret(response.content.decode())
    token = ApiToken.objects.get(user=people["owner"])
    assert token.name == "CMS bot" and token.scopes == ["read", "submit"] and secret.startswith(f"vty_{token.prefix}_")
    assert secret not in client.get(reverse("token_list")).content.decode()  # never shown again
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert AuditEvent.objects.filter(action="token.created", actor=people["owner"]).count() == 1
    api = client.get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.status_code == 200


def test_a_token_always_has_the_read_scope(client, people):
    client.force_login(people["owner"])
    client.post(reverse("token_list"), {"name": "reader"})
    assert ApiToken.objects.get().scopes == ["read"]


def test_the_list_shows_name_prefix_and_last_use_but_only_the_users_own_tokens(client, people, token_for):
    token_for("owner", name="owner's bot")
    token_for("teammate", name="teammate's bot")
    client.force_login(people["owner"])
    page = client.get(reverse("token_list")).content.decode()
    assert "owner&#x27;s bot" in page and "teammate&#x27;s bot" not in page
    prefix = ApiToken.objects.get(user=people["owner"]).prefix
    assert f"vty_{prefix}_" in page and "never" in page


def test_a_user_revokes_their_token_and_it_stops_working(client, people, token_for):
    secret = token_for("owner", name="old")
    token = ApiToken.objects.get(name="old")
    client.force_login(people["owner"])
    response = client.post(reverse("token_revoke", args=[token.pk]))
    assert response.status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    client.logout()
    assert client.get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_nobody_can_revoke_another_users_token(client, people, token_for):
    token_for("owner", name="mine")
    token = ApiToken.objects.get(name="mine")
    client.force_login(people["teammate"])
    client.post(reverse("token_revoke", args=[token.pk]))
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert not AuditEvent.objects.filter(action="token.revoked").exists()


def test_a_duplicate_name_is_refused_with_a_message(client, people, token_for):
    token_for("owner", name="bot")
    client.force_login(people["owner"])
    response = client.post(reverse("token_list"), {"name": "bot", "scopes": ["read"]})
    assert response.status_code == 400 and "already have a token named" in response.content.decode()
    assert ApiToken.objects.filter(user=people["owner"]).count() == 1


def test_a_webhook_token_gets_a_signing_secret(client, people):
    client.force_login(people["owner"])
    response = client.post(reverse("token_list"), {"name": "hooked", "scopes": ["read", "submit"],
                                                   "webhook_url": "https://hooks.example.com/verity"})
    assert response.status_code == 201
    secret = _secret(response.content.decode(), "webhook-secret")
    assert ApiToken.objects.get().webhook_secret == secret and secret.startswith("whsec_")


@pytest.mark.parametrize("url", ["http://hooks.example.com/x", "https://127.0.0.1/x",
                                 "https://internal.example.com/x"])
def test_a_webhook_url_that_could_reach_internal_services_is_refused(client, people, url):
    client.force_login(people["owner"])
    response = client.post(reverse("token_list"), {"name": "hooked", "webhook_url": url})
    assert response.status_code == 400 and not ApiToken.objects.exists()


def test_the_token_page_needs_a_login(client):
    response = client.get(reverse("token_list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_an_admin_revokes_a_token_from_the_admin_and_is_named_in_the_audit(client, admin_user, people, token_for):
    token_for("owner", name="leaked")
    token = ApiToken.objects.get(name="leaked")
    client.force_login(admin_user)
    response = client.post(reverse("admin:verification_apitoken_changelist"),
                           {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert AuditEvent.objects.get(action="token.revoked").actor == admin_user
    page = client.get(reverse("admin:verification_apitoken_change", args=[token.pk])).content.decode()
    assert token.token_hash not in page
