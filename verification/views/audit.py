"""The global audit log for leads and admins, searchable, with a CSV export."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import audit_display, selectors, services
from ..forms import AuditFilterForm
from ..models import AuditEvent
from ._common import csv_response, lead_required

_NOT_A_LEAD = "The audit log is for team leads and admins. Ask a lead of your team if you need an entry."


def _events(request: HttpRequest) -> tuple[AuditFilterForm, QuerySet[AuditEvent], dict[str, str]]:
    form = AuditFilterForm(request.GET or None, actions=selectors.audit_actions(request.user))
    data = form.cleaned_data if form.is_valid() else {}
    filters = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items() if v}
    events = selectors.audit_log(request.user, q=data.get("q", ""), action=data.get("action", ""),
                                 date_from=data.get("date_from"), date_to=data.get("date_to"))
    return form, events, filters


@login_required
@require_GET
@lead_required(_NOT_A_LEAD)
def audit_log(request: HttpRequest) -> HttpResponse:
    form, events, _ = _events(request)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "verification/audit_log.html", {"form": form, "page": page, "query": query.urlencode()})


@login_required
@require_GET
@lead_required(_NOT_A_LEAD)
def audit_csv(request: HttpRequest) -> HttpResponse:
    _, events, filters = _events(request)
    rows = list(events)
    services.list_export_record(user=request.user, what="audit", filters=filters, rows=len(rows))
    return csv_response("verity-audit.csv", [
        "id", "time", "action", "actor", "team", "case_id", "case_title", "object_type", "object_id", "summary",
        "details", "chain", "seq", "hash"],
        ([e.pk, e.created_at.isoformat(), e.action, e.actor.get_username() if e.actor else (e.actor_name or "system"),
          e.team.name if e.team else "", e.case_id or "", e.case.title if e.case else "", e.object_type,
          e.object_id, audit_display.summary(e), json.dumps(e.details, sort_keys=True), e.chain, e.seq, e.hash]
         for e in rows))
