"""Forget Idempotency-Key records older than a given age (run daily from cron or a beat task)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from verification.models import IdempotencyKey


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than --hours (default 24): clients retry within minutes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=int, default=24)

    def handle(self, *args: Any, hours: int, **options: Any) -> None:
        if hours < 1:
            raise ValueError("--hours must be at least 1")
        deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - timedelta(hours=hours)).delete()
        self.stdout.write(f"Deleted {deleted} idempotency key(s) older than {hours} h.")
