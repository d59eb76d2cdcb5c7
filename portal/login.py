"""The portal's login page. The limit on failed attempts is not kept here: it is in the
authentication backend (verification/login_limits.py), shared with every other login door such as
/admin/login/. This view only answers a locked login with 429 and a message that says what to do."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

from verification import login_limits


class RateLimitedLoginView(auth_views.LoginView):
    """Django's login view; while the username or address is locked out, attempts get 429."""

    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if login_limits.is_locked(request, request.POST.get("username")):
            form = self.get_form()
            form.errors.clear()
            response = self.render_to_response(self.get_context_data(form=form,
                                                                     locked_minutes=login_limits.lock_minutes()))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)
