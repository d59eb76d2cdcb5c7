"""The analyses service's step that turns the model's outcome and the provenance lanes into the
stored verdict with its evidence (the rules themselves live in verification.evidence)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from .. import evidence
from .outcomes import AnalysisOutcome


def weigh_evidence(outcome: AnalysisOutcome, model_name: str) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """(lanes, evidence, provenance summary) to store on the analysis."""
    lanes = list(outcome.lanes or [])
    combined = evidence.combine(probability_ai=outcome.probability_ai, threshold=outcome.threshold,
                                uncertain_margin=settings.VERITY_UNCERTAIN_MARGIN, lanes=lanes,
                                model_name=model_name)
    return lanes, combined, combined["provenance"]
