"""The case page as a review workspace: each image's state, the case's counts, the next image to
review, and a history that names images and folds the worker's steps of one analysis together.

Presentation only: it reads rows the view has already loaded and decides nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from .models import AuditEvent

STATE_LABELS = {
    "analysing": "Analysing", "failed": "Analysis failed", "not_analysed": "Not analysed",
    "flagged": "Flagged: needs review", "uncertain": "Uncertain: needs review", "to_review": "To review",
    "reviewed": "Reviewed", "disagrees": "Reviewed: disagrees with the model",
}


def image_state(row: dict[str, Any]) -> str:
    analysis, review = row["analysis"], row["review"]
    if analysis is None:
        return "not_analysed"
    if analysis.is_pending:
        return "analysing"
    if review is not None:
        if analysis.status == "done" and review.verdict != analysis.label:
            return "disagrees"
        return "reviewed"
    if analysis.status == "failed":
        return "failed"
    if analysis.is_uncertain:
        return "uncertain"
    return "flagged" if analysis.label == "ai_generated" else "to_review"


@dataclass
class Progress:
    total: int
    reviewed: int
    flagged: int
    analysing: int
    next_unreviewed: int | None  # image id

    @property
    def unreviewed(self) -> int:
        return self.total - self.reviewed


def annotate(rows: list[dict[str, Any]]) -> Progress:
    """Give each row its ``state``, ``state_label`` and ``position``; count the case."""
    for i, row in enumerate(rows, start=1):
        row["state"] = image_state(row)
        row["state_label"] = STATE_LABELS[row["state"]]
        row["position"] = i
    reviewed = sum(r["review"] is not None for r in rows)
    flagged = sum(r["analysis"] is not None and r["analysis"].status == "done"
                  and r["analysis"].label == "ai_generated" for r in rows)
    pending = [r for r in rows if r["review"] is None]
    # The next image to review: one whose analysis is done first, else any without a review.
    ready = [r for r in pending if r["state"] in ("flagged", "uncertain", "to_review", "failed")]
    nxt = next(iter(ready or pending), None)
    return Progress(total=len(rows), reviewed=reviewed, flagged=flagged,
                    analysing=sum(r["state"] == "analysing" for r in rows),
                    next_unreviewed=nxt["image"].pk if nxt else None)


def probability_bar(analysis: Any) -> dict[str, Any] | None:
    """Where to draw the probability, the threshold and the uncertain band (percentages), and the
    plain-language reading of it."""
    if analysis is None or analysis.probability_ai is None or analysis.threshold is None:
        return None
    p, t = analysis.probability_ai, analysis.threshold
    m = settings.VERITY_UNCERTAIN_MARGIN
    low, high = max(0.0, t - m), min(1.0, t + m)
    if p >= high:
        reading = "Likely AI-generated"
    elif p <= low:
        reading = "Likely a real photograph"
    else:
        reading = "Uncertain, leaning AI-generated" if p >= t else "Uncertain, leaning real"
    return {"p": f"{p * 100:.1f}", "threshold": f"{t * 100:.1f}", "band_left": f"{low * 100:.1f}",
            "band_width": f"{(high - low) * 100:.1f}", "reading": reading, "percent": round(p * 100)}


@dataclass
class HistoryLine:
    event: AuditEvent
    image_name: str = ""
    steps: list[str] = field(default_factory=list)


def history(events: list[AuditEvent], rows: list[dict[str, Any]]) -> list[HistoryLine]:
    """Newest first. Each line names its image; the worker's events about one analysis (started,
    done, failed, requeued) are one line listing the steps."""
    names: dict[str, str] = {}
    image_names: dict[int, str] = {}
    for row in rows:
        image_names[row["image"].pk] = row["image"].original_name
        for a in [row["analysis"], *row["history"]]:
            if a is not None:
                names[str(a.pk)] = row["image"].original_name
    lines: list[HistoryLine] = []
    folded: dict[str, HistoryLine] = {}
    for e in events:  # newest first
        image = ""
        if e.object_type == "analysis":
            image = names.get(e.object_id, "")
        elif isinstance(e.details, dict):
            image = e.details.get("image_name") or image_names.get(e.details.get("image"), "")  # type: ignore[arg-type]
        if e.object_type == "analysis" and e.actor_id is None:
            line = folded.get(e.object_id)
            if line is not None:
                line.steps.append(e.action.split(".", 1)[-1])
                continue
            line = HistoryLine(event=e, image_name=image, steps=[e.action.split(".", 1)[-1]])
            folded[e.object_id] = line
            lines.append(line)
            continue
        lines.append(HistoryLine(event=e, image_name=image))
    for line in lines:
        line.steps.reverse()  # oldest step first: "started, done"
    return lines


def judged_box(image: Any, analysis: Any) -> dict[str, Any] | None:
    """The judged area as CSS percentages of the whole original, and whether it is all of it."""
    if analysis is None or not analysis.heatmap or not image.width or not image.height:
        return None
    if analysis.map_faithful is False:  # a map that points at nothing the model used: warned, not shown
        return None
    box = analysis.crop_box or {}
    w, h = box.get("width") or image.width, box.get("height") or image.height
    left, top = box.get("left", 0), box.get("top", 0)
    return {"left": f"{left / image.width * 100:.3f}", "top": f"{top / image.height * 100:.3f}",
            "width": f"{w / image.width * 100:.3f}", "height": f"{h / image.height * 100:.3f}",
            "px_width": w, "px_height": h, "whole": w >= image.width and h >= image.height}
