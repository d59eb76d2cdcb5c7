"""Failed logins and lockouts join the audit history (the limit itself is verification.login_limits)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from ..models import AuditEvent
from ..selectors import default_team_for


def login_failure_record(*, username: str, ip: str, locked: bool, minutes: int) -> None:
    """A failed password login, and a second event when it is the failure that locks the login.

    The events carry the team of the account guessed at, so its team's admins see attacks on their
    people; a guess at an unknown username has no team and only superusers see it."""
    user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD + "__iexact": username}).first()
    team = default_team_for(user) if user is not None else None
    common = {"object_type": "user", "object_id": str(user.pk) if user is not None else "", "team": team}
    details = {"username": username, "ip": ip}
    with transaction.atomic():
        AuditEvent.objects.create(action="login.failed", details=details, **common)
        if locked:
            AuditEvent.objects.create(action="login.locked_out", details={**details, "minutes": minutes}, **common)
