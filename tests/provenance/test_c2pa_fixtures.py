"""The C2PA lane on every file of ../shared/fixtures/c2pa, against what SOURCE.md says the
reference reader (c2pa-python 0.38) reports for it, and the proof that a remote manifest is
never fetched."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from verification.provenance import c2pa_lane, read_lanes

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "c2pa"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not (FIXTURES / "SOURCE.md").is_file(),
                                reason="../shared/fixtures/c2pa is not here (a checkout without the shared fixtures)")

# file: (validation, claim generator starts with, actions, digitalSourceType codes, failure codes)
# — the table of SOURCE.md, row by row.
EXPECTED = {
    "C.jpg": ("valid_untrusted", "make_test_images", ["c2pa.created"], ["algorithmicMedia"], []),
    "CA.jpg": ("valid_untrusted", "make_test_images", ["c2pa.opened", "c2pa.color_adjustments"], [], []),
    "CIE-sig-CA.jpg": ("invalid", "make_test_images", ["c2pa.created", "c2pa.placed", "c2pa.resized"],
                       ["algorithmicMedia"], ["claimSignature.mismatch"]),
    "E-sig-CA.jpg": ("invalid", "make_test_xxxxxx", ["c2pa.opened", "c2pa.color_adjustments"], [],
                     ["claimSignature.mismatch"]),
    "XCA.jpg": ("invalid", "make_test_images", ["c2pa.opened", "c2pa.color_adjustments"], [],
                ["assertion.dataHash.mismatch"]),
}


def _c2pa(name: str) -> dict:
    lanes = read_lanes((FIXTURES / name).read_bytes(), "JPEG")
    return next(lane for lane in lanes if lane["lane"] == "c2pa")


def test_a_file_without_c2pa_data_has_an_absent_lane():
    lane = _c2pa("A.jpg")
    assert lane["state"] == "absent" and lane["found"] == {} and lane["error"] == ""


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_reads_as_the_reference_reader_reports(name):
    validation, generator, actions, source_types, failures = EXPECTED[name]
    lane = _c2pa(name)
    found = lane["found"]
    assert lane["state"] == "found"
    assert found["validation"] == validation
    assert found["claim_generator"].startswith(generator)
    assert [a["action"] for a in found["actions"]] == actions
    assert [t.rsplit("/", 1)[-1] for t in found["digital_source_types"]] == source_types
    assert [f["code"] for f in found["failures"]] == failures
    # Every file is signed with the C2PA test certificate: never a trusted signer.
    assert "signingCredential.untrusted" in found["validation_codes"]
    assert found["issuer"] == "C2PA Test Signing Cert"


def test_the_valid_ai_declaration_is_decisive_and_the_tampered_one_is_not_support():
    declared = _c2pa("C.jpg")
    assert (declared["claim"], declared["strength"]) == ("ai_generated", "decisive")
    assert declared["found"]["signing_time"].startswith("2023-09-29")
    tampered = _c2pa("XCA.jpg")
    assert tampered["strength"] == "none"
    assert tampered["found"]["failures"][0]["meaning"] == "the pixels changed after signing"
    # An invalid manifest that declares AI still counts for nothing.
    assert _c2pa("CIE-sig-CA.jpg")["strength"] == "none"


def test_ingredients_are_listed():
    found = _c2pa("CA.jpg")["found"]
    assert found["ingredients"] == [{"title": "A.jpg", "relationship": "parentOf"}]


def test_a_remote_manifest_is_reported_and_not_fetched(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    lane = _c2pa("cloud.jpg")
    assert lane["state"] == "found" and lane["found"]["validation"] == "remote_not_fetched"
    assert "remote manifest not fetched" in lane["summary"]
    assert lane["found"]["remote_url"].startswith("https://cai-manifests.adobe.com/manifests/")


_READ = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from verification.provenance import c2pa_lane
    lane = c2pa_lane.read(open({path!r}, "rb").read(), "JPEG")
    print(lane.found.get("validation"))
""")


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is needed to watch the native reader's syscalls")
def test_reading_cloud_jpg_opens_no_network_connection_even_in_native_code(tmp_path):
    """The reader is Rust: patching Python's socket module cannot see its connections. strace sees
    every connect() the process makes; none may be to an internet address."""
    log = tmp_path / "strace.txt"
    code = _READ.format(root=str(ROOT), path=str(FIXTURES / "cloud.jpg"))
    run = subprocess.run(["strace", "-f", "-e", "trace=connect,sendto", "-o", str(log), sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=120)
    if "PTRACE" in run.stderr or "Operation not permitted" in run.stderr:
        pytest.skip(f"strace cannot trace here: {run.stderr.strip()[:200]}")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == c2pa_lane.REMOTE_NOT_FETCHED
    calls = [line for line in log.read_text().splitlines() if "AF_INET" in line]
    assert calls == []


GEMINI = ROOT / ".." / "shared" / "data" / "unsplash-gemini"


@pytest.mark.skipif(not (GEMINI / "images-000.tar").is_file(), reason="../shared/data/unsplash-gemini is not here")
def test_a_real_gemini_manifest_with_an_expired_signer_is_invalid_but_not_called_tampered():
    """Google signs Gemini images with short-lived certificates: read later, the reader says
    signingCredential.expired while every hash still matches. That is reported, never support,
    and never a tamper warning."""
    import csv
    import tarfile

    from verification.evidence import combine

    shard = next(r["shard"] for r in csv.DictReader((GEMINI / "MANIFEST.csv").open())
                 if r["relpath"] == "ai/ai_0362.jpeg")
    with tarfile.open(GEMINI / shard) as tar:
        data = tar.extractfile("ai/ai_0362.jpeg").read()  # type: ignore[union-attr]
    lanes = read_lanes(data, "JPEG")
    found = lanes[0]["found"]
    assert found["validation"] == "invalid" and not found["tampered"]
    assert [f["code"] for f in found["failures"]] == ["signingCredential.expired"]
    assert found["issuer"] == "Google LLC" and found["digital_source_types"][0].endswith("/trainedAlgorithmicMedia")
    result = combine(probability_ai=0.2, threshold=0.5, uncertain_margin=0.1, lanes=lanes)
    assert result["provenance"] == "invalid" and result["verdict"] == "real" and result["needs_human"]
    assert not any("Tamper" in i["text"] for i in result["items"])
    assert result["headline"].endswith("C2PA manifest does not validate: check the signer")
