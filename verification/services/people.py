"""Teams, people and their roles; the login record."""

from __future__ import annotations


from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import transaction

from ..audit import record_event
from ..errors import VerityError
from ..models import Membership, Role, Team
from ..selectors import User
from ._common import require_admin


def team_create(*, name: str, actor: User | None = None) -> Team:
    with transaction.atomic():
        team = Team.objects.create(name=name)
        record_event(action="team.created", obj=team, actor=actor, team=team)
    return team


def membership_set(*, user: AbstractBaseUser, team: Team, role: str, actor: User | None = None) -> Membership:
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(user=user, team=team, defaults={"role": role})
        record_event(action="membership.set", obj=membership, actor=actor, team=team,
                     details={"user": user.get_username(), "role": role})
    return membership


def user_create(*, actor: User, username: str, email: str, password: str, team: Team, role: str) -> AbstractBaseUser:
    """An admin creates an account in one of their teams with a first password to hand over.

    The password goes through the site's password validators; the new user should change it."""
    require_admin(actor, team)
    if role not in Role.values:
        raise VerityError(f"Unknown role {role!r}; choose reviewer, lead or admin.")
    User = get_user_model()
    username = username.strip()
    if not username:
        raise VerityError("Enter a username.")
    if User.objects.filter(username__iexact=username).exists():
        raise VerityError(f"The username {username!r} is taken; choose another.")
    candidate = User(username=username, email=email)
    try:
        password_validation.validate_password(password, candidate)
    except ValidationError as exc:
        raise VerityError(" ".join(exc.messages)) from exc
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password)
        Membership.objects.create(user=user, team=team, role=role)
        record_event(action="user.created", obj=user, actor=actor, team=team,
                     details={"user": username, "role": role})
    return user


def member_role_change(*, actor: User, membership: Membership, role: str) -> Membership:
    """An admin of the membership's team changes someone's role there."""
    require_admin(actor, membership.team)
    if role not in Role.values:
        raise VerityError(f"Unknown role {role!r}; choose reviewer, lead or admin.")
    if membership.user_id == getattr(actor, "pk", None) and role != Role.ADMIN \
            and not getattr(actor, "is_superuser", False):
        raise VerityError("You cannot take away your own admin role; ask another admin.")
    return membership_set(user=membership.user, team=membership.team, role=role, actor=actor)


def user_login_record(*, user: AbstractBaseUser) -> None:
    """Called from the user_logged_in signal: the login joins the audit history."""
    team = Team.objects.filter(memberships__user=user.pk).order_by("memberships__id").first()
    with transaction.atomic():
        record_event(action="user.logged_in", obj=user, actor=user, team=team,
                     details={"user": user.get_username()})
