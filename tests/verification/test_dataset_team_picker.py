"""A new dataset's team is chosen, not guessed (issue 16): an admin of several teams picks one of
the teams they administer on the Datasets page and in the API; an admin of one team gets it by
default; a superuser may pick any team. Another team is refused, and a refused registration
writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.dataset_zips import as_upload, split_layout, zip_bytes
from verification import services
from verification.models import Dataset, Membership, Role, Team

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords", "dataset_dir", "no_dataset_scans")]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "newsroom"
    root.mkdir()
    return root


@pytest.fixture
def led(db) -> Team:  # type: ignore[no-untyped-def]
    """A third team, where the two-team admin is only a lead."""
    return Team.objects.create(name="Sports desk")


@pytest.fixture
def double(crew, led, django_user_model) -> Any:  # type: ignore[no-untyped-def]
    """An admin of both the crew's team and the other team, and a lead of a third."""
    user = django_user_model.objects.create_user("double", password="pw-double-123!")
    Membership.objects.create(user=user, team=crew["team"], role=Role.ADMIN)
    Membership.objects.create(user=user, team=crew["other_team"], role=Role.ADMIN)
    Membership.objects.create(user=user, team=led, role=Role.LEAD)
    return user


def api_for(user: Any) -> APIClient:
    client = APIClient()
    secret = services.token_create(user=user, name="datasets", scopes=("read", "submit")).secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _team_choices(form: Any) -> list[int]:
    return [team.pk for team in form.fields["team"].queryset]


def test_an_admin_of_several_teams_must_pick_one_of_them_on_the_datasets_page(client, crew, double, led, folder):
    client.force_login(double)
    page = client.get(reverse("verification:datasets"))
    for key in ("path", "archive", "reviews"):
        form = page.context["forms"][key]
        assert sorted(_team_choices(form)) == sorted([crew["team"].pk, crew["other_team"].pk])
        assert form.fields["team"].initial is None
    url = reverse("verification:datasets")
    refused = client.post(url, {"intake": "path", "name": "newsroom", "path": str(folder)})
    assert refused.status_code == 400 and "Choose a team." in refused.content.decode()
    assert client.post(url, {"intake": "path", "name": "newsroom", "path": str(folder),
                             "team": led.pk}).status_code == 400  # a team they only lead
    assert not Dataset.objects.exists()
    chosen = client.post(url, {"intake": "path", "name": "newsroom", "path": str(folder),
                               "team": crew["other_team"].pk})
    assert chosen.status_code == 302 and Dataset.objects.get().team == crew["other_team"]


def test_an_admin_of_one_team_gets_it_by_default(client, crew, folder):
    client.force_login(crew["admin"])
    form = client.get(reverse("verification:datasets")).context["forms"]["path"]
    assert _team_choices(form) == [crew["team"].pk] and form.fields["team"].initial == crew["team"]
    response = client.post(reverse("verification:datasets"), {"intake": "path", "name": "newsroom",
                                                              "path": str(folder)})
    assert response.status_code == 302 and Dataset.objects.get().team == crew["team"]


def test_the_api_takes_a_team_the_admin_administers_and_refuses_any_other_alike(crew, double, led, folder,
                                                                               dataset_dir):
    api = api_for(double)
    missing = api.post("/api/v1/datasets/", {"name": "newsroom", "path": str(folder)}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["details"] == {"team": ["Choose a team."]}
    answers = [api.post("/api/v1/datasets/", {"name": "newsroom", "path": str(folder), "team": pk}, format="json")
               for pk in (led.pk, 987654)]
    assert [r.status_code for r in answers] == [400, 400] and answers[0].json() == answers[1].json()
    assert answers[0].json()["error"]["details"] == {"team": ["No such team among those you administer."]}
    upload = api.post("/api/v1/datasets/", {"name": "zipped", "archive": as_upload(zip_bytes(split_layout()))},
                      format="multipart")
    assert upload.status_code == 400 and "team" in upload.json()["error"]["details"]
    assert not Dataset.objects.exists() and not (dataset_dir.exists() and any(dataset_dir.iterdir()))

    made = api.post("/api/v1/datasets/", {"name": "newsroom", "path": str(folder), "team": crew["other_team"].pk},
                    format="json")
    assert made.status_code == 202 and made.json()["team"] == crew["other_team"].pk
    assert Dataset.objects.get().team == crew["other_team"]
    # An admin of one team may leave it out.
    alone = api_for(crew["admin"]).post("/api/v1/datasets/", {"name": "metro", "path": str(folder)}, format="json")
    assert alone.status_code == 202 and alone.json()["team"] == crew["team"].pk


def test_a_superuser_may_pick_any_team(crew, led, folder, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw-root-123!")
    response = api_for(root).post("/api/v1/datasets/", {"name": "sports", "path": str(folder), "team": led.pk},
                                  format="json")
    assert response.status_code == 202 and Dataset.objects.get().team == led
