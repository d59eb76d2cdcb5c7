"""The served recipe as a chain of stages (``python -m ml served-recipe`` / ``make model``): the keep
rule, where each stage starts from, and what is served."""

from __future__ import annotations

import json

import pytest
import torch

from ml import recipe_chain
from ml.checkpoint import read_checkpoint
from ml.cli import main as ml_main
from ml.modelcard import CARD_FILE, card_markdown, read_card

from .fake_shared_data import make_shared_data


@pytest.mark.parametrize(("candidate", "incumbent", "kept"), [
    (0.6, None, True),     # the first stage has nothing to beat
    (None, None, True),
    (0.93, 0.92, True),
    (0.92, 0.92, False),   # a tie keeps the earlier checkpoint
    (0.91, 0.92, False),
    (None, 0.92, False),   # no validation figure cannot win
])
def test_a_stage_is_kept_only_if_it_beats_the_checkpoint_it_started_from(candidate, incumbent, kept):
    assert recipe_chain.keeps(candidate, incumbent) is kept


def test_served_recipe_skips_a_losing_stage_restarts_from_the_kept_one_and_serves_it_in_full(
        tmp_path, monkeypatch, capsys):
    root = make_shared_data(tmp_path / "data")
    out = tmp_path / "served"
    # The real recipe runs every stage; only the validation figures the rule reads are scripted,
    # so that the middle stage loses and the last one loses too.
    scripted = iter([0.70, 0.60, 0.65])
    real = recipe_chain.val_roc_auc
    seen: list[float | None] = []

    def scripted_auc(card):
        seen.append(real(card))
        return next(scripted)

    monkeypatch.setattr(recipe_chain, "val_roc_auc", scripted_auc)
    code = ml_main(["served-recipe", "--data", str(root), "--out", str(out), "--name", "tiny", "--input-size", "32",
                    "--max-steps", "2", "--batch-size", "8", "--num-workers", "0", "--eval-tiles", "2",
                    "--robustness-per-class", "1", "--quiet", "--train-precision", "fp32", "--no-precision-check"])
    assert code == 0
    # The recipe's own validation ROC-AUC is what the rule reads (the card carries it).
    assert len(seen) == 3 and all(v is not None and 0.0 <= v <= 1.0 for v in seen)

    chain = json.loads((out / recipe_chain.CHAIN_FILE).read_text())
    stages = {s["stage"]: s for s in chain["stages"]}
    assert [s["stage"] for s in chain["stages"]] == ["base", "ft", "ft2"]
    assert [s["kept"] for s in chain["stages"]] == [True, False, False]
    base_ckpt = str(out / "base" / "model.pt")
    assert stages["base"]["started_from"] is None
    assert stages["ft"]["started_from"] == base_ckpt
    assert stages["ft2"]["started_from"] == base_ckpt  # not from the losing ft
    assert chain["served_stage"] == "base"
    assert [s["epochs"] for s in chain["stages"]] == [st.epochs for st in recipe_chain.SERVED_CHAIN]

    # Served: the base stage's weights, with the full evaluation (every test image: 4 per source
    # here) although base ran as an intermediate stage on a sample.
    served = read_checkpoint(out / "model.pt")
    base = read_checkpoint(out / "base" / "model.pt")
    for key, tensor in base["state_dict"].items():
        assert torch.equal(served["state_dict"][key], tensor), key
    card = read_card(out / CARD_FILE)
    assert {src: m["n"] for src, m in card.metrics.items()} == {"small": 4, "large": 4, "heldout": 4}
    assert read_card(out / "ft" / CARD_FILE).metrics["small"]["n"] <= 4
    assert card.recipe["chain"]["served_stage"] == "base"
    assert card.recipe["command"].startswith("python -m ml served-recipe")
    assert served["model_card"]["recipe"]["chain"]["stages"][1]["kept"] is False
    assert "served: base" in card_markdown(card) and "| ft | 3 |" in card_markdown(card)
    text = capsys.readouterr().out
    printed = json.loads(text[text.index('{\n  "checkpoint"'):])
    assert printed["checkpoint"] == str(out / "model.pt")
