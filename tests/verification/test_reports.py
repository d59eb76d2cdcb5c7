"""Reports a newsroom can publish: any script in the PDF, the demo banner whenever a demo model
decided, internal discussion only on request, and the signed memo attached."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from verification import memo, pdf_fonts, services
from verification.models import AuditEvent, ModelVersion

pypdf = pytest.importorskip("pypdf")

ARABIC = "صورة من المظاهرة"
CHINESE = "抗议现场照片"
RUSSIAN = "Протест у мэрии"
HINDI = "विरोध प्रदर्शन"


@pytest.fixture(autouse=True)
def _key(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.VERITY_SIGNING_KEY = str(tmp_path / "memo.pem")


@pytest.fixture
def world_case(make_case, crew):  # type: ignore[no-untyped-def]
    case = make_case(f"{RUSSIAN} {CHINESE}", labels=("ai_generated",))
    image = case.images.get()
    services.review_record(user=crew["owner"], image=image, verdict="real", comment=f"{ARABIC} — {HINDI}")
    services.comment_add(user=crew["owner"], case=case, body="Internal: do not name the source yet")
    return case


def _pdf(client, case, **params):  # type: ignore[no-untyped-def]
    response = client.get(reverse("verification:case_report_pdf", args=[case.pk]), params)
    assert response.status_code == 200 and response.content[:5] == b"%PDF-"
    return pypdf.PdfReader(io.BytesIO(response.content))


def _fonts(reader) -> set[str]:  # type: ignore[no-untyped-def]
    names = set()
    for page in reader.pages:
        for font in (page.get("/Resources", {}).get("/Font", {}) or {}).values():
            names.add(str(font.get_object().get("/BaseFont")))
    return names


@pytest.mark.skipif(pdf_fonts.missing_scripts(ARABIC + CHINESE + HINDI) != [],
                    reason="install fonts-noto-core and fonts-noto-cjk (apt) for every script")
def test_the_pdf_embeds_fonts_for_every_script_and_keeps_the_text(client, crew, world_case) -> None:
    client.force_login(crew["owner"])
    reader = _pdf(client, world_case)
    fonts = {name.split("+")[-1] for name in _fonts(reader)}  # subset prefixes such as /MPDFAA+
    assert {"NotoSans", "NotoSansArabic", "NotoSansDevanagari"} <= fonts, fonts
    assert any(name.startswith("NotoSansCJK") for name in fonts), fonts
    text = "".join(page.extract_text() for page in reader.pages)
    for word in (RUSSIAN, CHINESE):
        assert word in text.replace("\n", " ").replace("\x00", ""), word  # pypdf reads CID fonts with NULs
    assert "?" * 4 not in text  # nothing replaced by the Latin-1 fallback


def test_a_latin_report_embeds_no_cjk_font(client, crew, make_case) -> None:
    client.force_login(crew["owner"])
    reader = _pdf(client, make_case("Plain English title"))
    assert not any("CJK" in f for f in _fonts(reader))


def test_the_pdf_carries_the_signed_memo(client, crew, world_case) -> None:
    client.force_login(crew["owner"])
    reader = _pdf(client, world_case)
    attached = reader.attachments["verity-memo.txt"][0]
    result = memo.check(attached)
    assert result.authentic and result.memo is not None and result.memo["case"]["title"] == world_case.title
    assert AuditEvent.objects.filter(action="case.exported", details__format="pdf").count() == 1


def test_internal_discussion_only_when_the_exporter_includes_it(client, crew, world_case) -> None:
    client.force_login(crew["owner"])
    public = client.get(reverse("verification:case_report", args=[world_case.pk])).content.decode()
    assert "do not name the source" not in public and "Public edition" in public
    text = "".join(p.extract_text() for p in _pdf(client, world_case).pages)
    assert "do not name the source" not in text
    internal = client.get(reverse("verification:case_report", args=[world_case.pk]), {"internal": "1"})
    assert "do not name the source" in internal.content.decode()
    text = "".join(p.extract_text() for p in _pdf(client, world_case, internal="1").pages)
    assert "do not name the source" in text
    assert AuditEvent.objects.filter(action="case.exported", details__internal=True).count() == 2


def test_the_demo_banner_whenever_a_demo_model_decided(client, crew, world_case, make_case) -> None:
    client.force_login(crew["owner"])
    html = client.get(reverse("verification:case_report", args=[world_case.pk])).content.decode()
    assert "report-demo" not in html
    ModelVersion.objects.filter(is_active=True).update(is_demo=True)
    html = client.get(reverse("verification:case_report", args=[world_case.pk])).content.decode()
    assert "report-demo" in html and "must not be used for real decisions" in html
    text = "".join(p.extract_text() for p in _pdf(client, world_case).pages)
    assert "DEMO MODEL" in text


def test_the_html_report_shows_the_memo_and_its_chain_head(client, crew, world_case) -> None:
    client.force_login(crew["owner"])
    body = client.get(reverse("verification:case_report", args=[world_case.pk])).content.decode()
    head = AuditEvent.objects.filter(team=crew["team"]).order_by("-seq").first()
    assert head is not None
    assert head.action == "case.exported" and head.hash in body
    assert "BEGIN VERITY VERIFICATION MEMO" in body and reverse("verification:memo_verify") in body
