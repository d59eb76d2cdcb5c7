"""Fixtures shared by the worker tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def sent_tasks(monkeypatch) -> list[tuple[str, list[Any], str]]:  # type: ignore[no-untyped-def]
    """What reaches the broker (task name, args, queue); nothing is delivered by itself."""
    from verification import queue

    calls: list[tuple[str, list[Any], str]] = []
    monkeypatch.setattr(queue.current_app, "send_task",
                        lambda name, args, queue, kwargs=None: calls.append((name, args, queue)))
    return calls
