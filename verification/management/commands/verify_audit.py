"""Recompute the audit chains and report any altered, deleted or inserted row (exit status 1)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from verification.audit_integrity import verify_all


class Command(BaseCommand):
    help = ("Check the tamper-evident audit history: every event's hash, every link between events, and each "
            "chain's head. Exits 1 and lists the rows when anything was altered or deleted.")

    def handle(self, *args: Any, **options: Any) -> None:
        reports = verify_all()
        broken = 0
        for r in reports:
            if r.ok:
                self.stdout.write(f"{r.chain}: {r.events} event(s), intact, head #{r.head_seq} {r.head_hash}")
            else:
                broken += 1
                self.stdout.write(f"{r.chain}: {r.events} event(s), BROKEN")
                for p in r.problems:
                    self.stdout.write(f"  - {p}")
        if not reports:
            self.stdout.write("No audit events yet.")
        if broken:
            raise CommandError(f"{broken} audit chain(s) were altered. Restore the database from a backup made "
                               "before the first broken event and investigate who had write access.")
        self.stdout.write(self.style.SUCCESS(f"All {len(reports)} audit chain(s) intact."))
