"""Signed memos: download one for a case, and a public page where anyone checks one."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from .. import memo, services, signing
from ._common import case_or_404


@login_required
@require_GET
def case_memo(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_or_404(request, case_id)
    data = services.case_memo_issue(user=request.user, case=case, include_internal=request.GET.get("internal") == "1")
    response = HttpResponse(data, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="verity-case-{case.pk}-memo.txt"'
    return response


@require_http_methods(["GET", "POST"])
def memo_verify(request: HttpRequest) -> HttpResponse:
    """Open to anyone (no login): whoever received a memo can check it here."""
    result, status = None, 200
    if request.method == "POST":
        upload = request.FILES.get("memo")
        if upload is None:
            status = 400
            result = memo.MemoCheck(False, "unreadable", "Choose the memo file (.txt) to check.")
        elif (upload.size or 0) > memo.MAX_MEMO_BYTES:
            status = 400
            result = memo.MemoCheck(False, "unreadable", "That file is far larger than any memo; check the file.")
        else:
            result = memo.check(upload.read())
    return render(request, "verification/memo_verify.html", {
        "result": result, "key_id": signing.key_id(), "public_pem": signing.public_pem()}, status=status)


@require_GET
def memo_public_key(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(signing.public_pem(), content_type="application/x-pem-file")
    response["Content-Disposition"] = 'attachment; filename="verity-memo-key.pem"'
    return response
