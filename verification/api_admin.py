"""Admin pages of the API's models: tokens (revocable, never editable) and webhook deliveries."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models

from . import services
from .models import ApiToken, IdempotencyKey, WebhookDelivery


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nothing is added or edited here: these rows change only through services, which audit them."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "user", "prefix", "scopes", "webhook_url", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    exclude = ["token_hash", "webhook_secret"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: Any, queryset: Any) -> None:
        for token in queryset.filter(revoked_at__isnull=True):
            services.token_revoke(user=token.user, token_id=token.pk, actor=request.user)
        messages.success(request, "Revoked.")

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # revoke instead: the row keeps the history of what the token did


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "analysis", "token", "status", "attempts", "response_status", "created_at",
                    "last_attempt_at"]
    list_filter = ["status", "event"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ["key", "user", "case", "created_at"]
    search_fields = ["key", "user__username"]
