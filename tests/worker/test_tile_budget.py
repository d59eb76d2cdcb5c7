"""The model card describes what the portal does: the recipe evaluates (and calibrates) at the tile
budget the worker serves by default (benchmarks/detector.md 5m.3: it once evaluated at 16 tiles a
model calibrated, and served, at 64)."""

from __future__ import annotations

from ml.recipe import RecipeConfig
from ml.recipe_cli import add_parser
from ml.tiling import DEFAULT_MAX_TILES
from tests.fresh_settings import run_with_settings


def test_the_recipe_evaluates_at_the_budget_the_worker_serves(tmp_path):
    assert RecipeConfig().eval_tiles == DEFAULT_MAX_TILES
    import argparse

    sub = argparse.ArgumentParser().add_subparsers()
    add_parser(sub)
    for command in ("recipe", "served-recipe"):
        args = sub.choices[command].parse_args(["--data", "x"])
        assert args.eval_tiles == DEFAULT_MAX_TILES, command
    code = "from django.conf import settings; print(settings.VERITY_MAX_TILES)"
    result = run_with_settings(code, tmp_path, unset=("VERITY_MAX_TILES",))
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) == DEFAULT_MAX_TILES
