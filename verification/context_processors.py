from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .selectors import active_model, admin_teams, lead_teams


def verity(request: HttpRequest) -> dict[str, Any]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    # Navigation shows dashboards, the audit log and the people page only to those who may open them.
    return {"active_model": active_model(), "nav_is_lead": lead_teams(request.user).exists(),
            "nav_is_admin": admin_teams(request.user).exists()}
