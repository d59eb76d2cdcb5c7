"""API tokens: what a token looks like and checking one that a request presents. Creating,
revoking and recording use are writes: ``verification.services.tokens``.

A token is ``vty_<prefix>_<secret>``. Only the SHA-256 of the whole token is stored, so a copy of
the database does not hand out working tokens; the prefix is public and finds the row.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .errors import VerityError
from .models import ApiToken, Team
from .selectors import default_team_for

TOKEN_PREFIX = "vty"
# Recording every use would write a row per request; a minute is precise enough for "last used".
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass
class IssuedToken:
    token: ApiToken
    secret: str  # the full token, to show once
    webhook_secret: str  # empty when the token has no webhook


class TokenNotFound(VerityError):
    code = "not_found"
    status = 404


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def team_of(user: Any) -> Team | None:
    """The team a token's events are filed under: its owner's first team, so that team's admins see
    them and no other team's do (a user in no team: superusers only)."""
    return default_team_for(user)


def token_authenticate(raw: str) -> ApiToken | None:
    """The live token that ``raw`` is, or None. Constant-time comparison of the hashes."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    if token is None or not hmac.compare_digest(token.token_hash, token_hash(raw)):
        return None
    if token.revoked_at is not None or not token.user.is_active:
        return None
    return token
