"""A lead's whole day in the browser: log in, submit a multi-image case, watch the worker finish it,
open the heatmap, override a verdict with a comment, finalise, export the report, open each
dashboard. Screenshots of every page go to test-artifacts/e2e/ (not committed)."""

from __future__ import annotations

import re

import pytest

from tests.images import jpeg_bytes, png_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def worker_env() -> dict[str, str]:
    # This flow exercises the heatmap viewer. An untrained demo's map often fails the per-image
    # faithfulness check and is then (rightly) hidden; that warning has its own tests
    # (tests/api/test_whole_image_tiles.py), so the check is off for this worker.
    return {"VERITY_CHECK_MAP_FAITHFULNESS": "false"}


def test_a_lead_submits_reviews_finalises_exports_and_reads_dashboards(
        page, shot, live_server, lead, active_version, celery_worker_process, tmp_path):
    from verification.models import AuditEvent, Case, Review

    base = live_server.url
    files = [tmp_path / "harbour.png", tmp_path / "street.jpg"]
    files[0].write_bytes(png_bytes((160, 120), seed=11))
    files[1].write_bytes(jpeg_bytes((140, 100), seed=12))

    # Log in.
    page.goto(f"{base}/accounts/login/")
    shot(page, "login")
    page.fill("#id_username", "lena")
    page.fill("#id_password", "pw-lena-12345!")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    shot(page, "case-list-empty")

    # Submit a case with two images.
    page.click("text=New case")
    page.fill("#id_title", "Harbour fire photos")
    page.fill("#id_source_url", "https://example.org/post/42")
    page.fill("#id_tags", "fire, harbour")
    page.set_input_files("#id_images", [str(f) for f in files])
    shot(page, "new-case")
    page.click("button:has-text('Submit for analysis')")
    page.wait_for_url(re.compile(r"/cases/\d+/$"))
    shot(page, "case-queued")
    case = Case.objects.get()
    assert case.images.count() == 2

    # Watch it complete: the page polls and reloads itself until both analyses are done.
    page.wait_for_function("document.querySelectorAll('[data-analysis-status=\"done\"]').length === 2",
                           timeout=240_000)
    shot(page, "case-done")

    # Open the heatmap: the opacity slider changes the overlay, and the bare heatmap PNG opens.
    image = case.images.order_by("id").first()
    slider = page.locator(f"#opacity-{image.pk}")
    slider.fill("25")
    assert page.eval_on_selector(f"#overlay-{image.pk}", "el => el.style.opacity") == "0.25"
    with page.context.expect_page() as popup:
        page.locator(f"#image-{image.pk} >> text=Open the bare heatmap").click()
    heatmap = popup.value
    heatmap.wait_for_load_state()
    shot(heatmap, "heatmap")
    heatmap.close()

    # Override the model's verdict on the first image, with a comment.
    label = image.analyses.get().label
    other = "real" if label == "ai_generated" else "ai_generated"
    page.check(f"#verdict-{image.pk}-{other}")
    page.fill(f"#review-comment-{image.pk}", "The photographer sent us the RAW file")
    page.locator(f"#image-{image.pk} button:has-text('Record decision')").click()
    page.wait_for_selector("text=is recorded")
    assert page.locator(f"#image-{image.pk} [data-human-verdict='{other}']").count() == 1
    shot(page, "overridden")
    review = Review.objects.get()
    assert review.is_override and review.comment == "The photographer sent us the RAW file"

    # Finalise the case.
    page.check("#final input[name=verdict][value=real]")
    page.check("#id_confirm_unreviewed")  # the second image has no review: finalising asks for this
    page.click("button:has-text('Finalise verdict')")
    page.wait_for_selector("[data-final-verdict='real']")
    shot(page, "finalised")
    case.refresh_from_db()
    assert case.status == "finalised" and case.final_verdict == "real"

    # Export the report: printable HTML, then the PDF download.
    page.click("text=Printable report")
    page.wait_for_selector("h1:has-text('Verification report')")
    assert page.locator("text=The photographer sent us the RAW file").count() >= 1
    shot(page, "report")
    with page.expect_download() as download:
        page.click("text=Download PDF")
    pdf = tmp_path / "report.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert set(AuditEvent.objects.filter(action="case.exported").values_list("details__format", flat=True)) == {
        "html", "pdf"}

    # Every dashboard opens and shows its numbers.
    for name, heading in (("model", "Confusion matrix"), ("live", "Model against reviewers"),
                          ("datasets", "No datasets are registered yet"), ("operations", "Queue and workers")):
        page.goto(f"{base}/dashboards/{name}/")
        page.wait_for_selector(f"text={heading}")
        shot(page, f"dashboard-{name}")
    page.goto(f"{base}/dashboards/live/")
    assert page.locator("[data-metric='compared']").inner_text() in ("1", "2")

    page.goto(f"{base}/audit/")
    shot(page, "audit-log")
    assert page.locator("text=case.finalised").count() >= 1
