"""OpenAPI helpers: the error envelope, documented on every operation, and shared examples."""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: e.g. not_found, invalid, rate_limited.")
    message = serializers.CharField(help_text="A sentence for people.")
    details = serializers.JSONField(help_text="Field errors, refused files or other specifics; {} if none.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_ERROR_TEXT = {
    400: "The request is invalid (see details).",
    401: "No credentials, or an invalid or revoked token.",
    403: "The token lacks the scope, or the user the role, for this request.",
    404: "No such object among those you may see (another team's objects are 404 too).",
    409: "Conflict with the current state (e.g. an Idempotency-Key reused with another body).",
    413: "Too large: a file over the size limit or archives that unpack past the limit.",
    415: "Unsupported media type: the body or the files are not of an accepted type.",
    429: "Rate limit reached; retry after the Retry-After header's seconds.",
}
COMMON_ERRORS = (400, 401, 403, 404, 429)


def error_response(status: int) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=_ERROR_TEXT[status], examples=[
        OpenApiExample(f"error {status}", value={"error": {
            "code": {400: "invalid", 401: "authentication_failed", 403: "permission_denied", 404: "not_found",
                     409: "idempotency_key_reused", 413: "payload_too_large", 415: "unsupported_media_type",
                     429: "rate_limited"}[status],
            "message": _ERROR_TEXT[status], "details": {}}}, response_only=True, status_codes=[str(status)])])


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {s: error_response(s) for s in statuses}


class AutoSchema(SpectacularAutoSchema):
    """Adds the error envelope for the statuses every API operation can answer with."""

    def _get_response_bodies(self, direction: Literal["request", "response"] = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if self.path.startswith("/api/v1/schema"):
            return responses
        for status in COMMON_ERRORS:
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(error_response(status), str(status))
        return responses


