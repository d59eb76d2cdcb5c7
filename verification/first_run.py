"""The first run's progress: while the demo model is generated and trained (minutes on a CPU),
the web server is already up and every page says how far it got.

``ensure_model`` writes a small JSON file under VERITY_DATA_DIR; pages read it (one stat and a
small read per request, only while it exists). A file, not a database row: the training runs in
a separate process before any worker exists, and the file is gone once the model is ready.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from django.conf import settings

ACTIVE_STATES = ("generating", "training", "registering", "failed")


def path() -> Path:
    return Path(settings.DATA_DIR) / "first-run.json"


def write(state: str, **fields: Any) -> None:
    """Replace the status atomically, so a page never reads half a file."""
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"state": state, "updated": time.time(), **fields}))
    os.replace(tmp, target)


def clear() -> None:
    path().unlink(missing_ok=True)


def read() -> dict[str, Any] | None:
    """The status while the first run is under way (or failed); None otherwise."""
    try:
        status = json.loads(path().read_text())
    except (FileNotFoundError, ValueError, OSError):
        return None
    if not isinstance(status, dict) or status.get("state") not in ACTIVE_STATES:
        return None
    epoch, epochs = status.get("epoch") or 0, status.get("epochs") or 0
    step, total = status.get("step") or 0, status.get("total_steps") or 0
    status["percent"] = round(100 * step / total) if total else (round(100 * epoch / epochs) if epochs else 0)
    return status
