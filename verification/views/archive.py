"""Archive memory and re-share stability pages: ask for a stability check (one image or a whole
case), resolve a "near-duplicate's verdict changed" flag, and the user's notifications.

Each action is a POST that calls one service and goes back to the case page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .. import selectors, services
from ._common import attempt, case_or_404, image_or_404
from .review import _back


@login_required
@require_POST
def image_stability(request: HttpRequest, image_id: int) -> HttpResponse:
    image = image_or_404(request, image_id)
    attempt(request, lambda: services.stability_request(user=request.user, image=image),
             f"Re-share stability check of {image.original_name} queued; refresh the page to see it.")
    return _back(image.case, f"image-{image.pk}")


@login_required
@require_POST
def case_stability(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_or_404(request, case_id)
    attempt(request, lambda: services.stability_request_case(user=request.user, case=case),
             "Re-share stability checks queued for every image; refresh the page to see them.")
    return _back(case)


@login_required
@require_POST
def flag_resolve(request: HttpRequest, flag_id: int) -> HttpResponse:
    try:
        flag = selectors.flag_for(request.user, flag_id)
    except ObjectDoesNotExist:  # ArchiveFlag.DoesNotExist; the model stays behind the selectors
        raise Http404("No such flag.") from None
    attempt(request, lambda: services.archive_flag_resolve(user=request.user, flag=flag),
             "Marked as reviewed again.")
    return _back(flag.case)


@login_required
@require_http_methods(["GET", "POST"])
def notifications(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        n = services.notifications_mark_read(user=request.user)
        messages.success(request, f"{n} notification{'s' if n != 1 else ''} marked as read.")
        return redirect("verification:notifications")
    page = Paginator(selectors.notifications_for(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "verification/notifications.html", {"page": page})

