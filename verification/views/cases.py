"""Case pages: the list (with search, filters and CSV), submission, the case page, status and media.

Each view reads through selectors (scoped to the user's teams) and changes state only through
services. Another team's objects are a 404, never a 403."""

from __future__ import annotations

from typing import Any, Protocol, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import TooManyFilesSent
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from .. import selectors, serving, services, workspace
from ..errors import VerityError
from ..forms import AssignForm, CaseFilterForm, CaseForm, CommentForm, FinaliseForm, ReopenForm, RerunForm
from ..models import Analysis, Case, CaseImage, HumanVerdict
from ._common import case_or_404, csv_response

PAGE_SIZE = 25


class _ListedCounts(Protocol):
    """The counts selectors.case_list annotates each case with."""

    n_images: int
    n_pending: int
    n_failed: int


def _listed_counts(case: Case) -> list[int]:
    counts = cast(_ListedCounts, case)
    return [counts.n_images, counts.n_pending, counts.n_failed]


def _filter_form(request: HttpRequest) -> CaseFilterForm:
    members = (selectors.team_members(team) for team in selectors.user_teams(request.user))
    seen = {u.pk: u for qs in members for u in qs}
    return CaseFilterForm(request.GET or None, members=sorted(seen.values(), key=lambda u: u.get_username()))


@login_required
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request)
    cases = selectors.case_list(request.user, form.filters())
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "verification/case_list.html", {
        "page": page, "form": form, "query": query.urlencode(),
        "filtered": bool(set(form.filters().as_dict()) - {"sort"})})


@login_required
@require_GET
def case_list_csv(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request)
    filters = form.filters()
    cases = list(selectors.case_list(request.user, filters))
    services.list_export_record(user=request.user, what="cases", filters=filters.as_dict(), rows=len(cases))
    base = request.build_absolute_uri("/")[:-1]
    evidence = selectors.case_evidence_lines([c.pk for c in cases])
    rows = ([c.pk, c.title, c.team.name, c.get_status_display(), c.model_verdict,
             "yes" if c.model_verdict_demo else "no", c.final_verdict,
             "yes" if c.disagrees else "no", c.assignee.get_username() if c.assignee else "",
             ", ".join(t.name for t in c.tags.all()), *_listed_counts(c),
             c.created_at.isoformat(), c.created_by.get_username(), c.source_url,
             base + reverse("verification:case_detail", args=[c.pk]), "\n".join(evidence.get(c.pk, []))]
            for c in cases)
    return csv_response("verity-cases.csv", [
        "id", "title", "team", "review_state", "model_verdict", "model_verdict_by_demo_model", "final_verdict",
        "disagreement", "assignee", "tags", "images", "analysing", "failed", "submitted_at", "submitted_by",
        "source_url", "url", "evidence"], rows)


@login_required
@require_http_methods(["GET", "POST"])
@csrf_exempt  # only to answer "too many files" with the form; every other request is checked below
def case_create(request: HttpRequest) -> HttpResponse:
    # Django refuses a body with more files than DATA_UPLOAD_MAX_NUMBER_FILES while parsing it, in
    # CsrfViewMiddleware when that reads the token, and answers a bare 400 page. Parsing here first
    # lets the form say what to do. Without the parsed body there is no CSRF token to check, which is
    # harmless for this one answer: it shows the form again and changes nothing.
    if request.method == "POST":
        try:
            request.FILES  # noqa: B018 - parses the body
        except TooManyFilesSent:
            messages.error(request, f"At most {settings.VERITY_MAX_FILES_PER_CASE} files can be sent with one "
                                    "case, and nothing was saved; split them over several cases.")
            form = CaseForm(teams=selectors.user_teams(request.user))
            return render(request, "verification/case_form.html", {"form": form}, status=400)
    return _case_create(request)


@csrf_protect
def _case_create(request: HttpRequest) -> HttpResponse:
    teams = selectors.user_teams(request.user)
    if not teams.exists():
        messages.error(request, "You are not in any team yet. Ask an admin to add you to one.")
        return redirect("verification:case_list")
    form = CaseForm(request.POST or None, request.FILES or None, teams=teams)
    if request.method == "POST" and form.is_valid():
        try:
            result = services.case_submit(
                user=request.user, team=form.cleaned_data["team"], title=form.cleaned_data["title"],
                source_url=form.cleaned_data["source_url"], notes=form.cleaned_data["notes"],
                tags=form.cleaned_data["tags"], files=form.cleaned_data["images"])
        except VerityError as exc:
            # The same list the API returns in its error's details: one line per refused file.
            form.add_error("images", exc.message)
            for item in exc.details if isinstance(exc.details, list) else []:
                form.add_error("images", f"{item['file']}: {item['reason']}")
        else:
            # The same list the API returns as "rejected".
            for rejection in result.rejected:
                messages.warning(request, f"{rejection.name} was not accepted: {rejection.reason}")
            for dupe in result.duplicates:
                messages.info(request, f"{dupe.original_name} was already submitted to your team; it is linked to "
                                       "the earlier case and reuses its analysis.")
            n = len(result.images)
            messages.success(request, f"Case submitted with {n} image{'s' if n != 1 else ''}; analysis has started.")
            return redirect("verification:case_detail", case_id=result.case.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "verification/case_form.html", {"form": form}, status=status)


def image_rows(case: Case) -> list[dict[str, Any]]:
    """Per image: the analysis to show (its own newest, else the one of the image it duplicates),
    its reviews, and whether the analysis is borrowed."""
    rows = []
    for image in case.images.all():
        own = list(image.analyses.all())
        analysis: Analysis | None = own[0] if own else None
        borrowed = False
        if analysis is None and image.duplicate_of is not None:
            theirs = list(image.duplicate_of.analyses.all())
            analysis, borrowed = (theirs[0] if theirs else None), True
        reviews = list(image.reviews.all())
        rows.append({"image": image, "analysis": analysis, "borrowed": borrowed, "history": own[1:],
                     "reviews": reviews, "review": reviews[0] if reviews else None})
    return rows


def comment_threads(case: Case) -> list[dict[str, Any]]:
    comments = list(case.comments.all())
    replies: dict[int, list[Any]] = {}
    for c in comments:
        if c.parent_id:
            replies.setdefault(c.parent_id, []).append(c)
    return [{"comment": c, "replies": replies.get(c.pk, [])} for c in comments if not c.parent_id]


@login_required
@require_GET
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    return render_case(request, case_or_404(request, case_id))


def render_case(request: HttpRequest, case: Case, *, review_error: dict[str, Any] | None = None,
                finalise_error: dict[str, Any] | None = None, status: int = 200) -> HttpResponse:
    """The case page; after a refused decision, with the error inside the card it belongs to and
    what the reviewer chose kept (``review_error``: image, message, verdict, comment)."""
    rows = image_rows(case)
    progress = workspace.annotate(rows)
    for row in rows:
        row["bar"] = workspace.probability_bar(row["analysis"])
        row["box"] = workspace.judged_box(row["image"], row["analysis"])
        if review_error and review_error["image"] == row["image"].pk:
            row["error"] = review_error
    pending = any(r["analysis"] and r["analysis"].is_pending for r in rows)
    is_lead = selectors.is_lead_of(request.user, case.team)
    members = selectors.team_members(case.team)
    finalise_form = FinaliseForm(finalise_error["data"]) if finalise_error else FinaliseForm()
    return render(request, "verification/case_detail.html", {
        "case": case, "rows": rows, "pending": pending, "is_lead": is_lead, "progress": progress,
        "history": workspace.history(list(selectors.case_audit(case)[:200]), rows), "threads": comment_threads(case),
        "verdict_choices": HumanVerdict.choices, "comment_form": CommentForm(), "finalise_form": finalise_form,
        "finalise_error": finalise_error, "reopen_form": ReopenForm(), "rerun_form": RerunForm(),
        "memory": selectors.case_memory(request.user, case),
        "assign_form": AssignForm(members=members, initial={"assignee": case.assignee_id or ""}),
    }, status=status)


@login_required
@require_GET
def case_status(request: HttpRequest, case_id: int) -> JsonResponse:
    """Analysis statuses of a case, polled by the case page while work is pending."""
    case = case_or_404(request, case_id)
    analyses = [a for image in case.images.all() for a in image.analyses.all()[:1]]
    return JsonResponse({
        "pending": sum(a.is_pending for a in analyses),
        "analyses": [{"id": a.pk, "status": a.status} for a in analyses],
    })


@login_required
@require_GET
def image_file(request: HttpRequest, image_id: int) -> HttpResponse:
    image: CaseImage | None = selectors.images_for(request.user).filter(pk=image_id).first()
    if image is None:
        raise Http404("No such image.")
    return serving.stored_image(image.file, image.format, image.original_name)


@login_required
@require_GET
def analysis_file(request: HttpRequest, analysis_id: int, kind: str) -> HttpResponse:
    """A heatmap or overlay. A duplicate image borrows its original's analysis, which may belong
    to another case of the same team: team scoping (not case scoping) is what matters."""
    analysis = selectors.analyses_for(request.user).filter(pk=analysis_id).first()
    if analysis is None or kind not in ("overlay", "heatmap"):
        raise Http404("No such analysis.")
    if not analysis.heatmap:
        raise Http404("Not computed yet.")
    try:  # the overlay is drawn on its first request (services.analysis_overlay)
        name = services.analysis_overlay(analysis) if kind == "overlay" else analysis.heatmap
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    return serving.stored_file(name, "image/png")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
