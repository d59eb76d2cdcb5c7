"""Portal fixtures: a lead and an admin beside conftest's owner, teammate and outsider, model
versions registered as rows (no checkpoint needed: these tests never run the model), and a helper
that finishes an analysis the way the worker would."""

from __future__ import annotations

from typing import Any

import pytest

from tests.images import heatmap_png, png_bytes

# Django models and services are imported inside the fixtures: pytest may import this conftest
# before pytest-django has set Django up.


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):  # type: ignore[no-untyped-def]
    """Collect enqueued analysis ids instead of talking to a broker."""
    sent: list[int] = []
    monkeypatch.setattr("verification.queue.enqueue_analysis", sent.append)
    monkeypatch.setattr("verification.queue.enqueue_analyses", lambda ids: sent.extend(ids) or len(ids))
    return sent


@pytest.fixture
def sent_evaluations(monkeypatch):  # type: ignore[no-untyped-def]
    """Collect the ids of evaluations sent to the training queue instead of talking to a broker."""
    sent: list[int] = []
    monkeypatch.setattr("verification.queue.enqueue_evaluation", sent.append)
    return sent


@pytest.fixture
def crew(people, django_user_model) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """conftest's people plus a lead and an admin of the owner's team."""
    from verification.models import Membership, Role

    lead = django_user_model.objects.create_user("lead", password="pw-lead-123!")
    admin = django_user_model.objects.create_user("boss", password="pw-boss-123!")
    Membership.objects.create(user=lead, team=people["team"], role=Role.LEAD)
    Membership.objects.create(user=admin, team=people["team"], role=Role.ADMIN)
    return {**people, "lead": lead, "admin": admin}


@pytest.fixture
def version(db) -> Any:  # type: ignore[no-untyped-def]
    from verification.models import ModelVersion

    return ModelVersion.objects.create(name="resnet50-v1", checkpoint="/models/v1.pt", checkpoint_sha256="a" * 64,
                                       is_active=True, metrics={"test": {
                                           "n": 20, "threshold": 0.5, "accuracy": 0.85, "precision": 0.8,
                                           "recall": 0.888889, "f1": 0.842105, "roc_auc": 0.93,
                                           "average_precision": 0.9, "ece": 0.04,
                                           "confusion_matrix": [[9, 2], [1, 8]]}})


def finish(analysis: Any, version: Any, label: str, p: float, threshold: float = 0.5) -> Any:
    """Record a result for ``analysis`` through the same services the worker calls."""
    from verification import services

    services.analysis_start(analysis_id=analysis.pk)
    return services.analysis_record(analysis_id=analysis.pk, model_version_id=version.pk,
                                    outcome=services.AnalysisOutcome(
                                        label=label, probability_ai=p, confidence=max(p, 1 - p),
                                        threshold=threshold, crop_box={"left": 0, "top": 0, "width": 64, "height": 64},
                                        timings_ms={"inference_gradcam": 40.0},
                                        heatmap_png=heatmap_png()))


@pytest.fixture
def make_case(crew, upload, version):  # type: ignore[no-untyped-def]
    """make_case(title, labels=["ai_generated"], ...) -> a case whose images are analysed with those labels."""
    from verification import services
    from verification.models import Analysis

    counter = iter(range(1000, 100000))

    def make(title: str = "Storm", labels: tuple[str | None, ...] = ("ai_generated",), user: Any = None,
             tags: str = "", p: float | None = None) -> Any:
        files = [upload(f"img{i}.png", png_bytes(seed=next(counter))) for i in range(len(labels))]
        result = services.case_submit(user=user or crew["owner"], team=crew["team"], title=title, files=files,
                                      tags=tags, source_url=f"https://example.org/{title.lower().replace(' ', '-')}")
        for image, label in zip(result.images, labels):
            if label is not None:
                prob = p if p is not None else (0.9 if label == "ai_generated" else 0.1)
                finish(Analysis.objects.get(image=image), version, label, prob)
        result.case.refresh_from_db()
        return result.case

    return make
