"""Per-token rate limits (per user for a portal session), counted in Django's cache.

Reads and submissions have separate budgets (VERITY_API_RATE_READ, VERITY_API_RATE_SUBMIT):
a burst of uploads must not lock an integration out of polling for results.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from ..models import ApiToken
from .permissions import required_scope


class ClientRateThrottle(SimpleRateThrottle):
    def __init__(self) -> None:  # noqa: D107 - the rate is chosen per request in allow_request
        pass

    def get_rate(self) -> str:
        return settings.VERITY_API_RATE_READ if self.scope == "read" else settings.VERITY_API_RATE_SUBMIT

    def allow_request(self, request: Request, view: Any) -> bool:
        # Read from settings on each request (not at import) so tests and deployments can change it.
        self.scope = str(required_scope(request))
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return f"throttle:{self.scope}:{ident}"
