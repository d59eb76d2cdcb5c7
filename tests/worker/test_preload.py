"""Only worker processes that take analyses load (and warm up) the model when they start."""

from __future__ import annotations

import pytest
from celery import current_app

from worker import tasks


@pytest.fixture
def loads(monkeypatch):  # type: ignore[no-untyped-def]
    calls: list[int] = []
    monkeypatch.setattr(tasks.model_cache, "active_predictor", lambda: calls.append(1))
    monkeypatch.setattr(tasks.gc, "freeze", lambda: None)
    return calls


@pytest.mark.parametrize(("queues", "preloads"), [
    (None, True),  # no -Q: every queue
    (["inference"], True),
    (["inference", "training"], True),
    (["training"], False),
])
def test_preload_follows_the_queues_the_worker_consumes(monkeypatch, loads, queues, preloads):
    consumed = None if queues is None else {name: object() for name in queues}
    monkeypatch.setattr(current_app.amqp.queues, "_consume_from", consumed)
    tasks._preload_model()
    assert loads == ([1] if preloads else [])
