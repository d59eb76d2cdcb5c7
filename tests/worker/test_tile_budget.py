"""The model card describes what the portal does: the recipe evaluates (and calibrates) at the tile
budget the worker serves by default (benchmarks/detector.md 5m.3: it once evaluated at 16 tiles a
model calibrated, and served, at 64)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ml.recipe import RecipeConfig
from ml.recipe_cli import add_parser
from ml.tiling import DEFAULT_MAX_TILES


def test_the_recipe_evaluates_at_the_budget_the_worker_serves(tmp_path):
    assert RecipeConfig().eval_tiles == DEFAULT_MAX_TILES
    import argparse

    sub = argparse.ArgumentParser().add_subparsers()
    add_parser(sub)
    for command in ("recipe", "served-recipe"):
        args = sub.choices[command].parse_args(["--data", "x"])
        assert args.eval_tiles == DEFAULT_MAX_TILES, command
    env = {k: v for k, v in os.environ.items() if k != "VERITY_MAX_TILES"}
    code = "from django.conf import settings; print(settings.VERITY_MAX_TILES)"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, check=True, env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings",
                                                     "VERITY_DATA_DIR": str(tmp_path)}).stdout
    assert int(out.strip()) == DEFAULT_MAX_TILES
