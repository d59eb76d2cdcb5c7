"""Fixtures of the API tests: a token per person (owner, teammate, outsider, admin) and a case."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.images import heatmap_png


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:  # type: ignore[no-untyped-def]
    # The people fixture hashes four passwords per test; PBKDF2 would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> None:
    # Throttle counters live in the (per-process) cache: one test's requests must not limit the next.
    cache.clear()


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record what would be sent to the broker instead of sending it."""
    sent: list[Any] = []
    monkeypatch.setattr("verification.queue.enqueue_analysis", lambda aid: sent.append(("analyse", aid)))

    def enqueue_analyses(ids: Sequence[int]) -> int:
        sent.extend(("analyse", aid) for aid in ids)
        return len(ids)

    monkeypatch.setattr("verification.queue.enqueue_analyses", enqueue_analyses)
    monkeypatch.setattr("verification.webhooks.enqueue_delivery",
                        lambda did, countdown=0: sent.append(("webhook", did)))
    return sent


# Host names the tests' fake resolver knows; anything else does not resolve. No test asks real DNS.
FAKE_DNS: dict[str, list[str]] = {
    "hooks.example.com": ["93.184.215.14"],
    "hooks6.example.com": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "internal.example.com": ["10.1.2.3"],
    "mixed.example.com": ["93.184.215.14", "192.168.1.20"],
    "metadata.example.com": ["169.254.169.254"],
}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    import ipaddress
    import socket

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        try:
            addresses = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            if host not in FAKE_DNS:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            addresses = FAKE_DNS[host]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port, 0, 0) if ":" in a else (a, port)) for a in addresses]

    monkeypatch.setattr("verification.webhooks.getaddrinfo", getaddrinfo)
    return FAKE_DNS


@pytest.fixture
def admin_user(db, django_user_model, people):  # type: ignore[no-untyped-def]
    """A staff superuser who is a member of no team: admins manage, they do not see team cases."""
    return django_user_model.objects.create_superuser("admin", password="pw-admin-123!")


@pytest.fixture
def token_for(people, admin_user) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    from verification import services

    everyone = {**people, "admin": admin_user}
    made = [0]

    def make(who: str, scopes: tuple[str, ...] = ("read", "submit"), name: str | None = None,
             webhook_url: str = "") -> str:
        made[0] += 1
        return services.token_create(user=everyone[who], name=name or f"{who}-{made[0]}", scopes=scopes,
                                     webhook_url=webhook_url).secret

    return make


@pytest.fixture
def api(token_for) -> Callable[..., APIClient]:  # type: ignore[no-untyped-def]
    """``api("owner")``: a client that sends the owner's read+submit token."""

    def make(who: str | None = None, scopes: tuple[str, ...] = ("read", "submit")) -> APIClient:
        client = APIClient()
        if who is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(who, scopes)}")
        return client

    return make


@pytest.fixture
def record_done() -> Callable[..., Any]:
    from verification import services
    from verification.models import Analysis

    def record(analysis: Any, version: Any, *, label: str = "ai_generated", p: float = 0.91) -> Any:
        services.analysis_start(analysis_id=analysis.pk)
        services.analysis_record(analysis_id=analysis.pk, model_version_id=version.pk,
                                 outcome=services.AnalysisOutcome(
                                     label=label, probability_ai=p, confidence=max(p, 1 - p), threshold=0.5,
                                     crop_box={"left": 0, "top": 0, "width": 64, "height": 64},
                                     timings_ms={"inference_gradcam": 12.5},
                                     heatmap_png=heatmap_png()))
        return Analysis.objects.get(pk=analysis.pk)

    return record


@pytest.fixture
def done_case(people, upload, active_version, record_done):  # type: ignore[no-untyped-def]
    """The owner's case "Storm" with one image whose analysis is done (ai_generated, p=0.91)."""
    from verification import services
    from verification.models import Analysis

    result = services.case_submit(user=people["owner"], team=people["team"], title="Storm over the pier",
                                  source_url="https://social.example/p/1", files=[upload()])
    analysis = record_done(Analysis.objects.get(image=result.images[0]), active_version)
    return result.case, result.images[0], analysis


@pytest.fixture
def spec(client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The generated OpenAPI schema, as served at /api/v1/schema/."""
    import yaml

    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


@pytest.fixture
def lead(people):  # type: ignore[no-untyped-def]
    from verification.models import Membership, Role

    Membership.objects.filter(user=people["teammate"]).update(role=Role.LEAD)
    return people["teammate"]
