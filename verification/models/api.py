"""Models of the integrations API: tokens, idempotency records, submissions, webhook deliveries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .cases import Analysis, Case


class TokenScope(models.TextChoices):
    READ = "read", "Read: list and download cases, images, analyses, events and metrics"
    SUBMIT = "submit", "Submit: create cases and change their tags and notes"


class ApiToken(models.Model):
    """A personal API token. Only a SHA-256 of the secret is stored; the token is shown once.

    The token reads ``vty_<prefix>_<secret>``: the public prefix finds the row with an index, the
    hash of the whole token proves possession. A token acts as its user, within its scopes.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list, help_text="Subset of TokenScope values.")
    webhook_url = models.URLField(max_length=500, blank=True)
    # The receiver needs this secret to check signatures, and we need it to sign: it cannot be hashed.
    webhook_secret = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], condition=Q(revoked_at__isnull=True),
                                    name="one_live_token_name_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class IdempotencyKey(models.Model):
    """One ``Idempotency-Key`` a user sent with a submission, the hash of that request and its case.

    The unique constraint is what makes concurrent retries safe: the second insert waits for, then
    fails against, the first one's committed row instead of creating a second case.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_sha256 = models.CharField(max_length=64)
    case = models.ForeignKey(Case, null=True, on_delete=models.CASCADE, related_name="+")
    rejected = models.JSONField(default=list, blank=True, help_text="Files refused in the original request.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")]


class ApiSubmission(models.Model):
    """Which token submitted a case, so that token's webhook hears about the case's analyses."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="api_submission")
    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="submissions")
    created_at = models.DateTimeField(auto_now_add=True)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    """One event for one token's webhook, with the outcome of its latest attempt."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="deliveries")
    # Empty for events about a case rather than an analysis (case.archive_flagged).
    analysis = models.ForeignKey(Analysis, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=32)
    url = models.URLField(max_length=500)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING,
                              db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # analysis_record is idempotent, but a second hook call must not send a second event.
            models.UniqueConstraint(fields=["token", "analysis", "event"], name="one_delivery_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.analysis_id} → {self.url} ({self.status})"
