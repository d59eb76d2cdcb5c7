from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from verification import token_views
from verification.views import healthz

from .login import RateLimitedLoginView

urlpatterns = [
    path("accounts/login/", RateLimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("verification.api.urls")),
    path("account/tokens/", token_views.token_list, name="token_list"),
    path("account/tokens/<int:token_id>/revoke/", token_views.token_revoke, name="token_revoke"),
    path("", include("verification.urls")),
]
