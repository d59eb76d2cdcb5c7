"""The case list: search, filters, sort, pagination, CSV export, and a query count that does not
grow with the number of rows."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from verification import services
from verification.models import AuditEvent, Case

pytestmark = pytest.mark.django_db

URL = reverse("verification:case_list")


def titles(response) -> list[str]:
    return [c.title for c in response.context["page"].object_list]


@pytest.fixture
def cases(crew, make_case):
    flood = make_case(title="Flood in Valencia", labels=("ai_generated",), tags="flood, spain")
    protest = make_case(title="Protest crowd", labels=("real",), tags="politics")
    summit = make_case(title="Summit handshake", labels=("real", "ai_generated"), tags="politics")
    services.case_finalise(user=crew["lead"], case=protest, verdict="ai_generated", comment="Known fake")
    services.case_finalise(user=crew["lead"], case=summit, verdict="ai_generated")
    services.case_assign(user=crew["lead"], case=flood, assignee=crew["teammate"])
    return {"flood": flood, "protest": protest, "summit": summit}


def test_search_matches_title_tag_and_source(client, crew, cases):
    client.force_login(crew["owner"])
    assert titles(client.get(URL, {"q": "valencia"})) == ["Flood in Valencia"]
    assert sorted(titles(client.get(URL, {"q": "politics"}))) == ["Protest crowd", "Summit handshake"]
    assert titles(client.get(URL, {"q": "example.org/protest"})) == ["Protest crowd"]


def test_filters_narrow_the_list(client, crew, cases):
    client.force_login(crew["owner"])
    assert titles(client.get(URL, {"status": "open"})) == ["Flood in Valencia"]
    assert sorted(titles(client.get(URL, {"verdict": "ai_generated"}))) == ["Protest crowd", "Summit handshake"]
    assert titles(client.get(URL, {"model": "real"})) == ["Protest crowd"]
    assert titles(client.get(URL, {"assignee": crew["teammate"].pk})) == ["Flood in Valencia"]
    assert sorted(titles(client.get(URL, {"assignee": "none"}))) == ["Protest crowd", "Summit handshake"]
    # Only the protest's final verdict contradicts its model verdict (the summit's model said AI too).
    assert titles(client.get(URL, {"disagreement": "on"})) == ["Protest crowd"]


def test_the_date_filter_uses_the_submission_day(client, crew, cases):
    Case.objects.filter(pk=cases["flood"].pk).update(created_at=timezone.now() - timedelta(days=10))
    client.force_login(crew["owner"])
    since = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert "Flood in Valencia" not in titles(client.get(URL, {"date_from": since}))
    assert titles(client.get(URL, {"date_to": since})) == ["Flood in Valencia"]


def test_sorting_by_title_and_oldest(client, crew, cases):
    client.force_login(crew["owner"])
    assert titles(client.get(URL, {"sort": "title"})) == ["Flood in Valencia", "Protest crowd", "Summit handshake"]
    assert titles(client.get(URL, {"sort": "oldest"}))[0] == "Flood in Valencia"


def test_an_empty_result_says_how_to_clear_the_filters(client, crew, cases):
    client.force_login(crew["owner"])
    body = client.get(URL, {"q": "nothing like this"}).content.decode()
    assert "No case matches these filters" in body


def test_the_list_is_paginated_and_keeps_the_filters_in_page_links(client, crew, make_case, settings):
    for i in range(27):
        make_case(title=f"Case {i:02d}", labels=(None,), tags="bulk")
    client.force_login(crew["owner"])
    first = client.get(URL, {"q": "bulk", "sort": "title"})
    assert len(titles(first)) == 25 and first.context["page"].paginator.num_pages == 2
    assert "q=bulk&amp;sort=title&amp;page=2" in first.content.decode()
    assert titles(client.get(URL, {"q": "bulk", "sort": "title", "page": 2})) == ["Case 25", "Case 26"]


def test_the_number_of_queries_does_not_grow_with_rows(client, crew, make_case, django_assert_max_num_queries):
    client.force_login(crew["owner"])
    make_case(title="one", labels=("real",), tags="a, b")
    with django_assert_max_num_queries(20) as few:
        client.get(URL)
    for i in range(12):
        make_case(title=f"more {i}", labels=("real", "ai_generated"), tags="a, b, c")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(URL)
    assert len(titles(response)) == 13


def test_an_outsider_sees_none_of_the_teams_cases(client, crew, cases):
    client.force_login(crew["outsider"])
    assert titles(client.get(URL)) == []
    rows = list(csv.reader(io.StringIO(client.get(reverse("verification:case_list_csv")).content.decode())))
    assert rows == [rows[0]]


def test_the_csv_export_follows_the_filters_and_is_audited(client, crew, cases):
    client.force_login(crew["teammate"])
    response = client.get(reverse("verification:case_list_csv"), {"q": "politics", "sort": "title"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["title"] for r in rows] == ["Protest crowd", "Summit handshake"]
    assert rows[0]["final_verdict"] == "ai_generated" and rows[0]["model_verdict"] == "real"
    assert rows[0]["disagreement"] == "yes" and rows[1]["images"] == "2"
    event = AuditEvent.objects.get(action="cases.exported")
    assert event.actor == crew["teammate"] and event.details["rows"] == 2 and event.details["filters"]["q"] == "politics"


def test_csv_cells_that_look_like_formulas_are_neutralised(client, crew, make_case):
    make_case(title="=HYPERLINK(\"http://evil\")", labels=(None,))
    client.force_login(crew["owner"])
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("verification:case_list_csv")).content.decode())))
    assert rows[0]["title"].startswith("'=")
