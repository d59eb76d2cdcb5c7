"""The OpenAPI schema and the documentation pages."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

EXPECTED = {
    ("get", "/api/v1/cases/"), ("post", "/api/v1/cases/"), ("get", "/api/v1/cases/{id}/"),
    ("patch", "/api/v1/cases/{id}/"), ("get", "/api/v1/cases/{id}/events/"),
    ("get", "/api/v1/images/"), ("get", "/api/v1/images/{id}/"), ("get", "/api/v1/images/{id}/file/"),
    ("get", "/api/v1/analyses/"), ("get", "/api/v1/analyses/{id}/"), ("get", "/api/v1/analyses/{id}/heatmap/"),
    ("get", "/api/v1/analyses/{id}/overlay/"), ("get", "/api/v1/model-versions/"),
    ("get", "/api/v1/model-versions/{id}/"), ("get", "/api/v1/model-versions/active/"), ("get", "/api/v1/metrics/"),
    ("get", "/api/v1/me/"),
    ("get", "/api/v1/reviews/"), ("post", "/api/v1/reviews/"), ("get", "/api/v1/reviews/{id}/"),
    ("post", "/api/v1/model-versions/{id}/promote/"), ("get", "/api/v1/datasets/"), ("post", "/api/v1/datasets/"),
    ("get", "/api/v1/datasets/{id}/"), ("post", "/api/v1/datasets/{id}/rescan/"),
    ("post", "/api/v1/datasets/from-reviews/"), ("get", "/api/v1/training-runs/"), ("post", "/api/v1/training-runs/"),
    ("get", "/api/v1/training-runs/{id}/"), ("post", "/api/v1/training-runs/{id}/cancel/"),
    ("get", "/api/v1/evaluations/"), ("post", "/api/v1/evaluations/"), ("get", "/api/v1/evaluations/{id}/"),
    ("get", "/api/v1/stability-checks/"), ("post", "/api/v1/stability-checks/"),
    ("get", "/api/v1/stability-checks/{id}/"),
}


def test_the_schema_is_openapi_3_and_lists_every_operation(spec):
    assert spec["openapi"].startswith("3.")
    operations = {(m, p) for p, item in spec["paths"].items() for m in item}
    assert operations == EXPECTED


def test_every_operation_requires_a_token_or_a_session_and_documents_its_errors(spec):
    assert spec["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "vty_<prefix>_<secret>",
        "description": "A personal API token from /account/tokens/."}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert {"tokenAuth": []} in op["security"] and {} not in op["security"], (method, path)
            for status in ("400", "401", "403", "404", "429"):
                error = op["responses"][status]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_every_json_operation_has_a_response_example(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            ok = op["responses"].get("200") or op["responses"].get("201") or op["responses"]["202"]
            for media_type, content in ok["content"].items():
                if media_type == "application/json":
                    assert content.get("examples"), (method, path)


def test_submission_documents_idempotency_and_its_specific_statuses(spec):
    op = spec["paths"]["/api/v1/cases/"]["post"]
    assert "multipart/form-data" in op["requestBody"]["content"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op["parameters"])
    assert {"200", "201", "409", "413", "415"} <= set(op["responses"])


@pytest.mark.parametrize("url", ["/api/v1/schema/swagger/", "/api/v1/schema/redoc/"])
def test_the_documentation_pages_load_only_local_assets(client, url):
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    # Nothing from another host: every address is a path of this portal (its own links back
    # included), and every asset is a static file shipped with it (drf-spectacular-sidecar).
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assets = [u for u in urls if u.startswith("/static/")]
    assert assets
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset


def test_list_examples_are_one_page_of_items_not_a_page_inside_a_page(spec):
    pages = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for content in op["responses"].get("200", {}).get("content", {}).values():
                for name, example in (content.get("examples") or {}).items():
                    value = example["value"]
                    if isinstance(value, dict) and "results" in value:
                        pages += 1
                        assert value["results"] and all("results" not in r for r in value["results"]), (path, name)
    assert pages >= 8  # cases, events, images, analyses, versions, reviews, datasets, runs


def test_the_schema_documents_every_hyperparameter_with_its_bounds(spec):
    from verification import hyperparameters

    properties = spec["components"]["schemas"]["HyperparametersRequest"]["properties"]
    assert set(properties) == set(hyperparameters.LIMITS)
    for name, limit in hyperparameters.LIMITS.items():
        assert properties[name]["type"] == ("integer" if limit.kind is int else "number")
        assert (properties[name]["minimum"], properties[name]["maximum"]) == (limit.low, limit.high)
