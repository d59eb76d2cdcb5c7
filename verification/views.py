"""Server-rendered pages. Each view reads through selectors (scoped to the user's teams) and
changes state only through services. Another team's objects are a 404, never a 403."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from . import selectors, services, storage
from .errors import VerityError
from .forms import CaseForm
from .models import AnalysisStatus, Case


@login_required
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    cases = selectors.cases_for(request.user).annotate(
        n_images=Count("images", distinct=True),
        n_pending=Count("images__analyses", filter=Q(images__analyses__status__in=[
            AnalysisStatus.QUEUED, AnalysisStatus.RUNNING]), distinct=True),
        n_ai=Count("images__analyses", filter=Q(images__analyses__label="ai_generated"), distinct=True),
        n_failed=Count("images__analyses", filter=Q(images__analyses__status=AnalysisStatus.FAILED), distinct=True),
    ).order_by("-created_at", "-id")
    page = Paginator(cases, 25).get_page(request.GET.get("page"))
    return render(request, "verification/case_list.html", {"page": page})


@login_required
@require_http_methods(["GET", "POST"])
def case_create(request: HttpRequest) -> HttpResponse:
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
                files=form.cleaned_data["images"])
        except VerityError as exc:
            form.add_error("images", exc.message)
            for item in exc.details if isinstance(exc.details, list) else []:
                form.add_error("images", f"{item['file']}: {item['reason']}")
        else:
            for rejection in result.rejected:
                messages.warning(request, f"{rejection.name} was not accepted: {rejection.reason}")
            n = len(result.images)
            messages.success(request, f"Case submitted with {n} image{'s' if n != 1 else ''}; analysis has started.")
            return redirect("verification:case_detail", case_id=result.case.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "verification/case_form.html", {"form": form}, status=status)


def _case_or_404(request: HttpRequest, case_id: int) -> Case:
    try:
        return selectors.case_detail(request.user, case_id)
    except Case.DoesNotExist:
        raise Http404("No such case.") from None


@login_required
@require_GET
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(request, case_id)
    rows = []
    for image in case.images.all():
        analyses = list(image.analyses.all())
        rows.append({"image": image, "analysis": analyses[0] if analyses else None})
    pending = any(r["analysis"] and r["analysis"].is_pending for r in rows)
    return render(request, "verification/case_detail.html", {
        "case": case, "rows": rows, "pending": pending, "events": selectors.case_audit(case)[:50]})


@login_required
@require_GET
def case_status(request: HttpRequest, case_id: int) -> JsonResponse:
    """Analysis statuses of a case, polled by the case page while work is pending."""
    case = _case_or_404(request, case_id)
    analyses = [a for image in case.images.all() for a in image.analyses.all()[:1]]
    return JsonResponse({
        "pending": sum(a.is_pending for a in analyses),
        "analyses": [{"id": a.pk, "status": a.status} for a in analyses],
    })


def _serve(name: str, content_type: str) -> FileResponse:
    try:
        data = storage.read(name)
    except FileNotFoundError:
        raise Http404("File missing.") from None
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response  # type: ignore[return-value]


_IMAGE_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp",
                "TIFF": "image/tiff", "BMP": "image/bmp", "GIF": "image/gif"}


@login_required
@require_GET
def image_file(request: HttpRequest, image_id: int) -> HttpResponse:
    image = selectors.images_for(request.user).filter(pk=image_id).first()
    if image is None:
        raise Http404("No such image.")
    return _serve(image.file, _IMAGE_TYPES.get(image.format, "application/octet-stream"))


@login_required
@require_GET
def analysis_file(request: HttpRequest, analysis_id: int, kind: str) -> HttpResponse:
    analysis = selectors.analyses_for(request.user).filter(pk=analysis_id).first()
    if analysis is None or kind not in ("overlay", "heatmap"):
        raise Http404("No such analysis.")
    name = analysis.overlay if kind == "overlay" else analysis.heatmap
    if not name:
        raise Http404("Not computed yet.")
    return _serve(name, "image/png")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
