"""API tokens: creation, revocation and checking. Writes happen here, audited, in one transaction.

A token is ``vty_<prefix>_<secret>``. Only the SHA-256 of the whole token is stored, so a copy of
the database does not hand out working tokens; the prefix is public and finds the row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .audit import record_event
from .errors import VerityError
from .models import ApiToken, Team, TokenScope
from .selectors import default_team_for

TOKEN_PREFIX = "vty"
# Recording every use would write a row per request; a minute is precise enough for "last used".
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass
class IssuedToken:
    token: ApiToken
    secret: str  # the full token, to show once
    webhook_secret: str  # empty when the token has no webhook


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _team_of(user: Any) -> Team | None:
    """The team a token's events are filed under: its owner's first team, so that team's admins see
    them and no other team's do (a user in no team: superusers only)."""
    return default_team_for(user)


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = set(scopes)
    unknown = chosen - set(TokenScope.values)
    if unknown:
        raise VerityError(f"Unknown scope(s): {', '.join(sorted(unknown))}.",
                          details={"allowed": list(TokenScope.values)})
    # Submitting without reading back the result would be useless: submit implies read.
    chosen.add(TokenScope.READ)
    return [s for s in TokenScope.values if s in chosen]


def token_create(*, user: Any, name: str, scopes: Iterable[str], webhook_url: str = "") -> IssuedToken:
    """Create a token for ``user``. The returned secret is the only copy of it anywhere."""
    from .webhooks import validate_webhook_url  # webhooks imports this module's models

    name = name.strip()
    if not name:
        raise VerityError("Give the token a name, e.g. the integration that will use it.")
    if len(name) > 100:
        raise VerityError("A token name has at most 100 characters.")
    clean = _clean_scopes(scopes)
    webhook_url = webhook_url.strip()
    if webhook_url:
        validate_webhook_url(webhook_url)
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    webhook_secret = f"whsec_{secrets.token_urlsafe(32)}" if webhook_url else ""
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(user=user, name=name, prefix=prefix, token_hash=_hash(raw),
                                            scopes=clean, webhook_url=webhook_url,
                                            webhook_secret=webhook_secret)
            record_event(action="token.created", obj=token, actor=user, team=_team_of(user),
                         details={"name": name, "prefix": prefix, "scopes": clean,
                                  "webhook_url": webhook_url})
    except IntegrityError:
        raise VerityError(f"You already have a token named {name!r}; choose another name.") from None
    return IssuedToken(token=token, secret=raw, webhook_secret=webhook_secret)


def token_revoke(*, user: Any, token_id: int, actor: Any = None) -> ApiToken:
    """Revoke one of ``user``'s tokens. Revoking twice is harmless; others' tokens are not found.

    ``actor`` is who revoked it when that is not the owner (an admin)."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(user=user, pk=token_id).first()
        if token is None:
            raise TokenNotFound("No such token.")
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            record_event(action="token.revoked", obj=token, actor=actor or user, team=_team_of(user),
                         details={"name": token.name, "prefix": token.prefix})
    return token


class TokenNotFound(VerityError):
    code = "not_found"
    status = 404


def token_authenticate(raw: str) -> ApiToken | None:
    """The live token that ``raw`` is, or None. Constant-time comparison of the hashes."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    if token is None or not hmac.compare_digest(token.token_hash, _hash(raw)):
        return None
    if token.revoked_at is not None or not token.user.is_active:
        return None
    return token


def token_touch(token: ApiToken) -> None:
    """Record a use, at most once per LAST_USED_RESOLUTION (a conditional update, no race)."""
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION),
    ).update(last_used_at=now)


def tokens_of(user: Any) -> Any:
    return ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at")
