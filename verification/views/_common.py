"""Helpers shared by the page views."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from .. import selectors
from ..errors import VerityError
from ..models import Case, CaseImage

ViewFunc = Callable[..., HttpResponse]
T = TypeVar("T")


def attempt(request: HttpRequest, action: Callable[[], T], success: str | Callable[[T], str]) -> T | None:
    """Run one service call for a page's POST: its refusal (VerityError) becomes an error message,
    its result a success message (``success``, or ``success(result)``). The result, or None when it
    was refused; the view then redirects either way."""
    try:
        result = action()
    except VerityError as exc:
        messages.error(request, exc.message)
        return None
    messages.success(request, success if isinstance(success, str) else success(result))
    return result


def case_or_404(request: HttpRequest, case_id: int) -> Case:
    """The case with its page's data, if the user's team owns it; another team's case is a 404."""
    try:
        return selectors.case_detail(request.user, case_id)
    except Case.DoesNotExist:
        raise Http404("No such case.") from None


def image_or_404(request: HttpRequest, image_id: int) -> CaseImage:
    image = selectors.images_for(request.user).select_related("case__team").filter(pk=image_id).first()
    if image is None:
        raise Http404("No such image.")
    return image


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "verification/forbidden.html", {"message": message}, status=403)


NOT_ADMIN = "Only admins manage datasets, training and model versions. Ask an admin of your team."
NOT_A_LEAD = "Dashboards and the audit log are for team leads and admins. Ask an admin if you need access."


def role_required(allowed: Callable[[selectors.User], bool], message: str, *,
                  json: bool = False) -> Callable[[ViewFunc], ViewFunc]:
    """The pages' one role check: a user for whom ``allowed`` (a roles selector) is false gets the
    403 page with ``message`` (``json``: a 403 JSON answer, for what a page polls). Put it under
    ``login_required``."""

    def decorate(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not allowed(request.user):
                if json:
                    return JsonResponse({"error": "forbidden", "message": message}, status=403)
                return forbidden(request, message)
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def admin_required(message: str = NOT_ADMIN, *, json: bool = False) -> Callable[[ViewFunc], ViewFunc]:
    """Admins of some team, and superusers."""
    return role_required(selectors.is_admin, message, json=json)


def lead_required(message: str = NOT_A_LEAD) -> Callable[[ViewFunc], ViewFunc]:
    """Leads and admins of some team, and superusers."""
    return role_required(selectors.leads_a_team, message)


def _safe_cell(value: Any) -> Any:
    # Spreadsheet programs run cells that start with = + - @ as formulas: neutralise them.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe_cell(v) for v in row])
    return response
