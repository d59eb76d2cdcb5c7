"""The case report: a printable HTML page and a PDF with the same content, each carrying a signed
memo. Public by default; internal discussion only when the exporter asks (``?internal=1``).
Both are audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from .. import memo as memos
from .. import report_pdf, selectors, services, signing
from ..models import Case
from ._common import case_or_404
from .cases import comment_threads, image_rows


def _context(request: HttpRequest, case: Case, fmt: str) -> dict[str, Any]:
    internal = request.GET.get("internal") == "1"
    memo = services.case_memo_issue(user=request.user, case=case, include_internal=internal, fmt=fmt)
    rows = image_rows(case)
    demo = any(r["analysis"] is not None and r["analysis"].model_version is not None
               and r["analysis"].model_version.is_demo for r in rows)
    return {"case": case, "rows": rows, "events": list(selectors.case_audit(case)), "internal": internal,
            "threads": comment_threads(case) if internal else [], "demo_decided": demo, "memo": memo,
            "memory": selectors.case_memory(request.user, case),
            "generated_at": timezone.now()}


@login_required
@require_GET
def case_report(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_or_404(request, case_id)
    context = _context(request, case, "html")
    text = context["memo"].decode("utf-8")
    context.update({"memo_text": text, "key_id": signing.key_id(),
                    "memo_audit": memos.content(context["memo"])["audit"]})
    return render(request, "verification/case_report.html", context)


@login_required
@require_GET
def case_report_pdf(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_or_404(request, case_id)
    c = _context(request, case, "pdf")
    pdf = report_pdf.render(case, c["rows"], c["events"], user=request.user, demo_decided=c["demo_decided"],
                            internal=c["internal"], threads=c["threads"], memo=c["memo"])
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="verity-case-{case.pk}.pdf"'
    return response
