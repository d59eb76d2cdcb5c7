"""Audit events on pages: a details summary, a link to the object, a time with its zone."""

from __future__ import annotations

from django import template
from django.utils import timezone
from django.utils.html import format_html

from .. import audit_display
from ..models import AuditEvent

register = template.Library()


@register.filter
def audit_summary(event: AuditEvent) -> str:
    return audit_display.summary(event)


@register.filter
def audit_link(event: AuditEvent) -> str:
    return audit_display.link(event)


@register.filter
def audit_actor(event: AuditEvent) -> str:
    """The person, also after their account was deleted; "system" for the worker and the scheduler."""
    if event.actor_id and event.actor is not None:
        return event.actor.get_username()
    return event.actor_name or "system"


@register.simple_tag
def when(moment) -> str:  # type: ignore[no-untyped-def]
    """An absolute time in the portal's zone, with the zone named, machine-readable in datetime."""
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    return format_html('<time datetime="{}">{}</time>', moment.isoformat(),
                       local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or ""))
