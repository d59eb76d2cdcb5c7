"""Every admin-only and lead-only page and API endpoint refuses a reviewer and an outsider and lets
the right role in: the pages through one decorator (views._common.role_required), the API through
one permission class (api.permissions.IsVerityAdmin)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from verification import services
from verification.models import Membership, Role, ScanStatus, TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def run(crew, django_user_model) -> TrainingRun:  # type: ignore[no-untyped-def]
    from verification.models import Dataset

    dataset = Dataset.objects.create(name="demo", path="/data/demo", fingerprint="f" * 64, status=ScanStatus.READY)
    return TrainingRun.objects.create(dataset=dataset, hyperparameters={"epochs": 1})


# (url name, its arguments, method): pages for admins of some team (or superusers).
ADMIN_PAGES: list[tuple[str, list[str], str]] = [
    ("verification:people", [], "get"),
    ("verification:models", [], "get"),
    ("verification:models_compare", [], "get"),
    ("verification:models_evaluate", [], "post"),
    ("verification:datasets", [], "get"),
    ("verification:training_runs", [], "get"),
    ("verification:training_run", ["run"], "get"),
    ("verification:training_run_status", ["run"], "get"),
    ("verification:training_run_cancel", ["run"], "post"),
]
# Pages for leads and admins of some team (or superusers).
LEAD_PAGES: list[tuple[str, list[str], str]] = [
    ("verification:audit_log", [], "get"),
    ("verification:audit_csv", [], "get"),
    ("verification:dashboard_model", [], "get"),
    ("verification:dashboard_live", [], "get"),
    ("verification:dashboard_datasets", [], "get"),
    ("verification:dashboard_operations", [], "get"),
]
# API endpoints for admins (IsVerityAdmin).
ADMIN_ENDPOINTS = [
    ("get", "/api/v1/datasets/"),
    ("get", "/api/v1/datasets/{run.dataset_id}/"),
    ("get", "/api/v1/training-runs/"),
    ("get", "/api/v1/training-runs/{run.pk}/"),
    ("get", "/api/v1/evaluations/"),
]


def _url(name: str, args: list[str], run: TrainingRun) -> str:
    return reverse(name, args=[run.pk if a == "run" else a for a in args])


def _page(client: Any, method: str, url: str) -> Any:
    return client.post(url, {}) if method == "post" else client.get(url)


@pytest.mark.parametrize("name,args,method", ADMIN_PAGES)
@pytest.mark.parametrize("who", ["owner", "outsider", "lead"])
def test_admin_pages_refuse_reviewers_outsiders_and_leads(client, crew, run, name, args, method, who):
    client.force_login(crew[who])
    response = _page(client, method, _url(name, args, run))
    assert response.status_code == 403
    assert TrainingRun.objects.get(pk=run.pk).cancel_requested is False


@pytest.mark.parametrize("name,args,method", ADMIN_PAGES)
def test_admin_pages_let_an_admin_in(client, crew, run, name, args, method):
    client.force_login(crew["admin"])
    assert _page(client, method, _url(name, args, run)).status_code in (200, 302)


@pytest.mark.parametrize("name,args,method", LEAD_PAGES)
@pytest.mark.parametrize("who", ["owner", "outsider"])
def test_lead_pages_refuse_reviewers_and_outsiders(client, crew, run, name, args, method, who):
    client.force_login(crew[who])
    response = _page(client, method, _url(name, args, run))
    assert response.status_code == 403
    assert b"leads and admins" in response.content


@pytest.mark.parametrize("name,args,method", LEAD_PAGES)
@pytest.mark.parametrize("who", ["lead", "admin"])
def test_lead_pages_let_leads_and_admins_in(client, crew, run, name, args, method, who):
    client.force_login(crew[who])
    assert _page(client, method, _url(name, args, run)).status_code == 200


def _api(user: Any) -> APIClient:
    client = APIClient()
    secret = services.token_create(user=user, name="guard", scopes=("read", "submit")).secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.parametrize("method,path", ADMIN_ENDPOINTS)
@pytest.mark.parametrize("who", ["owner", "outsider", "lead"])
def test_admin_endpoints_refuse_everyone_but_admins(crew, run, method, path, who):
    response = getattr(_api(crew[who]), method)(path.format(run=run))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("method,path", ADMIN_ENDPOINTS)
def test_admin_endpoints_let_an_admin_in(crew, run, method, path):
    assert getattr(_api(crew["admin"]), method)(path.format(run=run)).status_code == 200


def test_a_superuser_in_no_team_passes_both_doors(client, crew, run, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw-root-123!")
    assert not Membership.objects.filter(user=root).exists()
    client.force_login(root)
    assert client.get(reverse("verification:models")).status_code == 200
    assert client.get(reverse("verification:audit_log")).status_code == 200
    assert _api(root).get("/api/v1/training-runs/").status_code == 200


def test_the_role_lookup_is_one_selector(crew):
    from verification import selectors

    assert selectors.role_in(crew["owner"], crew["team"]) == Role.REVIEWER
    assert selectors.role_in(crew["lead"], crew["team"]) == Role.LEAD
    assert selectors.role_in(crew["outsider"], crew["team"]) is None
