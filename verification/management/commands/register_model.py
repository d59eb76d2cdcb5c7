"""Register a checkpoint (with its model card) as a model version and, by default, activate it."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from verification import services
from verification.errors import VerityError


class Command(BaseCommand):
    help = ("Register CHECKPOINT (a model.pt made by `make model` / `python -m ml recipe` / `python -m ml "
            "train`) as a model version and make it the active one. A checkpoint already registered "
            "(same SHA-256) is activated again instead of registered twice.")

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("checkpoint")
        parser.add_argument("--no-activate", action="store_true", help="register only; keep the active version")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        try:
            if options["no_activate"]:
                version = services.model_version_register(checkpoint=options["checkpoint"])
            else:
                version = services.model_version_install(checkpoint=options["checkpoint"],
                                                         note="activated by register_model")
        except VerityError as exc:
            raise CommandError(str(exc)) from exc
        state = "active" if version.is_active else "registered, not active"
        kind = "DEMO model" if version.is_demo else "model"
        self.stdout.write(self.style.SUCCESS(f"{kind} {version.name}: {state} ({version.checkpoint})."))
