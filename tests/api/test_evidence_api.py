"""``evidence`` and ``lanes`` on each analysis in the API, and in the OpenAPI schema."""

from __future__ import annotations

import pytest

from tests.provenance.cases import FIXTURES, analysed_case

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/c2pa is not here")]


@pytest.fixture
def version(db):  # type: ignore[no-untyped-def]
    from verification.models import ModelVersion

    return ModelVersion.objects.create(name="resnet50-v1", checkpoint="/m/v1.pt", checkpoint_sha256="a" * 64,
                                       is_active=True)


def test_each_images_result_carries_the_stored_evidence(api, people, version):
    from verification.models import Analysis

    case = analysed_case(user=people["owner"], team=people["team"], version=version, title="Declared",
                         files={"C.jpg": ((FIXTURES / "C.jpg").read_bytes(), 0.1)})
    stored = Analysis.objects.get(image__case=case)
    body = api("teammate").get(f"/api/v1/cases/{case.pk}/").json()
    result = body["images"][0]["latest_analysis"]
    assert result["evidence"] == stored.evidence
    assert result["evidence"]["headline"] == "AI-generated (declared by its C2PA manifest)"
    assert result["evidence"]["probability_ai"] == pytest.approx(0.1)
    assert result["lanes"][0]["lane"] == "c2pa" and result["lanes"][0]["found"]["validation"] == "valid_untrusted"
    analysis = api("owner").get(f"/api/v1/analyses/{stored.pk}/").json()
    assert analysis["evidence"]["items"] == stored.evidence["items"]
    assert api("outsider").get(f"/api/v1/analyses/{stored.pk}/").status_code == 404


def _resolve(schemas: dict, node: dict) -> dict:
    """A schema node with its $ref (bare, or wrapped in allOf as drf-spectacular writes nullable ones) followed."""
    ref = node.get("$ref") or next((s["$ref"] for s in node.get("allOf", []) if "$ref" in s), None)
    return schemas[ref.rsplit("/", 1)[-1]] if ref else node


def test_the_schema_describes_evidence_and_its_items(spec):
    schemas = spec["components"]["schemas"]
    evidence = _resolve(schemas, schemas["Analysis"]["properties"]["evidence"])
    assert {"verdict", "headline", "needs_human", "probability_ai", "items"} <= set(evidence["properties"])
    item = _resolve(schemas, evidence["properties"]["items"]["items"])
    assert {"direction", "strength", "source", "text"} <= set(item["properties"])
    assert {"decisive", "supporting", "weak"} <= set(_resolve(schemas, item["properties"]["strength"])["enum"])
    assert set(_resolve(schemas, item["properties"]["direction"])["enum"]) == {"ai_generated", "real", "neutral"}
