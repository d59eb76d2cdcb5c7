"""Admins ask for two model versions to be evaluated on the same data (from the compare page)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from .. import selectors, services
from ..errors import VerityError
from ..forms import EvaluationRequestForm
from ._common import admin_required


@login_required
@require_POST
@admin_required()
def models_evaluate(request: HttpRequest) -> HttpResponse:
    form = EvaluationRequestForm(request.POST, datasets=selectors.datasets_for(request.user))
    back = {k: request.POST[k] for k in ("a", "b") if request.POST.get(k, "").isdigit()}
    if not form.is_valid():
        messages.error(request, "Choose two model versions, and a dataset or the reviewed cases to evaluate them on.")
    else:
        data = form.cleaned_data
        try:
            services.evaluation_request(actor=request.user, versions=[data["a"], data["b"]], source=data["source"],
                                        dataset=data["dataset"] if data["source"] == "dataset" else None)
        except VerityError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Both versions are queued for evaluation on the training queue; reload this "
                                      "page to see their results side by side below.")
    return redirect(f"{reverse('verification:models_compare')}?{urlencode(back)}")
