"""The worker reads the provenance lanes beside the model, and bad metadata never fails an analysis."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.images import encode, photo_like
from tests.queueing import each_analysis
from verification import services
from verification.models import Analysis, AnalysisStatus
from worker import model_cache
from worker.tasks import analyse_image

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "c2pa"


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    model_cache.clear()
    yield
    model_cache.clear()


@pytest.fixture
def analyse(people, upload, monkeypatch, active_version):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("verification.queue.enqueue_analysis", lambda aid: None)
    monkeypatch.setattr("verification.queue.enqueue_analyses", each_analysis)

    def run(name: str, data: bytes) -> Analysis:
        result = services.case_submit(user=people["owner"], team=people["team"], title=name,
                                      files=[upload(name, data, "image/jpeg")])
        analysis = Analysis.objects.get(image=result.images[0])
        analyse_image.run(analysis.pk)
        analysis.refresh_from_db()
        return analysis

    return run


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/c2pa is not here")
def test_a_declared_ai_image_gets_its_c2pa_lane_and_a_decisive_verdict(analyse):
    analysis = analyse("C.jpg", (FIXTURES / "C.jpg").read_bytes())
    assert analysis.status == AnalysisStatus.DONE
    assert [lane["lane"] for lane in analysis.lanes] == ["c2pa", "xmp", "generator_parameters", "exif_software",
                                                          "camera_exif"]
    assert analysis.lanes[0]["found"]["validation"] == "valid_untrusted"
    assert analysis.evidence["verdict"] == "ai_generated"
    assert analysis.evidence["headline"] == "AI-generated (declared by its C2PA manifest)"
    assert analysis.evidence["probability_ai"] == pytest.approx(analysis.probability_ai, abs=1e-6)
    assert analysis.provenance == "declared_ai"
    assert analysis.timings_ms["provenance"] > 0


def test_a_corrupt_manifest_is_a_lane_error_and_the_analysis_still_finishes(analyse):
    data = encode(photo_like((64, 48)), "JPEG")
    payload = (b"JP\x00\x01\x00\x00\x00\x01" + b"\x00\x00\x00\x40jumb" + b"\x00\x00\x00\x18jumdc2pa\x00"
               + b"\xbe\xef" * 24)
    data = data[:2] + b"\xff\xeb" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    analysis = analyse("broken.jpg", data)
    assert analysis.status == AnalysisStatus.DONE and analysis.error == ""
    assert analysis.lanes[0]["state"] == "error" and analysis.lanes[0]["summary"].startswith("Could not be read")
    assert analysis.evidence["verdict"] == analysis.label  # the lane error changes nothing
    assert any(i["text"].startswith("Lane error") for i in analysis.evidence["items"])
