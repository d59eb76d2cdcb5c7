"""Create the first admin account and default team, if there is no superuser yet."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from verification import services
from verification.models import Role, Team


class Command(BaseCommand):
    help = ("Create an admin account (VERITY_ADMIN_USERNAME, default 'admin'; password from "
            "VERITY_ADMIN_PASSWORD or generated and printed once) and a default team.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin account exists already.")
            return
        username = os.environ.get("VERITY_ADMIN_USERNAME", "admin")
        password = os.environ.get("VERITY_ADMIN_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user = User.objects.create_superuser(username=username, email=os.environ.get("VERITY_ADMIN_EMAIL", ""),
                                                 password=password)
            team_name = os.environ.get("VERITY_DEFAULT_TEAM", "Newsroom")
            team = Team.objects.filter(name=team_name).first() or services.team_create(name=team_name, actor=user)
            services.membership_set(user=user, team=team, role=Role.ADMIN, actor=user)
        self.stdout.write(self.style.SUCCESS(f"Created admin account '{username}' in team '{team.name}'."))
        if generated:
            self.stdout.write(self.style.WARNING(
                f"Its password is: {password}\nIt is shown only this once; change it after logging in "
                "(or set VERITY_ADMIN_PASSWORD before the first start)."))
