"""One limit on failed password logins, shared by every door that checks a password.

The limit lives in the authentication backend, not in a login view, because Django has several
doors that check a password (``/accounts/login/``, ``/admin/login/``, any future one) and all of
them go through ``django.contrib.auth.authenticate``. A view-level limiter guards only the view it
is written in: ``/admin/login/`` used to take unlimited guesses and then hand out a session that
works in the portal.

Failures are counted in Django's cache (shared between web processes when CACHE_URL/REDIS_URL is
set) under three keys: the username from one address, the address, and the username from anywhere
(so guesses spread over many addresses are limited too). While any key is over its limit, the
right password is refused as well, until VERITY_LOGIN_WINDOW_S has passed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

# Set on the request when the backend refused a login because of the limit: the failure signal
# must not count (or audit) every refused attempt of an attacker who is already locked out.
_LOCKED_ATTR = "_verity_login_locked"


def client_ip(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    # REMOTE_ADDR is the proxy in production; trust X-Forwarded-For only when configured to.
    if settings.VERITY_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


def _normal(username: str | None) -> str:
    return (username or "").strip().lower()[:150]


def _limits(request: HttpRequest | None, username: str | None) -> list[tuple[str, int]]:
    """(cache key, limit) pairs counting failures for this attempt."""
    limit = settings.VERITY_LOGIN_MAX_FAILURES
    name = _normal(username)
    ip = client_ip(request)
    keys = [(f"login-fail-user:{name}", limit * 5)]
    if request is not None:
        keys += [(f"login-fail:{ip}:{name}", limit), (f"login-fail-ip:{ip}", limit * 5)]
    return keys


def is_locked(request: HttpRequest | None, username: str | None) -> bool:
    return any(cache.get(key, 0) >= limit for key, limit in _limits(request, username))


def lock_minutes() -> int:
    return max(1, settings.VERITY_LOGIN_WINDOW_S // 60)


def failure_count(request: HttpRequest | None, username: str | None) -> bool:
    """Count one failure; True when this failure is the one that locks the login."""
    locked_now = False
    for key, limit in _limits(request, username):
        cache.add(key, 0, timeout=settings.VERITY_LOGIN_WINDOW_S)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.VERITY_LOGIN_WINDOW_S)
            count = 1
        locked_now = locked_now or count == limit
    return locked_now


def failures_clear(request: HttpRequest | None, username: str | None) -> None:
    """A successful login forgives this user's failures from this address (not the address's)."""
    for key, _ in _limits(request, username):
        if not key.startswith("login-fail-ip:"):
            cache.delete(key)


def was_refused_for_the_limit(request: HttpRequest | None) -> bool:
    return bool(getattr(request, _LOCKED_ATTR, False))


class RateLimitedModelBackend(ModelBackend):
    """Django's username/password backend behind the shared failure limit."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None,
                     password: str | None = None, **kwargs: Any) -> Any:
        if username is None:
            from django.contrib.auth import get_user_model

            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if is_locked(request, username):
            if request is not None:
                setattr(request, _LOCKED_ATTR, True)
            # PermissionDenied stops authenticate() from asking any other backend.
            raise PermissionDenied("Too many failed logins; wait and try again.")
        return super().authenticate(request, username=username, password=password, **kwargs)


def on_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None,
                    **kwargs: Any) -> None:
    """user_login_failed receiver: count the failure and write it (and a lockout) to the audit history."""
    if was_refused_for_the_limit(request):
        return
    from django.contrib.auth import get_user_model

    from . import services

    username = credentials.get("username") or credentials.get(get_user_model().USERNAME_FIELD) or ""
    locked = failure_count(request, username)
    services.login_failure_record(username=_normal(username), ip=client_ip(request), locked=locked,
                                  minutes=lock_minutes())


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    failures_clear(request, user.get_username())
