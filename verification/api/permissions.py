"""Scopes: a read token may read; only a token with the submit scope may change anything.

A signed-in portal session (the browsable API) acts with the user's full rights.
"""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from .. import selectors
from ..models import ApiToken, TokenScope


def required_scope(request: Request) -> str:
    return TokenScope.READ if request.method in permissions.SAFE_METHODS else TokenScope.SUBMIT


class HasTokenScope(permissions.IsAuthenticated):
    message = "This token lacks the scope this request needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        if isinstance(request.auth, ApiToken):
            scope = required_scope(request)
            if not request.auth.has_scope(scope):
                self.message = f"This token lacks the '{scope}' scope."
                return False
        return True


class IsVerityAdmin(HasTokenScope):
    """The API's one admin check: token scope as above, and the user is an admin (of some team, or a
    superuser). The pages' counterpart is views._common.admin_required."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        if not selectors.is_admin(request.user):
            self.message = "Only an admin can manage datasets, training runs and model promotion."
            return False
        return True
