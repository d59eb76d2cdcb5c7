"""Dashboard and API figures, computed from the database (reads only, scoped to the teams a user leads
or, for the API's counts, belongs to)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from .. import uncertainty
from ..models import Analysis, AnalysisStatus, CaseImage, CaseStatus, HumanVerdict, ModelVersion, Team, Verdict
from .lifecycle import active_model
from .scope import User, analyses_for, cases_for, images_for

__all__ = [
    "LiveReport", "ModelReport", "OperationsReport", "api_metrics", "live_report", "model_report", "operations_report",
    "percentile",
]

MODEL_CLASSES = (Verdict.REAL, Verdict.AI_GENERATED)
HUMAN_CLASSES = (HumanVerdict.REAL, HumanVerdict.AI_GENERATED, HumanVerdict.INCONCLUSIVE)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


# --- Model: the active model on its held-out test split ---------------------------------------

@dataclass
class ModelReport:
    version: ModelVersion | None
    test: dict[str, Any]
    matrix: list[list[int]]  # rows: true real, true AI; columns: predicted real, predicted AI

    @property
    def has_metrics(self) -> bool:
        return bool(self.test)


def model_report(version: ModelVersion | None) -> ModelReport:
    test = dict((version.metrics or {}).get("test") or {}) if version else {}
    matrix = test.get("confusion_matrix") or []
    return ModelReport(version=version, test=test, matrix=matrix)


# --- Live: model verdicts against reviewers' final verdicts -----------------------------------

@dataclass
class DayRate:
    day: date
    compared: int
    disagreed: int

    @property
    def rate(self) -> float:
        return self.disagreed / self.compared if self.compared else 0.0


@dataclass
class LiveReport:
    # matrix[human][model] = number of images
    matrix: dict[str, dict[str, int]]
    compared: int  # images with a real/AI human verdict and a model verdict
    disagreed: int
    by_day: list[DayRate] = field(default_factory=list)

    @property
    def disagreement_rate(self) -> float | None:
        return self.disagreed / self.compared if self.compared else None

    @property
    def total(self) -> int:
        return sum(sum(row.values()) for row in self.matrix.values())


def live_report(teams: QuerySet[Team]) -> LiveReport:
    """Image-level comparison on finalised cases. The human verdict of an image is its latest
    review, or the case's final verdict when nobody reviewed that image on its own."""
    rows = (CaseImage.objects.filter(case__team__in=teams, case__status=CaseStatus.FINALISED)
            .exclude(model_label="").values_list("model_label", "human_verdict", "case__final_verdict",
                                                 "case__finalised_at"))
    matrix: dict[str, dict[str, int]] = {h: {m: 0 for m in MODEL_CLASSES} for h in HUMAN_CLASSES}
    per_day: dict[date, list[int]] = {}
    compared = disagreed = 0
    for model_label, human, final, finalised_at in rows:
        human = human or final
        if human not in matrix or model_label not in MODEL_CLASSES:
            continue
        matrix[human][model_label] += 1
        if human == HumanVerdict.INCONCLUSIVE:
            continue  # an inconclusive human verdict neither agrees nor disagrees
        day = timezone.localdate(finalised_at) if finalised_at else timezone.localdate()
        bucket = per_day.setdefault(day, [0, 0])
        bucket[0] += 1
        compared += 1
        if human != model_label:
            bucket[1] += 1
            disagreed += 1
    by_day = [DayRate(day=d, compared=c, disagreed=x) for d, (c, x) in sorted(per_day.items())]
    return LiveReport(matrix=matrix, compared=compared, disagreed=disagreed, by_day=by_day)


# --- Operations: the queue and the workers ----------------------------------------------------

@dataclass
class OperationsReport:
    queued: int
    running: int
    window_hours: int
    finished: int
    failed: int
    per_hour: list[tuple[datetime, int]]
    latency_p50_s: float | None
    latency_p95_s: float | None
    inference_p50_ms: float | None

    @property
    def queue_depth(self) -> int:
        return self.queued + self.running

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None


def operations_report(teams: QuerySet[Team], *, window_hours: int = 24, now: datetime | None = None
                      ) -> OperationsReport:
    """Queue depth now; throughput, latency (submission to result) and failures over the window."""
    now = now or timezone.now()
    since = now - timedelta(hours=window_hours)
    analyses = Analysis.objects.filter(image__case__team__in=teams)
    queued = analyses.filter(status=AnalysisStatus.QUEUED).count()
    running = analyses.filter(status=AnalysisStatus.RUNNING).count()
    rows = (analyses.filter(status__in=[AnalysisStatus.DONE, AnalysisStatus.FAILED],
                            finished_at__gt=since, finished_at__lte=now)
            .values_list("status", "created_at", "finished_at", "timings_ms"))
    finished_rows = [(s, c, f, t) for s, c, f, t in rows if f is not None]  # every one: filtered on finished_at
    hour0 = now.replace(minute=0, second=0, microsecond=0)
    hours = [hour0 - timedelta(hours=h) for h in range(window_hours - 1, -1, -1)]
    counts: Counter[datetime] = Counter(f.replace(minute=0, second=0, microsecond=0) for _, _, f, _ in finished_rows)
    done = [(c, f, t) for s, c, f, t in finished_rows if s == AnalysisStatus.DONE]
    latencies = [(f - c).total_seconds() for c, f, _ in done]
    inference = [float(t["inference_gradcam"]) for _, _, t in done if isinstance(t, dict) and "inference_gradcam" in t]
    return OperationsReport(
        queued=queued, running=running, window_hours=window_hours, finished=len(finished_rows),
        failed=sum(1 for s, *_ in finished_rows if s == AnalysisStatus.FAILED),
        per_hour=[(h, counts.get(h, 0)) for h in hours],
        latency_p50_s=percentile(latencies, 50), latency_p95_s=percentile(latencies, 95),
        inference_p50_ms=percentile(inference, 50))


# --- The API's metrics: counts over the user's teams' cases -------------------------------------

def api_metrics(user: User) -> dict[str, Any]:
    """Cases, images, analyses by status and finished verdicts by label over the user's teams, the
    number of finished analyses in the uncertain band, and the active model."""
    analyses = analyses_for(user)
    by_status = dict(analyses.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    done = analyses.filter(status=AnalysisStatus.DONE)
    by_label = dict(done.values_list("label").annotate(n=Count("id")).values_list("label", "n"))
    return {
        "cases": cases_for(user).count(),
        "images": images_for(user).count(),
        "analyses": {s: by_status.get(s, 0) for s in AnalysisStatus.values},
        "verdicts": {v: by_label.get(v, 0) for v in Verdict.values},
        "uncertain": done.filter(uncertainty.uncertain_q()).count(),
        "active_model": active_model(),
    }
