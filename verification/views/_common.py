"""Helpers shared by the page views."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from .. import selectors
from ..models import Case, CaseImage

ViewFunc = Callable[..., HttpResponse]


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


def admin_required(message: str = NOT_ADMIN) -> Callable[[ViewFunc], ViewFunc]:
    """The one admin check of the pages: anyone who is not an admin of some team (or a superuser)
    gets the 403 page with ``message``. Put it under ``login_required``."""

    def decorate(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not selectors.is_admin(request.user):
                return forbidden(request, message)
            return view(request, *args, **kwargs)

        return guarded

    return decorate


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
