"""Property-based fuzzing of the API against its own OpenAPI schema (schemathesis).

The schema is read from /api/v1/schema/ of the app itself, and every generated request goes to
the Django WSGI app in this process: nothing leaves the machine. One pytest test per operation,
each bounded to a few examples with no per-example deadline, so the whole run stays well under
two minutes on two cores. Requests carry an owner's read+submit token, and a done case exists,
so detail endpoints are reached with real ids as well as random ones.

Checks: no response is a 5xx, every status code is documented for the operation, and every
response's content type and body match the schema. Both valid (positive) and invalid (negative)
requests are generated.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

MAX_EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation, from the schema generator (no request needed)."""
    from drf_spectacular.generators import SchemaGenerator

    spec = SchemaGenerator().get_schema(request=None, public=True)
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item]


def _fuzz(operation: Any, *, token: str, known_id: int | None) -> None:
    """Valid and invalid requests to one operation, and valid ones on ``known_id`` (a real object's id) when
    given, each sent with ``token`` and checked against the schema."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    if known_id is not None:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters={"id": known_id}))

    @given(case=st.one_of(*strategies))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    check()


@pytest.fixture
def wsgi_schema(db):  # type: ignore[no-untyped-def]
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from portal.wsgi import application

    # As Django's test client does: a finished request must not close the connection that holds
    # the test's transaction (and its fixtures' rows).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_token(people, done_case, token_for, settings):  # type: ignore[no-untyped-def]
    settings.VERITY_API_RATE_READ = "100000/min"
    settings.VERITY_API_RATE_SUBMIT = "100000/min"
    return token_for("owner")


@pytest.mark.parametrize("method,path", _operations())
def test_the_api_never_fails_and_always_matches_its_schema(wsgi_schema: Any, fuzz_token: str, done_case: Any,
                                                           method: str, path: str) -> None:
    case_id, image_id, analysis_id = (obj.pk for obj in done_case)
    known_ids = {"/cases/": case_id, "/images/": image_id, "/analyses/": analysis_id}
    known = next((v for k, v in known_ids.items() if path.startswith(f"/api/v1{k}")), None)
    _fuzz(wsgi_schema[path][method], token=fuzz_token, known_id=known if "{id}" in path else None)


LIFECYCLE = ("/api/v1/datasets/", "/api/v1/training-runs/")


@pytest.fixture
def admin_fuzz_token(admin_user, token_for, settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.VERITY_API_RATE_READ = "100000/min"
    settings.VERITY_API_RATE_SUBMIT = "100000/min"
    return token_for("admin")


@pytest.mark.parametrize("method,path", [(m, p) for m, p in _operations()
                                         if p.startswith(LIFECYCLE) or p.endswith("/promote/")])
def test_the_admin_lifecycle_api_never_fails_and_matches_its_schema(wsgi_schema: Any, admin_fuzz_token: str,
                                                                    active_version: Any, monkeypatch: Any,
                                                                    method: str, path: str) -> None:
    """As an admin (the owner above only ever gets 403 here), with a real dataset, run and version."""
    from verification.models import Dataset, TrainingRun

    monkeypatch.setattr("verification.queue.enqueue_training", lambda run_id: None)
    dataset = Dataset.objects.create(status="ready", name="fuzz", path="/nonexistent/fuzz", analysis={"total": 0})
    run = TrainingRun.objects.create(dataset=dataset, hyperparameters={"epochs": 1})
    known = (dataset.pk if path.startswith("/api/v1/datasets/") else run.pk if path.startswith("/api/v1/training")
             else active_version.pk)
    _fuzz(wsgi_schema[path][method], token=admin_fuzz_token, known_id=known if "{id}" in path else None)
