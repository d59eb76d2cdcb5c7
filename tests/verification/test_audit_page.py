"""The audit page reads like a log a lead can use: details, plain-word search, links, zoned times."""

from __future__ import annotations

import pytest
from django.urls import reverse

from verification import services


@pytest.fixture
def reviewed(make_case, crew, client):  # type: ignore[no-untyped-def]
    case = make_case("Flood at the dam", labels=("ai_generated", "real"))
    first, second = case.images.order_by("pk")
    services.review_record(user=crew["owner"], image=first, verdict="real", comment="We have the raw file")
    services.review_record(user=crew["owner"], image=second, verdict="real")
    client.post(reverse("login"), {"username": "owner", "password": "pw-owner-123!"})
    client.logout()
    client.force_login(crew["lead"])
    client.get(reverse("verification:case_report", args=[case.pk]))
    return case


def _rows(client, **params):  # type: ignore[no-untyped-def]
    response = client.get(reverse("verification:audit_log"), params)
    assert response.status_code == 200
    return response, [e.action for e in response.context["page"].object_list]


@pytest.mark.parametrize(("word", "actions"), [
    ("login", {"user.logged_in"}), ("override", {"review.overridden"}), ("export", {"case.exported"}),
    ("Override flood", {"review.overridden"}), ("confirmed", {"review.confirmed"}),
])
def test_plain_words_find_the_actions_they_mean(client, reviewed, word, actions) -> None:
    _, found = _rows(client, q=word)
    assert set(found) == actions


def test_the_details_column_shows_verdicts_and_override_comments(client, reviewed) -> None:
    response, _ = _rows(client, q="override")
    body = response.content.decode()
    assert "<th scope=\"col\">Details</th>" in body
    assert "real (model: ai generated) — “We have the raw file”" in body


def test_rows_link_to_their_objects_and_times_name_their_zone(client, reviewed, settings) -> None:
    response, _ = _rows(client, q="export")
    body = response.content.decode()
    assert f'href="{reverse("verification:case_detail", args=[reviewed.pk])}">case {reviewed.pk}</a>' in body
    assert " UTC</time>" in body and '<time datetime="' in body


def test_the_csv_carries_the_summary_and_the_chain(client, reviewed) -> None:
    body = client.get(reverse("verification:audit_csv"), {"q": "override"}).content.decode()
    header, row = body.splitlines()[:2]
    assert header.endswith("summary,details,chain,seq,hash")
    assert "We have the raw file" in row and f"team:{reviewed.team_id}" in row
