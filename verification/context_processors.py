from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .selectors import active_model


def verity(request: HttpRequest) -> dict[str, Any]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"active_model": active_model()}
