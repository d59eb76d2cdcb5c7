"""Settings as a fresh process reads them from its environment: start-up checks and defaults that
``pytest-django``'s already-loaded settings cannot show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_with_settings(code: str, tmp_path: Path | None = None, *, env: dict[str, str] | None = None,
                      unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (which may import ``django.conf.settings``) in a new interpreter at the project
    root, with ``env`` added to this environment and ``unset`` removed; ``tmp_path``: its data folder."""
    base = {k: v for k, v in os.environ.items() if k not in unset}
    extra = {"DJANGO_SETTINGS_MODULE": "portal.settings", **({"VERITY_DATA_DIR": str(tmp_path)} if tmp_path else {})}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**base, **extra, **(env or {})})
