"""Browser tests of the review workspace and of exports: keyboard review of a multi-image case with
the inline override error and the finalise confirmation, the navigation at 390 px, a report in
Arabic and Chinese, and checking a signed memo (authentic, then one byte changed).

No worker here: analyses are recorded through the same services the worker calls, so these tests
take seconds. Screenshots go to test-artifacts/e2e/<test>/ (not committed)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.urls import reverse

from tests.images import heatmap_png, png_bytes

pytestmark = [pytest.mark.e2e]

ARABIC = "صورة من المظاهرة في الميدان"
CHINESE = "抗议现场照片"


@pytest.fixture
def desk(transactional_db, django_user_model, settings, tmp_path):  # type: ignore[no-untyped-def]
    from verification.models import Membership, ModelVersion, Role, Team

    settings.VERITY_SIGNING_KEY = str(tmp_path / "memo.pem")
    team = Team.objects.create(name="Metro desk")
    lead = django_user_model.objects.create_user("lena", password="pw-lena-12345!")
    Membership.objects.create(user=lead, team=team, role=Role.LEAD)
    version = ModelVersion.objects.create(name="resnet50-e2e", checkpoint="/m.pt", checkpoint_sha256="b" * 64,
                                          is_active=True)
    return {"team": team, "lead": lead, "version": version}


def _case(desk: dict[str, Any], title: str, labels: tuple[str, ...]) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from verification import services
    from verification.models import Analysis

    files = [SimpleUploadedFile(f"photo-{i}.png", png_bytes((120, 90), seed=70 + i)) for i in range(len(labels))]
    result = services.case_submit(user=desk["lead"], team=desk["team"], title=title,
                                  files=files)  # type: ignore[arg-type]  # the stub types SimpleUploadedFile's name and size as optional
    for image, label in zip(result.images, labels):
        analysis = Analysis.objects.get(image=image)
        services.analysis_start(analysis_id=analysis.pk)
        p = 0.92 if label == "ai_generated" else 0.08
        services.analysis_record(analysis_id=analysis.pk, model_version_id=desk["version"].pk,
                                 outcome=services.AnalysisOutcome(
                                     label=label, probability_ai=p, confidence=max(p, 1 - p), threshold=0.5,
                                     crop_box={"left": 20, "top": 10, "width": 64, "height": 64},
                                     timings_ms={"inference_gradcam": 30.0}, heatmap_png=heatmap_png()))
    return result.case


def _login(page: Any, live_server: Any, user: Any) -> None:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[
        settings.SESSION_COOKIE_NAME].value, "url": live_server.url}])


def test_keyboard_review_inline_error_and_finalise_confirmation(page, shot, live_server, desk) -> None:
    from verification.models import AuditEvent, Review

    case = _case(desk, "Harbour fire, three photographs", ("ai_generated", "real", "ai_generated"))
    first, second, third = case.images.order_by("pk")
    _login(page, live_server, desk["lead"])
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    assert page.locator("[data-count=reviewed]").inner_text() == "0 of 3 reviewed"
    shot(page, "workspace")

    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    shot(page, "shortcuts-help")
    page.keyboard.press("Escape")
    assert not page.locator("#shortcuts").is_visible()

    # c: confirm the model on the first image; the page goes on to the next unreviewed one.
    page.keyboard.press("c")
    page.wait_for_url(re.compile(rf"#image-{second.pk}$"))
    assert page.locator("[data-count=reviewed]").inner_text() == "1 of 3 reviewed"

    # o on the second image: the opposite verdict is chosen and the comment box focused.
    page.wait_for_function(f"document.querySelector('#image-{second.pk}').classList.contains('current')")
    page.keyboard.press("o")
    assert page.is_checked(f"#verdict-{second.pk}-ai_generated")
    assert page.evaluate("document.activeElement.id") == f"review-comment-{second.pk}"
    # Submitting without a comment: the error appears inside this card, the choice kept.
    page.keyboard.press("Control+Enter")
    error = page.locator(f"#image-{second.pk} .inline-error")
    error.wait_for()
    assert "Say why you override" in error.inner_text()
    assert page.is_checked(f"#verdict-{second.pk}-ai_generated")
    assert page.locator(f"#image-{first.pk} .inline-error").count() == 0
    shot(page, "inline-override-error")
    page.fill(f"#review-comment-{second.pk}", "Shadows fall two ways")
    page.focus(f"#review-comment-{second.pk}")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(re.compile(rf"#image-{third.pk}$"))
    assert page.locator("[data-count=reviewed]").inner_text() == "2 of 3 reviewed"
    assert Review.objects.get(image=second).is_override

    # j / k move between images.
    page.keyboard.press("k")
    assert page.evaluate("location.hash") == f"#image-{second.pk}"
    page.keyboard.press("j")
    assert page.evaluate("location.hash") == f"#image-{third.pk}"

    # Finalising with one image unreviewed asks first, inside the form, and keeps the choice.
    page.check("#final input[name=verdict][value=ai_generated]")
    page.fill("#final textarea[name=comment]", "Two of three generated")
    page.click("button:has-text('Finalise verdict')")
    page.locator("#finalise-error").wait_for()
    assert page.is_checked("#final input[name=verdict][value=ai_generated]")
    shot(page, "finalise-asks")
    page.check("#id_confirm_unreviewed")
    page.click("button:has-text('Finalise verdict')")
    page.wait_for_selector("[data-final-verdict='ai_generated']")
    shot(page, "finalised")
    event = AuditEvent.objects.get(action="case.finalised")
    assert event.details["unreviewed"] == 1 and event.details["unreviewed_confirmed"] is True


def test_every_navigation_item_is_reachable_at_390_px(chromium, shot, live_server, desk) -> None:
    from verification.models import Membership, Role

    Membership.objects.filter(user=desk["lead"]).update(role=Role.ADMIN)
    desk["lead"].is_staff = True
    desk["lead"].save()
    case = _case(desk, "Averyveryverylongunbrokentitle" * 6, ("real",))
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        _login(page, live_server, desk["lead"])
        page.goto(f"{live_server.url}/cases/{case.pk}/")
        shot(page, "case-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        links = page.locator("header.topbar a")
        targets = []
        for i in range(links.count()):
            link = links.nth(i)
            box = link.bounding_box()
            assert link.is_visible() and box is not None, link.inner_text()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, link.inner_text()
            targets.append((link.inner_text(), link.get_attribute("href")))
        assert {"Cases", "New case", "Dashboards", "Audit log", "People", "Models", "API tokens"} <= {
            t for t, _ in targets}
        for text, href in targets:
            response = page.goto(live_server.url + href)
            assert response is not None and response.status == 200, text
            assert page.evaluate("document.documentElement.scrollWidth") <= 400, text
        shot(page, "last-page-390")
    finally:
        context.close()


def test_a_report_in_arabic_and_chinese(page, shot, live_server, desk, tmp_path) -> None:
    pypdf = pytest.importorskip("pypdf")
    from verification import pdf_fonts, services

    if pdf_fonts.missing_scripts(ARABIC + CHINESE):
        pytest.skip("install fonts-noto-core and fonts-noto-cjk")
    case = _case(desk, f"{CHINESE} — {ARABIC}", ("ai_generated",))
    services.review_record(user=desk["lead"], image=case.images.get(), verdict="real", comment=ARABIC)
    _login(page, live_server, desk["lead"])
    page.goto(f"{live_server.url}{reverse('verification:case_report', args=[case.pk])}")
    page.get_by_text(ARABIC).first.wait_for()
    assert CHINESE in page.locator("h1").inner_text()
    shot(page, "report-arabic-chinese")
    with page.expect_download() as download:
        page.click("text=Download PDF")
    path = tmp_path / "report.pdf"
    download.value.save_as(path)
    reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
    fonts = {str(f.get_object()["/BaseFont"]).split("+")[-1]
             for p in reader.pages for f in p["/Resources"]["/Font"].values()}
    assert "NotoSansArabic" in fonts and any(f.startswith("NotoSansCJK") for f in fonts)


def test_a_memo_is_authentic_then_one_changed_byte_is_caught(page, shot, live_server, desk, tmp_path) -> None:
    case = _case(desk, "Flood at the dam", ("real", "ai_generated"))
    _login(page, live_server, desk["lead"])
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    with page.expect_download() as download:
        page.click("text=Signed memo")
    memo = tmp_path / "memo.txt"
    download.value.save_as(memo)
    page.context.clear_cookies()  # anyone may check a memo: no login needed
    page.goto(f"{live_server.url}{reverse('verification:memo_verify')}")
    page.set_input_files("#memo-file", str(memo))
    page.click("button:has-text('Check the memo')")
    assert page.locator("[data-verdict]").get_attribute("data-verdict") == "authentic"
    assert "Authentic and unchanged" in page.locator(".memo-result").inner_text()
    shot(page, "memo-authentic")
    data = bytearray(memo.read_bytes())
    at = data.index(b"Flood at the dam")
    data[at] = ord("B")  # one byte: "Flood" -> "Blood"
    changed = tmp_path / "memo-changed.txt"
    changed.write_bytes(bytes(data))
    page.set_input_files("#memo-file", str(changed))
    page.click("button:has-text('Check the memo')")
    assert page.locator("[data-verdict]").get_attribute("data-verdict") == "altered"
    assert "Changed after signing" in page.locator(".memo-result").inner_text()
    shot(page, "memo-altered")


def test_the_first_run_banner_shows_the_demo_models_progress(page, shot, live_server, desk, settings, tmp_path) -> None:
    from verification import first_run

    settings.DATA_DIR = tmp_path
    first_run.write("training", epoch=3, epochs=8, step=45, total_steps=120, eta_s=140.0)
    page.goto(f"{live_server.url}/accounts/login/")
    banner = page.locator("#first-run")
    assert banner.is_visible() and "epoch 3 of 8, 38% done" in banner.inner_text()
    shot(page, "first-run-banner-login")
    _login(page, live_server, desk["lead"])
    page.goto(f"{live_server.url}/")
    assert "analyses wait in the queue" in page.locator("#first-run").inner_text()
    shot(page, "first-run-banner-cases")
