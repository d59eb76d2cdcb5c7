"""The admins' page: create accounts in their teams and set roles, through services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .. import selectors, services
from ..errors import VerityError
from ..forms import RoleForm, UserCreateForm
from ._common import admin_required, attempt

_NOT_ADMIN = "Only admins manage people and roles. Ask an admin of your team."


@login_required
@require_http_methods(["GET", "POST"])
@admin_required(_NOT_ADMIN)
def people(request: HttpRequest) -> HttpResponse:
    teams = selectors.admin_teams(request.user)
    form = UserCreateForm(request.POST or None, teams=teams)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_create(actor=request.user, username=data["username"], email=data["email"],
                                        password=data["password"], team=data["team"], role=data["role"])
        except VerityError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"{user.get_username()} can now log in as {data['role']} of {data['team']}.")
            return redirect("verification:people")
    return render(request, "verification/people.html", {
        "form": form, "memberships": selectors.memberships_for_admin(request.user), "role_form": RoleForm(),
    }, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def membership_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = selectors.memberships_for_admin(request.user).filter(pk=membership_id).first()
    if membership is None:
        raise Http404("No such membership.")
    form = RoleForm(request.POST)
    if form.is_valid():
        attempt(request, lambda: services.member_role_change(actor=request.user, membership=membership,
                                                             role=form.cleaned_data["role"]),
                f"{membership.user} is now {form.cleaned_data['role']} of {membership.team}.")
    return redirect("verification:people")


@login_required
@require_http_methods(["GET", "POST"])
@admin_required("Only admins manage model versions. Ask an admin of your team.")
def models(request: HttpRequest) -> HttpResponse:
    """Admins see every registered model version with its test metrics and promote one (or roll
    back by promoting an older one). Promotion goes through the audited service."""
    if request.method == "POST":
        version = selectors.model_versions().filter(pk=request.POST.get("version") or 0).first()
        if version is None:
            raise Http404("No such model version.")
        attempt(request, lambda: services.model_version_promote(actor=request.user, version=version,
                                                                note=request.POST.get("note", "")),
                f"{version} is now the active model; new analyses use it.")
        return redirect("verification:models")
    return render(request, "verification/models.html", {"versions": selectors.model_versions()})
