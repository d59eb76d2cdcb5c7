"""Portal pages to manage one's API tokens: list (with last use and webhook deliveries), create
(the secret is shown once, on the response to the creating POST) and revoke."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services, tokens
from .models import TokenScope
from .errors import VerityError


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. “CMS import bot”.")
    scopes = forms.MultipleChoiceField(choices=TokenScope.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[TokenScope.READ], required=False,
                                       help_text="Read is always included; submit lets the token create cases.")
    webhook_url = forms.URLField(required=False, max_length=500, label="Webhook URL (optional)",
                                 assume_scheme="https",
                                 help_text="https:// address that Verity POSTs to when an analysis of a case "
                                           "submitted with this token is done or failed.")


def _page(request: HttpRequest, form: TokenForm, issued: tokens.IssuedToken | None = None,
          status: int = 200) -> HttpResponse:
    rows = selectors.tokens_with_deliveries(request.user)
    return render(request, "account/tokens.html", {"form": form, "tokens": rows, "issued": issued}, status=status)


@never_cache  # the response to a POST holds the only copy of the secret
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, TokenForm())
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            issued = services.token_create(user=request.user, name=form.cleaned_data["name"],
                                           scopes=form.cleaned_data["scopes"],
                                           webhook_url=form.cleaned_data["webhook_url"])
        except VerityError as exc:
            form.add_error(None, exc.message)
        else:
            return _page(request, TokenForm(), issued=issued, status=201)
    return _page(request, form, status=400)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = services.token_revoke(user=request.user, token_id=token_id)
    except VerityError as exc:
        messages.error(request, exc.message)
        return redirect("token_list")
    messages.success(request, f"Token “{token.name}” is revoked; requests with it now fail.")
    return redirect("token_list")
