"""The rules of verification.evidence, one sentence each (docs/verdicts.md lists the same cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from verification.evidence import combine
from verification.provenance import read_lanes

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "c2pa"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/c2pa is not here")


def lane(name: str, claim: str = "", strength: str = "none", state: str = "found", **found) -> dict:
    return {"lane": name, "state": state, "claim": claim, "strength": strength, "summary": f"{name} says so",
            "found": found, "error": ""}


def judge(p: float, *lanes: dict) -> dict:
    return combine(probability_ai=p, threshold=0.5, uncertain_margin=0.1, lanes=list(lanes), model_name="v1")


@needs_fixtures
def test_a_valid_declared_ai_manifest_is_decisive_even_against_a_confident_model():
    result = judge(0.02, *read_lanes((FIXTURES / "C.jpg").read_bytes(), "JPEG"))
    assert result["verdict"] == "ai_generated" and not result["needs_human"]
    assert result["headline"] == "AI-generated (declared by its C2PA manifest)"
    assert result["items"][0]["strength"] == "decisive" and result["items"][0]["source"] == "C2PA manifest"
    assert "outranks" in result["conflict"]
    model = next(i for i in result["items"] if i["lane"] == "model")
    assert model["direction"] == "real" and "0.020" in model["text"]


@needs_fixtures
@pytest.mark.parametrize("name", ["XCA.jpg", "E-sig-CA.jpg", "CIE-sig-CA.jpg"])
def test_a_tampered_manifest_is_a_warning_never_support_and_asks_for_a_human(name):
    result = judge(0.9, *read_lanes((FIXTURES / name).read_bytes(), "JPEG"))
    assert result["verdict"] == "ai_generated"  # the model's, not the manifest's
    assert result["needs_human"] and result["provenance"] == "tampered"
    assert "fails validation" in result["headline"]
    warning = result["items"][0]
    assert warning["strength"] == "warning" and warning["direction"] == "neutral"
    assert warning["text"].startswith("Tamper warning")
    assert not any(i["strength"] in ("decisive", "supporting") and i["lane"] == "c2pa" for i in result["items"])


def test_a_trusted_capture_manifest_supports_real_but_does_not_override_a_strong_model():
    capture = lane("c2pa", "capture", "supporting", validation="valid")
    strong_ai = judge(0.95, capture)
    assert strong_ai["verdict"] == "needs_review" and strong_ai["needs_human"]
    assert "C2PA manifest points to Real photograph" in strong_ai["conflict"]
    agree = judge(0.1, capture)
    assert agree["verdict"] == "real" and not agree["needs_human"]
    assert agree["headline"] == "Real photograph (model and C2PA manifest agree)"
    tip = judge(0.55, capture)  # inside the uncertain band: the manifest tips it
    assert tip["verdict"] == "real" and not tip["needs_human"]


def test_metadata_declaring_ai_conflicts_with_a_confident_real_model():
    result = judge(0.05, lane("generator_parameters", "ai_generated", "supporting"))
    assert result["verdict"] == "needs_review" and result["needs_human"]
    assert judge(0.45, lane("xmp", "ai_generated", "supporting"))["verdict"] == "ai_generated"


def test_weak_items_never_change_the_verdict_or_raise_a_conflict():
    result = judge(0.97, lane("camera_exif", "capture", "weak", Make="Canon"))
    assert result["verdict"] == "ai_generated" and not result["needs_human"] and result["conflict"] == ""
    assert [i["strength"] for i in result["items"]] == ["supporting", "weak"]
    assert result["provenance"] == ""  # camera EXIF alone is not provenance


def test_absence_of_metadata_is_not_evidence():
    absent = [lane(n, state="absent") for n in ("c2pa", "xmp", "generator_parameters", "exif_software", "camera_exif")]
    result = judge(0.8, *absent)
    assert [i["lane"] for i in result["items"]] == ["model"]
    assert result["headline"] == "AI-generated (model only)" and result["provenance"] == ""
    assert judge(0.52, *absent)["headline"] == "Uncertain (leaning AI-generated)"


def test_a_lane_error_is_listed_and_changes_nothing():
    broken = {**lane("c2pa", state="error"), "summary": "Could not be read: C2paError: bad box"}
    result = judge(0.2, broken)
    assert result["verdict"] == "real" and not result["needs_human"]
    assert result["items"][-1]["text"] == "Lane error: Could not be read: C2paError: bad box"


def test_items_are_ordered_decisive_warning_supporting_weak_info():
    result = judge(0.3, lane("camera_exif", "capture", "weak"), lane("xmp", "", "none"),
                   lane("c2pa", "ai_generated", "decisive", validation="valid_untrusted",
                        digital_source_types=["http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"]))
    assert [i["strength"] for i in result["items"]] == ["decisive", "supporting", "weak", "info"]
    assert result["headline"] == "Contains AI-generated elements (declared by its C2PA manifest)"
    assert result["provenance"] == "declared_ai"
