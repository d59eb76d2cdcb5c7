"""Formatting for dashboards: percentages, metrics that may be missing, durations, and matrix shading."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def percent(value: Any, digits: int = 1) -> str:
    """0.8333 -> "83.3%"; None -> "—" (not computable, e.g. nothing to count yet)."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def metric(value: Any, digits: int = 3) -> str:
    if value is None or value == "":
        return "—"
    return f"{float(value):.{int(digits)}f}"


@register.filter
def duration(seconds: Any) -> str:
    """95 -> "1 min 35 s", 4000 -> "1 h 6 min"; None -> "—". static/training.js writes the same."""
    if seconds is None or seconds == "":
        return "—"
    total = max(0, round(float(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


@register.filter
def shade(count: Any, total: Any) -> str:
    """A background whose strength shows the cell's share of the matrix."""
    try:
        share = float(count) / float(total) if float(total) else 0.0
    except (TypeError, ValueError):
        share = 0.0
    return f"background: rgba(31, 79, 209, {0.08 + 0.6 * share:.2f})"


@register.filter
def get(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if hasattr(mapping, "get") else None
