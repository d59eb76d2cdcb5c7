"""Request guards that act before Django reads a request body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestSizeLimitMiddleware:
    """Refuse a request whose declared body is larger than VERITY_MAX_REQUEST_BYTES with 413,
    from its Content-Length header alone, before any of the body is read or spooled to disk."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.VERITY_MAX_REQUEST_BYTES
        if length > limit:
            message = (f"The upload is {length / 1e6:.0f} MB; at most {limit / 1e6:.0f} MB can be sent at once. "
                       "Split the images over several cases or submissions.")
            if request.path.startswith("/api/"):
                return JsonResponse({"error": {"code": "request_too_large", "message": message, "details": {}}},
                                    status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
