"""The verdict with its evidence on the case page, the report, the CSV, the case-list filter and
the live dashboard: the same stored list everywhere, and only for the team's members."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from tests.images import png_bytes
from tests.provenance.cases import FIXTURES, analysed_case

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/c2pa is not here")]


@pytest.fixture
def cases(crew, version):  # type: ignore[no-untyped-def]
    declared = analysed_case(user=crew["owner"], team=crew["team"], version=version, title="Declared",
                             files={"C.jpg": ((FIXTURES / "C.jpg").read_bytes(), 0.1)})
    tampered = analysed_case(user=crew["owner"], team=crew["team"], version=version, title="Tampered",
                             files={"XCA.jpg": ((FIXTURES / "XCA.jpg").read_bytes(), 0.8)})
    plain = analysed_case(user=crew["owner"], team=crew["team"], version=version, title="Plain",
                          files={"p.png": (png_bytes(seed=5), 0.3)})
    return {"declared": declared, "tampered": tampered, "plain": plain}


def test_the_case_page_shows_the_declared_verdict_beside_the_model_probability(client, crew, cases):
    client.force_login(crew["teammate"])
    body = client.get(reverse("verification:case_detail", args=[cases["declared"].pk])).content.decode()
    assert "AI-generated (declared by its C2PA manifest)" in body
    assert "model p(AI-generated) = 0.100" in body
    assert 'data-evidence-verdict="ai_generated"' in body and "make_test_images" in body  # verbatim lane


def test_the_case_page_and_the_report_show_the_tamper_warning(client, crew, cases):
    client.force_login(crew["owner"])
    for name in ("case_detail", "case_report"):
        body = client.get(reverse(f"verification:{name}", args=[cases["tampered"].pk])).content.decode()
        assert "Tamper warning: the C2PA manifest fails validation" in body, name
        assert "assertion.dataHash.mismatch: the pixels changed after signing" in body, name
        assert "data-needs-human" in body


def test_an_outsider_sees_no_evidence(client, crew, cases):
    client.force_login(crew["outsider"])
    response = client.get(reverse("verification:case_detail", args=[cases["declared"].pk]))
    assert response.status_code == 404 and b"declared by its C2PA" not in response.content


def test_the_case_list_filters_by_provenance(client, crew, cases):
    client.force_login(crew["owner"])
    url = reverse("verification:case_list")

    def titles(value: str) -> set[str]:
        body = client.get(url, {"provenance": value}).content.decode()
        return {t for t in ("Declared", "Tampered", "Plain") if f">{t}<" in body}

    assert titles("declared_ai") == {"Declared"}
    assert titles("tampered") == {"Tampered"}
    assert titles("any") == {"Declared", "Tampered"}
    assert titles("") == {"Declared", "Tampered", "Plain"}
    client.force_login(crew["outsider"])
    assert titles("any") == set()


def test_the_csv_carries_the_same_evidence_lines(client, crew, cases):
    from verification.evidence import as_lines
    from verification.models import Analysis

    client.force_login(crew["owner"])
    response = client.get(reverse("verification:case_list_csv"))
    rows = {r["title"]: r for r in csv.DictReader(io.StringIO(response.content.decode()))}
    stored = Analysis.objects.get(image__case=cases["tampered"]).evidence
    assert rows["Tampered"]["evidence"].splitlines() == [f"XCA.jpg: {line}" for line in as_lines(stored)]
    assert rows["Declared"]["evidence"].startswith("C.jpg: Verdict: AI-generated (declared by its C2PA manifest)")


def test_the_pdf_report_is_made_with_the_evidence(client, crew, cases):
    client.force_login(crew["owner"])
    response = client.get(reverse("verification:case_report_pdf", args=[cases["tampered"].pk]))
    assert response.status_code == 200 and response.content[:4] == b"%PDF"


def test_the_live_dashboard_counts_provenance_and_agreement(client, crew, cases):
    client.force_login(crew["lead"])
    body = client.get(reverse("verification:dashboard_live")).content.decode()
    assert 'data-metric="provenance-images">2 / 3<' in body
    assert 'data-metric="provenance-declared-ai">1<' in body and 'data-metric="provenance-tampered">1<' in body
    # C.jpg: the manifest says AI, the model (p=0.1) says real; XCA's manifest claims nothing.
    assert 'data-metric="provenance-agreement">0.0%<' in body


def test_a_tampered_manifest_never_counts_as_agreement():
    from verification.selectors import ProvenanceReport

    assert ProvenanceReport().agreement_rate is None
