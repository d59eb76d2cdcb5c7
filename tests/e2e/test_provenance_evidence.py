"""In the browser, with a real worker: a C2PA-declared AI image shows "AI-generated (declared by its
C2PA manifest)" with the model's probability beside it, and a tampered one shows the tamper warning.
Screenshots go to test-artifacts/e2e/ (not committed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "c2pa"

pytestmark = [pytest.mark.e2e, pytest.mark.slow,
              pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/c2pa is not here")]


@pytest.fixture
def reviewer(transactional_db, django_user_model):  # type: ignore[no-untyped-def]
    from verification.models import Membership, Role, Team

    team = Team.objects.create(name="Verification desk")
    user = django_user_model.objects.create_user("rita", password="pw-rita-12345!")
    Membership.objects.create(user=user, team=team, role=Role.REVIEWER)
    return user


def test_declared_ai_and_tampered_images_show_their_evidence(page, shot, live_server, reviewer, active_version,
                                                             celery_worker_process):
    from verification.models import Analysis

    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", "pw-rita-12345!")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    page.click("text=New case")
    page.fill("#id_title", "Provenance check")
    page.set_input_files("#id_images", [str(FIXTURES / "C.jpg"), str(FIXTURES / "XCA.jpg")])
    page.click("button:has-text('Submit for analysis')")
    page.wait_for_url(re.compile(r"/cases/\d+/$"))
    page.wait_for_function("document.querySelectorAll('[data-analysis-status=\"done\"]').length === 2",
                           timeout=240_000)
    shot(page, "provenance-case-done")

    declared = Analysis.objects.get(image__original_name="C.jpg")
    card = page.locator(f"#image-{declared.image_id} .evidence")
    assert card.locator("[data-evidence-headline]").inner_text() == "AI-generated (declared by its C2PA manifest)"
    probability = card.locator(".evidence-headline .prob").inner_text()
    assert probability == f"model p(AI-generated) = {declared.probability_ai:.3f}"
    assert card.locator("li[data-strength=decisive]").count() == 1

    tampered = Analysis.objects.get(image__original_name="XCA.jpg")
    warning = page.locator(f"#image-{tampered.image_id} .tamper-warning")
    assert warning.is_visible()
    assert "the pixels changed after signing" in warning.inner_text()
    assert page.locator(f"#image-{tampered.image_id} [data-needs-human]").is_visible()

    # The case list's provenance filter finds the case as declared AI and as tampered.
    for value in ("declared_ai", "tampered"):
        page.goto(f"{base}/?provenance={value}")
        assert page.locator("text=Provenance check").count() >= 1, value
    shot(page, "provenance-filter")
