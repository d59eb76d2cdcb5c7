"""Login with a limit on failed attempts, so passwords cannot be guessed at speed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse


def _client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR is the proxy in production; trust X-Forwarded-For only when configured to.
    if settings.VERITY_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


class RateLimitedLoginView(auth_views.LoginView):
    """Django's login view; after VERITY_LOGIN_MAX_FAILURES failures for one username from one
    address (or five times that from one address) within VERITY_LOGIN_WINDOW_S, further attempts
    get 429 until the window passes."""

    redirect_authenticated_user = True

    def _keys(self) -> tuple[str, str]:
        ip = _client_ip(self.request)
        username = (self.request.POST.get("username") or "").strip().lower()
        return f"login-fail:{ip}:{username}", f"login-fail-ip:{ip}"

    def _blocked(self) -> bool:
        user_key, ip_key = self._keys()
        limit = settings.VERITY_LOGIN_MAX_FAILURES
        return cache.get(user_key, 0) >= limit or cache.get(ip_key, 0) >= limit * 5

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self._blocked():
            minutes = max(1, settings.VERITY_LOGIN_WINDOW_S // 60)
            form = self.get_form()
            form.errors.clear()
            response = self.render_to_response(self.get_context_data(form=form, locked_minutes=minutes))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        for key in self._keys():
            cache.add(key, 0, timeout=settings.VERITY_LOGIN_WINDOW_S)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=settings.VERITY_LOGIN_WINDOW_S)
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        cache.delete(self._keys()[0])
        return super().form_valid(form)
