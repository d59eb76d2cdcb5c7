"""Small inline SVG charts, drawn on the server: no JavaScript library, no CDN, prints well.

Each chart carries a <title> and an aria-label; pages also show the numbers in a table, so the
chart is never the only way to read them."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_W, _H, _PAD_L, _PAD_B, _PAD_T = 640, 220, 44, 40, 14


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, unit: str = "", colour: str = "#1f4fd1") -> SafeString:
    """Vertical bars, one per (label, value). Labels are thinned out when there are many."""
    if not items:
        return mark_safe("")
    top = max(v for _, v in items) or 1
    inner_w, inner_h = _W - _PAD_L - 10, _H - _PAD_B - _PAD_T
    step = inner_w / len(items)
    every = max(1, len(items) // 12)
    parts = [f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<line x1="{_PAD_L}" y1="{_H - _PAD_B}" x2="{_W - 10}" y2="{_H - _PAD_B}" stroke="#8a94a6"/>',
             f'<text x="{_PAD_L - 6}" y="{_PAD_T + 4}" text-anchor="end" font-size="11">{_fmt(top)}{escape(unit)}</text>',
             f'<text x="{_PAD_L - 6}" y="{_H - _PAD_B}" text-anchor="end" font-size="11">0</text>']
    for i, (label, value) in enumerate(items):
        h = inner_h * (value / top)
        x = _PAD_L + i * step + step * 0.15
        parts.append(f'<rect x="{x:.1f}" y="{_H - _PAD_B - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                     f'fill="{colour}"><title>{escape(label)}: {_fmt(value)}{escape(unit)}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + step * 0.35:.1f}" y="{_H - _PAD_B + 16}" text-anchor="middle" '
                         f'font-size="11">{escape(label)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def line_chart(points: Sequence[tuple[str, float]], *, title: str, percent: bool = True) -> SafeString:
    """A line through (label, value) points; values are fractions shown as percentages."""
    if not points:
        return mark_safe("")
    top = 1.0 if percent else (max(v for _, v in points) or 1)
    inner_w, inner_h = _W - _PAD_L - 20, _H - _PAD_B - _PAD_T
    step = inner_w / max(1, len(points) - 1)
    xy = [(_PAD_L + 10 + i * step if len(points) > 1 else _PAD_L + inner_w / 2,
           _H - _PAD_B - inner_h * (v / top)) for i, (_, v) in enumerate(points)]
    every = max(1, len(points) // 8)
    label_top = "100%" if percent else _fmt(top)
    parts = [f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<line x1="{_PAD_L}" y1="{_H - _PAD_B}" x2="{_W - 10}" y2="{_H - _PAD_B}" stroke="#8a94a6"/>',
             f'<text x="{_PAD_L - 6}" y="{_PAD_T + 4}" text-anchor="end" font-size="11">{label_top}</text>',
             f'<text x="{_PAD_L - 6}" y="{_H - _PAD_B}" text-anchor="end" font-size="11">0</text>',
             '<polyline fill="none" stroke="#b42318" stroke-width="2" points="'
             + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy) + '"/>']
    for i, ((label, value), (x, y)) in enumerate(zip(points, xy)):
        shown = f"{value * 100:.0f}%" if percent else _fmt(value)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#b42318"><title>{escape(label)}: {shown}'
                     '</title></circle>')
        if i % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{_H - _PAD_B + 16}" text-anchor="middle" font-size="11">'
                         f'{escape(label)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
