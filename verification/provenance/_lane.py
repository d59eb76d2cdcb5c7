"""What every provenance lane returns: one plain, JSON-ready record of what it found.

A lane never decides the verdict (that is :mod:`verification.evidence`); it reports what the file
says, verbatim, and how much that kind of statement is worth on its own."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# What a lane's finding says about the image's origin.
DECLARES_AI = "ai_generated"
DECLARES_CAPTURE = "capture"
NO_CLAIM = ""

# How much a lane's finding is worth by itself (the rules module may still weigh it down).
DECISIVE = "decisive"
SUPPORTING = "supporting"
WEAK = "weak"
NONE = "none"

# Lane states.
FOUND = "found"
ABSENT = "absent"
ERROR = "error"

# Verbatim values are kept, but not without bound: a text chunk may hold a whole workflow graph.
MAX_VERBATIM_CHARS = 4000


def clip(value: Any, limit: int = MAX_VERBATIM_CHARS) -> str:
    """A value as text, cut at ``limit`` characters with a visible mark (never silently)."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = text.replace("\x00", "")
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters not kept]"


@dataclass
class LaneResult:
    lane: str  # c2pa, xmp, text_chunks, exif_software, camera_exif
    state: str = ABSENT  # found, absent, error
    claim: str = NO_CLAIM  # ai_generated, capture or "" (the lane found something that claims neither)
    strength: str = NONE
    summary: str = ""
    found: dict[str, Any] = field(default_factory=dict)  # verbatim values, by name
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def lane_error(lane: str, exc: BaseException) -> LaneResult:
    """A lane that could not read the file: said plainly, and the image's analysis goes on."""
    return LaneResult(lane=lane, state=ERROR, summary=f"Could not be read: {type(exc).__name__}: {clip(exc, 300)}",
                      error=f"{type(exc).__name__}: {clip(exc, 300)}")
