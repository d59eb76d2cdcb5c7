"""The case page's actions: review an image, comment, assign, finalise, reopen, re-run an analysis.

Each is a POST that calls one service and goes back to the case page with a message saying what
happened or what to do instead."""

from __future__ import annotations


from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from .. import selectors, services
from ..errors import VerityError
from ..forms import AssignForm, CommentForm, FinaliseForm, ReopenForm, RerunForm, ReviewForm
from ..models import Case
from ._common import attempt, case_or_404, image_or_404
from .cases import render_case


def _back(case: Case, anchor: str = "") -> HttpResponse:
    return redirect(reverse("verification:case_detail", args=[case.pk]) + (f"#{anchor}" if anchor else ""))


def _form_errors(request: HttpRequest, form: object) -> None:
    for field, errors in form.errors.items():  # type: ignore[attr-defined]
        label = "" if field == "__all__" else f"{field.replace('_', ' ').capitalize()}: "
        messages.error(request, label + " ".join(errors))


@login_required
@require_POST
def image_review(request: HttpRequest, image_id: int) -> HttpResponse:
    """Record a decision. A refused one (an override without a comment) shows the case page again
    with the error inside that image's card and the reviewer's choice and text kept."""
    image = image_or_404(request, image_id)
    form = ReviewForm(request.POST)
    verdict, comment = request.POST.get("verdict", ""), request.POST.get("comment", "")
    if not form.is_valid():
        message = "Choose a verdict: real, AI-generated or inconclusive." if "verdict" in form.errors else \
            " ".join(str(e) for errors in form.errors.values() for e in errors)
    else:
        try:
            services.review_record(user=request.user, image=image, verdict=form.cleaned_data["verdict"],
                                   comment=form.cleaned_data["comment"])
        except VerityError as exc:
            message = exc.message
        else:
            messages.success(request, f"Your decision on {image.original_name} is recorded.")
            return _back(image.case, _next_anchor(request, image))
    return render_case(request, image.case, status=400, review_error={
        "image": image.pk, "message": message, "verdict": verdict, "comment": comment})


def _next_anchor(request: HttpRequest, image: object) -> str:
    """Go on to the next image without a review when the reviewer asked for it (keyboard flow)."""
    if request.POST.get("advance") == "1":
        nxt = selectors.next_unreviewed_image(image)  # type: ignore[arg-type]
        if nxt is not None:
            return f"image-{nxt.pk}"
    return f"image-{image.pk}"  # type: ignore[attr-defined]


@login_required
@require_POST
def case_comment(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_or_404(request, case_id)
    form = CommentForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(case, "comments")
    parent = None
    if form.cleaned_data["parent"]:
        parent = selectors.case_comment(case, form.cleaned_data["parent"])
        if parent is None:
            messages.error(request, "The comment you replied to no longer exists.")
            return _back(case, "comments")
    attempt(request, lambda: services.comment_add(user=request.user, case=case, body=form.cleaned_data["body"],
                                                   parent=parent), "Comment posted.")
    return _back(case, "comments")


@login_required
@require_POST
def case_assign(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_or_404(request, case_id)
    members = selectors.team_members(case.team)
    form = AssignForm(request.POST, members=members)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(case)
    assignee_id = form.cleaned_data["assignee"]
    assignee = selectors.account(assignee_id) if assignee_id else None
    attempt(request, lambda: services.case_assign(user=request.user, case=case, assignee=assignee),
             f"Assigned to {assignee}." if assignee else "The case is unassigned.")
    return _back(case)


@login_required
@require_POST
def case_finalise(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_or_404(request, case_id)
    form = FinaliseForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(case, "final")
    try:
        services.case_finalise(user=request.user, case=case, verdict=form.cleaned_data["verdict"],
                               comment=form.cleaned_data["comment"],
                               confirm_unreviewed=form.cleaned_data["confirm_unreviewed"])
    except VerityError as exc:
        if isinstance(exc.details, dict) and exc.details.get("unreviewed"):
            # The lead must confirm: ask inside the form, with their verdict and summary kept.
            return render_case(request, case, status=400, finalise_error={"message": exc.message, "data": request.POST})
        messages.error(request, exc.message)
        return _back(case, "final")
    messages.success(request, "The case is finalised.")
    return _back(case, "final")


@login_required
@require_POST
def case_reopen(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_or_404(request, case_id)
    form = ReopenForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
    else:
        attempt(request, lambda: services.case_reopen(user=request.user, case=case,
                                                       reason=form.cleaned_data["reason"]),
                 "The case is open again.")
    return _back(case, "final")


@login_required
@require_POST
def image_rerun(request: HttpRequest, image_id: int) -> HttpResponse:
    image = image_or_404(request, image_id)
    form = RerunForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
    else:
        version = form.cleaned_data["model_version"]
        attempt(request, lambda: services.analysis_rerun(user=request.user, image=image, model_version=version),
                 f"{image.original_name} is queued for analysis with {version.name}.")
    return _back(image.case, f"image-{image.pk}")
