"""Check a signed verification memo: authentic (this installation's key) and unchanged, or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from verification import memo


class Command(BaseCommand):
    help = "Check that a verification memo was signed by this installation and not changed since (exit 1 if not)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the memo (.txt) as downloaded")

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{path} is not a file. Give the path of the memo as downloaded.")
        result = memo.check(path.read_bytes())
        for note in result.notes:
            self.stdout.write(note)
        if not result.authentic:
            raise CommandError(f"{result.verdict.upper()}: {result.message}")
        case = (result.memo or {}).get("case", {})
        self.stdout.write(self.style.SUCCESS(
            f"AUTHENTIC: case {case.get('id')} \"{case.get('title')}\", key {result.key_id}. {result.message}"))
