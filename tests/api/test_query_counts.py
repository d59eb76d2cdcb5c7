"""The API's list endpoints run a fixed number of queries, however many rows they return."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.images import png_bytes
from verification import services
from verification.models import Analysis

pytestmark = pytest.mark.django_db


def _cases(people, upload, active_version, record_done, n, start):
    for i in range(start, start + n):
        result = services.case_submit(user=people["owner"], team=people["team"], title=f"c{i}",
                                      files=[upload(f"{i}.png", png_bytes(seed=i)),
                                             upload(f"{i}b.png", png_bytes(seed=10_000 + i))])
        for image in result.images:
            record_done(Analysis.objects.get(image=image), active_version)


@pytest.mark.parametrize("path", ["/api/v1/cases/", "/api/v1/images/", "/api/v1/analyses/"])
def test_list_endpoints_do_not_run_a_query_per_row(api, people, upload, active_version, record_done, path):
    client = api("owner")
    _cases(people, upload, active_version, record_done, 2, 0)
    with CaptureQueriesContext(connection) as few:
        assert client.get(path).status_code == 200
    _cases(people, upload, active_version, record_done, 8, 2)
    with CaptureQueriesContext(connection) as many:
        body = client.get(path).json()
    assert body["count"] >= 10
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]
