"""The case report as a PDF: the same content as the HTML report, in any script, with the
signed memo attached (a PDF file attachment) and its fingerprint printed."""

from __future__ import annotations

import io
from typing import Any

from django.utils import timezone
from PIL import Image

from . import audit_display, evidence, pdf_fonts, services, signing, storage
from .models import Case

DEMO_WARNING = ("DEMO MODEL: verdicts in this report come from a demonstration model trained on generated "
                "images. They show how Verity works and must not be used for real decisions.")


def _png(name: str) -> Image.Image | None:
    try:
        with Image.open(io.BytesIO(storage.read(name))) as im:
            im.load()
            rgb = im.convert("RGB")
            rgb.thumbnail((900, 900))
            return rgb
    except (FileNotFoundError, OSError, ValueError):
        return None


class _Writer:
    """fpdf2 with a Unicode body font, fallbacks for the scripts present, and text shaping
    (Arabic joining and right-to-left order, Devanagari conjuncts) when uharfbuzz is there."""

    def __init__(self, all_text: str) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        fonts = pdf_fonts.text_fonts()
        self.unicode = bool(fonts)
        self.family = "helvetica"
        if self.unicode:
            self.family = "body"
            for style, font in fonts.items():
                self.pdf.add_font("body", style, str(font.path))
            fallbacks = []
            for script in pdf_fonts.scripts_in(all_text):
                script_font = pdf_fonts.script_font(script)
                if script_font is not None:
                    self.pdf.add_font(script, "", str(script_font.path),
                                      collection_font_number=script_font.collection_number)
                    fallbacks.append(script)
            if fallbacks:
                self.pdf.set_fallback_fonts(fallbacks, exact_match=False)
            try:
                self.pdf.set_text_shaping(True)
            except Exception:  # noqa: BLE001 - uharfbuzz missing: unshaped text is still legible for most scripts
                pass

    def text(self, value: Any) -> str:
        text = str(value)
        if not self.unicode:  # built-in fonts: Latin-1 only
            return text.replace("\u2014", "-").replace("\u2019", "'").encode("latin-1", "replace").decode("latin-1")
        return text

    def font(self, size: float, bold: bool = False) -> None:
        has_bold = "B" in pdf_fonts.text_fonts() or not self.unicode
        self.pdf.set_font(self.family, "B" if bold and has_bold else "", size)

    def para(self, value: Any, *, size: float = 10, bold: bool = False, height: float = 5) -> None:
        self.font(size, bold)
        self.pdf.multi_cell(0, height, self.text(value), new_x="LMARGIN", new_y="NEXT")


def render(case: Case, rows: list[dict[str, Any]], events: list[Any], *, user: Any, demo_decided: bool,
           internal: bool, threads: list[dict[str, Any]], memo: bytes) -> bytes:
    texts = [case.title, case.final_comment, case.source_url, " ".join(t.name for t in case.tags.all())]
    for row in rows:
        texts.append(row["image"].original_name)
        texts.extend(r.comment for r in row["reviews"])
    texts.extend(audit_display.summary(e) for e in events)
    if internal:
        texts.append(case.notes)
        texts.extend(t["comment"].body + " ".join(r.body for r in t["replies"]) for t in threads)
    w = _Writer("\n".join(t or "" for t in texts))
    pdf = w.pdf
    pdf.set_title(w.text(f"Verity case {case.pk}: {case.title}"))
    pdf.add_page()
    if demo_decided:
        pdf.set_fill_color(253, 236, 234)
        pdf.set_text_color(140, 20, 10)
        w.font(10, bold=True)
        pdf.multi_cell(0, 5, w.text(DEMO_WARNING), border=1, fill=True, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.ln(2)
    w.para(case.title, size=16, bold=True, height=8)
    when = timezone.localtime(case.created_at)
    for line in (
        f"Case {case.pk} · team {case.team} · submitted {when:%Y-%m-%d %H:%M} {when.tzname()} by {case.created_by}",
        f"Status: {case.get_status_display()}"
        + (f" · final verdict: {case.get_final_verdict_display()} by {case.finalised_by}"
           if case.final_verdict else ""),
        f"Model verdict: {case.get_model_verdict_display() or 'none yet'}",
        f"Source: {case.source_url or '—'}",
        f"Tags: {', '.join(t.name for t in case.tags.all()) or '—'}",
        f"Report generated {timezone.localtime():%Y-%m-%d %H:%M %Z} for {user}"
        + (" · includes internal discussion" if internal else " · public edition (internal discussion left out)"),
    ):
        w.para(line, size=10)
    if case.final_comment:
        pdf.ln(2)
        w.para("Summary", size=12, bold=True, height=6)
        w.para(case.final_comment)

    for row in rows:
        image, analysis = row["image"], row["analysis"]
        pdf.ln(4)
        w.para(f"Image: {image.original_name}", size=12, bold=True, height=6)
        w.para(f"{image.format}, {image.width} x {image.height} px, SHA-256 {image.sha256}", size=9, height=4.5)
        if analysis is not None and analysis.status == "done":
            band = " (uncertain: close to the threshold)" if analysis.is_uncertain else ""
            mv = analysis.model_version
            w.para(f"Model: {analysis.get_label_display()}{band}, p(AI-generated) = {analysis.probability_ai:.3f}, "
                   f"threshold {analysis.threshold:.2f}, model version {mv}"
                   + (f" (checkpoint SHA-256 {mv.checkpoint_sha256})" if mv else ""), size=9, height=4.5)
            for line in evidence.as_lines(analysis.evidence):
                w.para(line, size=9, height=4.5)
        elif analysis is not None:
            w.para(f"Analysis {analysis.get_status_display().lower()}. {analysis.error}", size=9, height=4.5)
        for review in reversed(row["reviews"]):
            kind = "overrode the model" if review.is_override else "confirmed the model"
            at = timezone.localtime(review.created_at)
            w.para(f"{at:%Y-%m-%d %H:%M %Z} {review.reviewer} {kind}: {review.get_verdict_display()}"
                   + (f" — {review.comment}" if review.comment else ""), size=9, height=4.5)
        pictures = [_png(image.file)]
        if analysis is not None and analysis.heatmap and analysis.map_faithful is False:
            w.para("The Grad-CAM heatmap is left out: it is not faithful for this image.", size=9, height=4.5)
        elif analysis is not None and analysis.heatmap:
            try:
                pictures.append(_png(services.analysis_overlay(analysis)))
            except FileNotFoundError:
                pass  # the report still lists the verdict; the picture is missing from storage
        pictures = [p for p in pictures if p is not None]
        if pictures:
            if pdf.get_y() > 200:
                pdf.add_page()
            y, x = pdf.get_y() + 2, pdf.l_margin
            for picture in pictures:
                pdf.image(picture, x=x, y=y, w=85, h=65, keep_aspect_ratio=True)
                x += 90
            pdf.set_y(y + 68)

    if internal:
        pdf.ln(4)
        w.para("Internal discussion (not for publication)", size=12, bold=True, height=6)
        if case.notes:
            w.para(f"Notes: {case.notes}", size=9, height=4.5)
        for thread in threads:
            for c in [thread["comment"], *thread["replies"]]:
                at = timezone.localtime(c.created_at)
                w.para(f"{'    ' if c.parent_id else ''}{at:%Y-%m-%d %H:%M %Z} {c.author}: {c.body}",
                       size=9, height=4.5)

    pdf.add_page()
    w.para("Audit trail", size=12, bold=True, height=8)
    for event in reversed(events):
        at = timezone.localtime(event.created_at)
        detail = audit_display.summary(event) if internal or event.action != "comment.added" else ""
        w.para(f"{at:%Y-%m-%d %H:%M:%S %Z} {event.action} by {audit_display_actor(event)} {detail}", size=8, height=4)

    pdf.ln(4)
    w.para("Signed verification memo", size=12, bold=True, height=6)
    w.para("This PDF carries a signed memo as an attached file (verity-memo.txt): image hashes, model and "
           "checkpoint hash, decisions and the audit chain head, signed with this installation's Ed25519 key "
           f"(fingerprint {signing.key_id()}). Check it on the portal's memo page or with "
           "'python manage.py verify_memo'.", size=9, height=4.5)
    pdf.embed_file(bytes=memo, basename="verity-memo.txt", mime_type="text/plain",
                   desc="Signed Verity verification memo")
    return bytes(pdf.output())


def audit_display_actor(event: Any) -> str:
    return event.actor.get_username() if event.actor_id and event.actor else (event.actor_name or "the system")
