"""Dashboards for leads and admins: the model on its test split, live agreement with reviewers,
the registered datasets and the health of the queue. Charts are inline SVG drawn on the server."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import charts, selectors
from ._common import lead_required

_NOT_A_LEAD = "Dashboards are for team leads and admins. Ask an admin if you need access."


@login_required
@require_GET
@lead_required(_NOT_A_LEAD)
def dashboard_model(request: HttpRequest) -> HttpResponse:
    report = selectors.model_report(selectors.active_model())
    return render(request, "verification/dashboard_model.html", {
        "report": report, "tab": "model", "reevaluation": selectors.latest_reevaluation(report.version),
        "reevaluate_every_h": round(settings.VERITY_REEVALUATE_EVERY_S / 3600, 1),
        "drift_min_images": settings.VERITY_DRIFT_MIN_IMAGES,
        "drift_points": round(settings.VERITY_DRIFT_TOLERANCE * 100, 1)})


@login_required
@require_GET
@lead_required(_NOT_A_LEAD)
def dashboard_live(request: HttpRequest) -> HttpResponse:
    report = selectors.live_report(selectors.lead_teams(request.user))
    chart = charts.line_chart([(d.day.strftime("%d %b"), d.rate) for d in report.by_day],
                              title="Share of reviewed images where reviewers disagreed with the model, by day")
    return render(request, "verification/dashboard_live.html", {
        "report": report, "chart": chart, "tab": "live",
        "provenance": selectors.provenance_report(selectors.lead_teams(request.user))})


@login_required
@require_GET
@lead_required(_NOT_A_LEAD)
def dashboard_datasets(request: HttpRequest) -> HttpResponse:
    items = []
    for dataset in selectors.datasets_on_dashboard(request.user):
        sizes = [(s.get("label", "?"), s.get("count", 0)) for s in dataset.analysis.get("sizes", [])]
        items.append({"dataset": dataset, "a": dataset.analysis,
                      "size_chart": charts.bar_chart(sizes, title=f"Image sizes in {dataset.name}")})
    return render(request, "verification/dashboard_datasets.html", {"items": items, "tab": "datasets"})


@login_required
@require_GET
@lead_required(_NOT_A_LEAD)
def dashboard_operations(request: HttpRequest) -> HttpResponse:
    report = selectors.operations_report(selectors.lead_teams(request.user))
    chart = charts.bar_chart([(h.strftime("%H:00"), n) for h, n in report.per_hour],
                             title=f"Analyses finished per hour, last {report.window_hours} hours")
    return render(request, "verification/dashboard_operations.html", {
        "report": report, "chart": chart, "tab": "operations",
        "uncertain_margin": settings.VERITY_UNCERTAIN_MARGIN})
