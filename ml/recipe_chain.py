"""The served recipe: a chain of recipe stages, each fine-tuning the checkpoint kept before it
(what ``make model`` and ``python -m ml served-recipe`` run).

A stage is kept only if its pooled validation ROC-AUC beats the checkpoint it started from;
otherwise the next stage starts from that earlier checkpoint again. Test splits never choose:
every stage but the last evaluates a sample of them only, and the kept checkpoint gets the full
evaluation (test splits, re-share robustness, bf16/int8 agreement check) before it is copied to
``OUT/model.pt`` with its card. Each stage keeps its own run folder (``OUT/<stage>/``) and the
chain's record is ``OUT/chain.json`` and the card's ``recipe.chain``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .modelcard import ModelCard
from .recipe import RecipeConfig, attach_card, finish_recipe, run_recipe, training_samples

CHAIN_FILE = "chain.json"
# Intermediate stages evaluate this many test images per source and class (re-share robustness:
# the second figure) and skip the precision check: they are chosen on validation.
SAMPLE_EVAL = (25, 10)


@dataclass(frozen=True)
class Stage:
    name: str
    epochs: int
    lr: float
    repeat: dict[str, int] = field(default_factory=dict)


# Run 2 of benchmarks/detector.md: 5 epochs from scratch, then two fine-tunes that list the photo
# source more often at a lower learning rate.
SERVED_CHAIN: tuple[Stage, ...] = (
    Stage("base", epochs=5, lr=1e-3, repeat={"unsplash-gemini": 4}),
    Stage("ft", epochs=3, lr=3e-4, repeat={"unsplash-gemini": 12}),
    Stage("ft2", epochs=3, lr=2e-4, repeat={"unsplash-gemini": 24}),
)

# The first layers of the served model (ml.config.ModelConfig.stem): benchmarks/detector.md, 5j.
SERVED_STEM = "imagenet"


def val_roc_auc(card: ModelCard) -> float | None:
    value = card.calibration.get("val_roc_auc")
    return None if value is None else float(value)


def keeps(candidate: float | None, incumbent: float | None) -> bool:
    """The chain's rule: a stage replaces the checkpoint it started from only if its pooled
    validation ROC-AUC is strictly higher (the first stage has nothing to beat)."""
    if incumbent is None:
        return True
    return candidate is not None and candidate > incumbent


def run_chain(base: RecipeConfig, stages: tuple[Stage, ...] = SERVED_CHAIN, *, command: str = "",
              machine: str = "", show_bar: bool = True, log: Any = print) -> tuple[Path, ModelCard]:
    """Run ``stages`` in order from ``base`` (its ``init_checkpoint``, if any, is the first start)
    and serve the last kept stage: ``OUT/model.pt`` and its card."""
    if not stages:
        raise ValueError("a chain needs at least one stage")
    out = Path(base.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kept: tuple[int, Path, float | None, RecipeConfig, ModelCard] | None = None  # stage index first
    start = base.init_checkpoint
    records: list[dict[str, Any]] = []
    for i, stage in enumerate(stages):
        last = i == len(stages) - 1
        cfg = replace(base, out_dir=str(out / stage.name), epochs=stage.epochs, lr=stage.lr,
                      repeat=dict(stage.repeat), init_checkpoint=start,
                      eval_per_class=base.eval_per_class if last else min(base.eval_per_class or SAMPLE_EVAL[0],
                                                                           SAMPLE_EVAL[0]),
                      robustness_per_class=(base.robustness_per_class if last
                                            else min(base.robustness_per_class, SAMPLE_EVAL[1])),
                      check_precisions=base.check_precisions and last)
        log(f"Stage {stage.name} ({i + 1}/{len(stages)}): {stage.epochs} epochs, lr {stage.lr:g}, "
            f"repeat {stage.repeat or '-'}, from {start or 'scratch'}.")
        ckpt, card = run_recipe(cfg, command=f"{command} [stage {stage.name}]".strip(), machine=machine,
                                show_bar=show_bar, log=log)
        auc = val_roc_auc(card)
        keep = keeps(auc, kept[2] if kept else None)
        records.append({"stage": stage.name, "epochs": stage.epochs, "lr": stage.lr, "repeat": dict(stage.repeat),
                        "started_from": str(start) if start else None, "checkpoint": str(ckpt),
                        "val_roc_auc": auc, "val_accuracy": card.calibration.get("val_accuracy"),
                        "training_cpu_seconds": card.recipe.get("training_cpu_seconds"), "kept": keep})
        log(f"Stage {stage.name}: validation ROC-AUC {auc} -> {'kept' if keep else 'not kept'}.")
        if keep:
            kept = (i, ckpt, auc, cfg, card)
            start = str(ckpt)
    assert kept is not None  # the first stage is always kept
    index, ckpt, _, cfg, card = kept
    if index != len(stages) - 1:
        # An earlier stage won: it was evaluated on a sample only, so evaluate it in full now.
        full = replace(cfg, eval_per_class=base.eval_per_class, robustness_per_class=base.robustness_per_class,
                       check_precisions=base.check_precisions)
        samples, summary = training_samples(full.data, sources=list(full.sources) or None, repeat=full.repeat,
                                            val_per_class=full.val_per_class, include_test=False, seed=full.seed)
        card = finish_recipe(full, ckpt, summary, samples, training_seconds=card.recipe.get("training_seconds"),
                             training_cpu_seconds=card.recipe.get("training_cpu_seconds"),
                             command=card.recipe.get("command", ""), machine=machine, log=log)
    served = out / "model.pt"
    shutil.copy2(ckpt, served)
    lineage = [r for r in records if r["kept"]]  # the served stage is the last of them
    card.recipe["chain"] = {"rule": "a stage is kept if its pooled validation ROC-AUC beats the checkpoint it "
                                    "started from", "stages": records, "served_stage": lineage[-1]["stage"],
                            "training_cpu_seconds_of_served_lineage": _sum(r["training_cpu_seconds"] for r in lineage)}
    card.recipe["command"] = command or card.recipe.get("command", "")
    attach_card(served, card, verified_precisions=(card.precision or {}).get("verified"))
    (out / CHAIN_FILE).write_text(json.dumps(card.recipe["chain"], indent=2))
    log(f"Served: stage {lineage[-1]['stage']} -> {served}")
    return served, card


def _sum(values: Any) -> float | None:
    vs = list(values)
    return None if any(v is None for v in vs) else float(sum(vs))
