"""Request guards that act before Django reads a request body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

# The two views that take a dataset zip (the Datasets page and POST /api/v1/datasets/).
_DATASET_UPLOAD_VIEWS = {"verification:datasets", "api:dataset-list"}


def _may_send_a_dataset(request: HttpRequest) -> bool:
    """A POST to a dataset upload view by a signed-in admin, or with an API token: the API checks
    the token's admin rights before it reads the body, so a larger limit there costs nothing when
    the token is not an admin's."""
    if request.method != "POST":
        return False
    try:
        view = resolve(request.path_info).view_name
    except Resolver404:
        return False
    if view not in _DATASET_UPLOAD_VIEWS:
        return False
    if request.META.get("HTTP_AUTHORIZATION", "").startswith("Bearer "):
        return True
    from verification import selectors

    return selectors.is_admin(request.user)  # type: ignore[arg-type]


class RequestSizeLimitMiddleware:
    """Refuse a request whose declared body is larger than VERITY_MAX_REQUEST_BYTES with 413,
    from its Content-Length header alone, before any of the body is read or spooled to disk.

    An admin's dataset zip may be up to VERITY_MAX_DATASET_ZIP_BYTES. Telling an admin apart needs
    the session, so this runs after AuthenticationMiddleware; it still runs before any view and
    before CsrfViewMiddleware's check (a process_view hook), the first thing that reads the body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.VERITY_MAX_REQUEST_BYTES
        if length > limit and _may_send_a_dataset(request):
            limit = max(limit, settings.VERITY_MAX_DATASET_ZIP_BYTES)
        if length > limit:
            message = (f"The upload is {length / 1e6:.0f} MB; at most {limit / 1e6:.0f} MB can be sent at once. "
                       "Split the images over several cases or submissions.")
            if request.path.startswith("/api/"):
                return JsonResponse({"error": {"code": "request_too_large", "message": message, "details": {}}},
                                    status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
