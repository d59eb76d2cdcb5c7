"""API tokens: creation, revocation and recording their use. Each change is audited in the same
transaction. (Checking a presented token, and listing a user's tokens, are reads: verification.tokens.)"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.contrib.auth.models import User as AuthUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from ..audit import record_event
from ..errors import VerityError
from ..models import ApiToken, TokenScope
from ..selectors import User
from ..tokens import LAST_USED_RESOLUTION, TOKEN_PREFIX, IssuedToken, TokenNotFound, team_of, token_hash
from ..webhooks import validate_webhook_url


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = set(scopes)
    unknown = chosen - set(TokenScope.values)
    if unknown:
        raise VerityError(f"Unknown scope(s): {', '.join(sorted(unknown))}.",
                          details={"allowed": list(TokenScope.values)})
    # Submitting without reading back the result would be useless: submit implies read.
    chosen.add(TokenScope.READ)
    return [s for s in TokenScope.values if s in chosen]


def _owner(user: User) -> AuthUser:
    """Tokens belong to signed-in accounts; anything else is refused rather than written."""
    if not isinstance(user, AuthUser) or not user.is_authenticated:
        raise VerityError("Sign in to manage API tokens.")
    return user


def token_create(*, user: User, name: str, scopes: Iterable[str], webhook_url: str = "") -> IssuedToken:
    """Create a token for ``user``. The returned secret is the only copy of it anywhere."""
    owner = _owner(user)
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
            token = ApiToken.objects.create(user=owner, name=name, prefix=prefix, token_hash=token_hash(raw),
                                            scopes=clean, webhook_url=webhook_url,
                                            webhook_secret=webhook_secret)
            record_event(action="token.created", obj=token, actor=owner, team=team_of(owner),
                         details={"name": name, "prefix": prefix, "scopes": clean,
                                  "webhook_url": webhook_url})
    except IntegrityError:
        raise VerityError(f"You already have a token named {name!r}; choose another name.") from None
    return IssuedToken(token=token, secret=raw, webhook_secret=webhook_secret)


def token_revoke(*, user: User, token_id: int, actor: User | None = None) -> ApiToken:
    """Revoke one of ``user``'s tokens. Revoking twice is harmless; others' tokens are not found.

    ``actor`` is who revoked it when that is not the owner (an admin)."""
    owner = _owner(user)
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(user=owner, pk=token_id).first()
        if token is None:
            raise TokenNotFound("No such token.")
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            record_event(action="token.revoked", obj=token, actor=actor or owner, team=team_of(owner),
                         details={"name": token.name, "prefix": token.prefix})
    return token


def token_touch(token: ApiToken) -> None:
    """Record a use, at most once per LAST_USED_RESOLUTION (a conditional update, no race)."""
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION),
    ).update(last_used_at=now)
