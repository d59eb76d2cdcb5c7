"""A user's API tokens, with the webhook deliveries of each (the tokens page)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from ..models import ApiToken, WebhookDelivery
from .scope import User

__all__ = ["tokens_with_deliveries"]


def tokens_with_deliveries(user: User) -> QuerySet[ApiToken]:
    """``user``'s own tokens, revoked ones last, each with its webhook deliveries newest first."""
    recent = WebhookDelivery.objects.order_by("-created_at", "-id")
    return (ApiToken.objects.filter(user=user.pk).order_by("revoked_at", "-created_at")
            .prefetch_related(Prefetch("deliveries", queryset=recent)))
