"""The case report: a printable HTML page and a PDF with the same content. Both are audited."""

from __future__ import annotations

import io
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from PIL import Image

from .. import archive_selectors, selectors, services, storage
from ..models import Case
from ._common import case_or_404
from .cases import image_rows


@login_required
@require_GET
def case_report(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_or_404(request, case_id)
    services.case_export_record(user=request.user, case=case, fmt="html")
    return render(request, "verification/case_report.html", {
        "case": case, "rows": image_rows(case), "events": selectors.case_audit(case),
        "memory": archive_selectors.case_memory(request.user, case), "generated_at": timezone.now()})


@login_required
@require_GET
def case_report_pdf(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_or_404(request, case_id)
    services.case_export_record(user=request.user, case=case, fmt="pdf")
    pdf = render_pdf(case, image_rows(case), list(selectors.case_audit(case)), request.user)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="verity-case-{case.pk}.pdf"'
    return response


def _latin1(text: Any) -> str:
    # The PDF's built-in fonts cover Latin-1 only; anything else is shown as '?'.
    return str(text).replace("\u2014", "-").replace("\u2019", "'").encode("latin-1", "replace").decode("latin-1")


def _png(name: str) -> Image.Image | None:
    try:
        with Image.open(io.BytesIO(storage.read(name))) as im:
            im.load()
            im = im.convert("RGB")
            im.thumbnail((900, 900))
            return im
    except (FileNotFoundError, OSError, ValueError):
        return None


def render_pdf(case: Case, rows: list[dict[str, Any]], events: list[Any], user: Any) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(_latin1(f"Verity case {case.pk}: {case.title}"))
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.multi_cell(0, 8, _latin1(case.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=10)
    lines = [
        f"Case {case.pk} - team {case.team} - submitted {case.created_at:%Y-%m-%d %H:%M} UTC by {case.created_by}",
        f"Status: {case.get_status_display()}"
        + (f" - final verdict: {case.get_final_verdict_display()} by {case.finalised_by}" if case.final_verdict else ""),
        f"Model verdict: {case.get_model_verdict_display() or 'none yet'}",
        f"Source: {case.source_url or '-'}",
        f"Tags: {', '.join(t.name for t in case.tags.all()) or '-'}",
        f"Report generated {timezone.now():%Y-%m-%d %H:%M} UTC for {user}",
    ]
    for line in lines:
        pdf.multi_cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    if case.final_comment:
        pdf.multi_cell(0, 5, _latin1(f"Summary: {case.final_comment}"), new_x="LMARGIN", new_y="NEXT")
    if case.notes:
        pdf.multi_cell(0, 5, _latin1(f"Notes: {case.notes}"), new_x="LMARGIN", new_y="NEXT")

    for row in rows:
        image, analysis = row["image"], row["analysis"]
        pdf.ln(4)
        pdf.set_font("helvetica", "B", 12)
        pdf.multi_cell(0, 6, _latin1(f"Image: {image.original_name}"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=9)
        pdf.multi_cell(0, 4.5, _latin1(f"{image.format}, {image.width} x {image.height} px, SHA-256 {image.sha256}"),
                       new_x="LMARGIN", new_y="NEXT")
        if analysis is not None and analysis.status == "done":
            band = " (uncertain: close to the threshold)" if analysis.is_uncertain else ""
            pdf.multi_cell(0, 4.5, _latin1(
                f"Model: {analysis.get_label_display()}{band}, p(AI-generated) = {analysis.probability_ai:.3f}, "
                f"threshold {analysis.threshold:.2f}, model version {analysis.model_version}"),
                new_x="LMARGIN", new_y="NEXT")
        elif analysis is not None:
            pdf.multi_cell(0, 4.5, _latin1(f"Analysis {analysis.get_status_display().lower()}. {analysis.error}"),
                           new_x="LMARGIN", new_y="NEXT")
        for review in reversed(row["reviews"]):
            kind = "overrode the model" if review.is_override else "confirmed the model"
            pdf.multi_cell(0, 4.5, _latin1(
                f"{review.created_at:%Y-%m-%d %H:%M} {review.reviewer} {kind}: {review.get_verdict_display()}"
                + (f" - {review.comment}" if review.comment else "")), new_x="LMARGIN", new_y="NEXT")
        pictures = [_png(image.file)]
        if analysis is not None and analysis.heatmap:
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

    pdf.add_page()
    pdf.set_font("helvetica", "B", 12)
    pdf.cell(0, 8, "Audit trail", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=8)
    for event in reversed(events):
        detail = event.details.get("comment") or event.details.get("reason") or event.details.get("verdict") or ""
        pdf.multi_cell(0, 4, _latin1(f"{event.created_at:%Y-%m-%d %H:%M:%S} {event.action} by "
                                     f"{event.actor or 'the system'} {detail}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
