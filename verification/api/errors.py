"""The API's one exception handler: every error leaves as ``{"error": {code, message, details}}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig, TooManyFilesSent
from django.http import Http404
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import VerityError

logger = logging.getLogger(__name__)

# Stable codes for DRF's own errors, so clients never have to parse messages.
_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "malformed_request",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def _message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        return f"{key}: {_message(value)}" if key != "non_field_errors" else _message(value)
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, VerityError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("payload_too_large", "The request body is larger than allowed."),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, TooManyFilesSent):
        return Response(error_body("too_many_files", "The request carries more files than allowed."),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)  # sets WWW-Authenticate, Retry-After
    if response is None or not isinstance(exc, exceptions.APIException):
        return response  # a bug: let Django log it and answer 500
    code = next((c for t, c in _CODES.items() if isinstance(exc, t)), "error")
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(code, _message(exc.detail), exc.detail)
    else:
        details: dict[str, Any] = {}
        if isinstance(exc, exceptions.Throttled):
            # Throttled.__init__ sets wait (seconds, rounded up; None when unknown); the stubs omit it.
            wait: float | None = exc.wait  # type: ignore[attr-defined]
            if wait is not None:
                details["retry_after_s"] = int(wait + 0.999)
        response.data = error_body(code, str(exc.detail), details)
    return response


@csrf_exempt  # a 404 changes nothing; without this, a POST with a session cookie got an HTML CSRF page
def api_not_found(request: Request, *args: Any, **kwargs: Any) -> Any:
    """JSON 404 for any unknown path under /api/v1/ (instead of Django's HTML page)."""
    from django.http import JsonResponse

    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
