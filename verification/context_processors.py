from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from . import first_run
from .selectors import active_model, admin_teams, lead_teams


def verity(request: HttpRequest) -> dict[str, Any]:
    # The first run's progress shows on every page, the login page included.
    status = {"first_run": first_run.read()}
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return status
    # Navigation shows dashboards, the audit log and the people page only to those who may open them.
    return {**status, "active_model": active_model(), "nav_is_lead": lead_teams(request.user).exists(),
            "nav_is_admin": admin_teams(request.user).exists()}
