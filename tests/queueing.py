"""Tests that replace ``verification.queue.enqueue_analysis`` route batched sends through it too."""

from __future__ import annotations

from collections.abc import Sequence


def each_analysis(analysis_ids: Sequence[int]) -> int:
    """Stand-in for ``queue.enqueue_analyses``: one call of the (patched) ``enqueue_analysis`` per id."""
    from verification import queue

    for pk in analysis_ids:
        queue.enqueue_analysis(pk)
    return len(analysis_ids)
