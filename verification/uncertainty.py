"""The one definition of the uncertain band: a probability within VERITY_UNCERTAIN_MARGIN of the
threshold, edges included, is too close to call. The case page, the report, the API and the metrics
all ask here, so they never disagree about an analysis at the edge."""

from __future__ import annotations

from django.conf import settings
from django.db.models import F, Q


def band(threshold: float | None) -> tuple[float, float] | None:
    """(low, high) of the band around ``threshold``, inside [0, 1]; None without a threshold."""
    if threshold is None:
        return None
    margin = settings.VERITY_UNCERTAIN_MARGIN
    return max(0.0, threshold - margin), min(1.0, threshold + margin)


def is_uncertain(probability: float | None, threshold: float | None) -> bool:
    edges = band(threshold)
    if probability is None or edges is None:
        return False
    return edges[0] <= probability <= edges[1]


def uncertain_q() -> Q:
    """The same test as a filter on Analysis rows (probability_ai against each row's threshold)."""
    margin = settings.VERITY_UNCERTAIN_MARGIN
    return Q(probability_ai__gte=F("threshold") - margin, probability_ai__lte=F("threshold") + margin)
