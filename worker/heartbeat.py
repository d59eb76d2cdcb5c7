"""A heartbeat thread: while a task works, call ``beat`` every few seconds, so a sweeper can tell a
live task from a dead one. The thread dies with the process: a worker killed with SIGKILL stops
beating at once, which is what the sweeper detects."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

logger = logging.getLogger(__name__)


@contextmanager
def beating(beat: Callable[[], object], *, every_s: float, name: str) -> Iterator[None]:
    """Call ``beat`` every ``every_s`` seconds from a daemon thread while the block runs."""
    stop = threading.Event()

    def run() -> None:
        try:
            while not stop.wait(every_s):
                try:
                    beat()
                except Exception:  # noqa: BLE001 - a database blip must not end the task
                    logger.warning("heartbeat %s failed", name, exc_info=True)
        finally:
            connection.close()  # this thread's own database connection

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
