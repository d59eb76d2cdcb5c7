"""Model cards: what a checkpoint was trained on, how, how well it does, and where it fails.

Every checkpoint the recipe (:mod:`ml.recipe`) makes carries a card, both inside the checkpoint
payload (key ``model_card``, so it travels with the weights) and beside it as
``model_card.json``. The portal stores it with the model version and shows it on the Models page
and in the API. The card is plain JSON (schema below); :func:`card_from_dict` validates what it
reads so a hand-edited or truncated card is refused rather than shown half-empty.

Schema 1 (all keys present; values may be empty)::

    schema: 1
    name: str                      # the checkpoint's name
    created: str                   # ISO 8601 UTC
    is_demo: bool
    architecture: str              # "resnet50"
    input_size: int                # side of the tiles the model sees, in native pixels
    input_representation: str      # "rgb" | "npr"
    training_data: {sources: [{name, licence, generators: [str], counts: {split: {label: n}}}],
                    held_out: [str], duplicates_dropped_from_val_test: int, repeat: {source: n}}
    recipe: {command: str, train_config: {...}, training_seconds: float | None, machine: str,
             training_cpu_seconds: float | None,
             train_precision: {precision, requested, reason, logits_dtype}}  # absent from older cards
    metrics: {source: {split, n, accuracy, precision, recall, f1, roc_auc, ece, max_tiles}}
    calibration: {temperature: float, threshold: float, fitted_on: "val", val_ece: float | None}
    robustness: {chain: str, results: {source: {clean: {accuracy, roc_auc}, reshared: {...}}}}
    shortcut_baseline: {source: {accuracy, roc_auc, classifier}}   # file-level features only
    known_limits: {not_trained_on: [str], notes: [str]}
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import MLError

SCHEMA = 1
CARD_FILE = "model_card.json"


@dataclass
class ModelCard:
    name: str
    created: str
    is_demo: bool
    architecture: str
    input_size: int
    input_representation: str = "rgb"
    training_data: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    robustness: dict[str, Any] = field(default_factory=dict)
    shortcut_baseline: dict[str, Any] = field(default_factory=dict)
    known_limits: dict[str, list[str]] = field(default_factory=dict)
    schema: int = SCHEMA
    # Agreement of bf16/int8 with fp32 on validation (ml.precision_check); absent from older cards.
    precision: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "created": str, "is_demo": bool, "architecture": str, "input_size": int,
    "input_representation": str, "training_data": dict, "recipe": dict, "metrics": dict,
    "calibration": dict, "robustness": dict, "shortcut_baseline": dict, "known_limits": dict, "schema": int,
    "precision": dict,
}
# Fields added after schema 1 was published: a card written before them still reads (as the default).
_OPTIONAL = {"precision"}


def card_from_dict(d: Any) -> ModelCard:
    """Rebuild and check a card read from JSON; raises MLError naming what is wrong."""
    if not isinstance(d, dict):
        raise MLError("A model card must be a JSON object.")
    if d.get("schema") != SCHEMA:
        raise MLError(f"Model card schema {d.get('schema')!r} is not supported; this Verity reads schema {SCHEMA}.")
    names = {f.name for f in fields(ModelCard)}
    missing = sorted(names - set(d) - _OPTIONAL)
    unknown = sorted(set(d) - names)
    if missing or unknown:
        raise MLError("Model card keys do not match schema 1: "
                      + "; ".join(p for p in (f"missing {', '.join(missing)}" if missing else "",
                                              f"unknown {', '.join(unknown)}" if unknown else "") if p))
    d = {k: v for k, v in d.items()}
    for key in _OPTIONAL - set(d):
        d[key] = {}
    for key, kind in _TYPES.items():
        if not isinstance(d[key], kind) or (kind is int and isinstance(d[key], bool)):
            raise MLError(f"Model card field {key!r} must be {getattr(kind, '__name__', kind)}, "
                          f"not {type(d[key]).__name__}.")
    return ModelCard(**{k: d[k] for k in names})


def write_card(card: ModelCard, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(card.to_dict(), indent=2, sort_keys=True))
    return path


def read_card(path: str | Path) -> ModelCard:
    path = Path(path)
    try:
        return card_from_dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise MLError(f"Cannot read the model card {path}: {exc}") from exc


def source_licence(source_dir: str | Path) -> str:
    """The licence line of a source's SOURCE.md (``- Licence: ...``), or "" when it has none."""
    path = Path(source_dir) / "SOURCE.md"
    if not path.is_file():
        return ""
    for line in path.read_text(errors="replace").splitlines():
        m = re.match(r"\s*[-*]\s*Licen[cs]e\s*:\s*(.+)", line, flags=re.IGNORECASE)
        if m:
            return m.group(1).strip()
    return ""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_METRIC_KEYS = ("n", "accuracy", "precision", "recall", "f1", "roc_auc", "ece", "threshold")


def metric_summary(result: dict[str, Any]) -> dict[str, Any]:
    """The card's subset of an :func:`ml.evaluate.evaluate`-style metrics dict."""
    return {k: result.get(k) for k in _METRIC_KEYS}


def card_markdown(card: ModelCard) -> str:
    """A short human-readable rendering (written beside the JSON as ``model_card.md``)."""
    def fmt(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else ("-" if v is None else str(v))

    lines = [f"# Model card: {card.name}", "",
             (f"{'DEMO model. ' if card.is_demo else ''}{card.architecture}, {card.input_size} px native tiles, "
              f"input {card.input_representation}; created {card.created}."), "", "## Training data", ""]
    for s in card.training_data.get("sources", []):
        counts = s.get("counts", {})
        per = ", ".join(f"{sp} {sum(c.values())}" for sp, c in counts.items())
        lines.append(f"- {s.get('name')}: {per}; generators: {', '.join(s.get('generators') or ['-'])}; "
                     f"licence: {s.get('licence') or 'see SOURCE.md'}")
    if card.training_data.get("held_out"):
        lines.append(f"- held out (never trained on): {', '.join(card.training_data['held_out'])}")
    lines += ["", "## Test metrics per source", "",
              "| source | n | accuracy | precision | recall | ROC-AUC | ECE | shortcut acc | shortcut AUC |",
              "|---|---|---|---|---|---|---|---|---|"]
    for src, m in sorted(card.metrics.items()):
        sb = card.shortcut_baseline.get(src, {})
        lines.append(f"| {src} | {fmt(m.get('n'))} | {fmt(m.get('accuracy'))} | {fmt(m.get('precision'))} | "
                     f"{fmt(m.get('recall'))} | {fmt(m.get('roc_auc'))} | {fmt(m.get('ece'))} | "
                     f"{fmt(sb.get('accuracy'))} | {fmt(sb.get('roc_auc'))} |")
    cal = card.calibration
    lines += ["", "## Calibration", "",
              (f"Temperature {fmt(cal.get('temperature'))}, threshold {fmt(cal.get('threshold'))} on "
               f"p(ai_generated), fitted on {cal.get('fitted_on', 'val')}; validation ECE {fmt(cal.get('val_ece'))}"
               + (f", validation ROC-AUC {fmt(cal['val_roc_auc'])} (in-sample: chooses, not a result)"
                  if cal.get("val_roc_auc") is not None else "") + ".")]
    rob = card.robustness
    if rob.get("results"):
        lines += ["", f"## Robustness ({rob.get('chain', '')})", "",
                  "| source | clean acc | re-shared acc | clean AUC | re-shared AUC |",
                  "|---|---|---|---|---|"]
        for src, r in sorted(rob["results"].items()):
            c, s = r.get("clean", {}), r.get("reshared", {})
            lines.append(f"| {src} | {fmt(c.get('accuracy'))} | {fmt(s.get('accuracy'))} | "
                         f"{fmt(c.get('roc_auc'))} | {fmt(s.get('roc_auc'))} |")
    prec = card.precision
    if prec.get("results"):
        lines += ["", "## Lower precisions (agreement with fp32 on validation)", "",
                  ("Counts are judged on all validation images together, the mean probability difference on "
                   "each source too (ml/precision_check.py)."), "",
                  "| precision | source | n | verdict agreement | mean abs dp | accuracy change (points) | qualifies |",
                  "|---|---|---|---|---|---|---|"]
        for p, r in sorted(prec["results"].items()):
            if not r.get("checked"):
                lines.append(f"| {p} | - | - | - | - | - | not checked: {r.get('reason', '')} |")
                continue
            rows = sorted(r.get("per_source", {}).items()) + ([("all", r["all"])] if r.get("all") else [])
            for src, a in rows:
                verdict = ("yes" if r["passes"] else "no") if src == "all" else ""
                lines.append(f"| {p} | {src} | {a['n']} | {fmt(a['verdict_agreement'])} | {a['mean_abs_dp']:.4f} | "
                             f"{a['accuracy_points']:+.1f} | {verdict} |")
        lines.append(f"\nServed by `auto` besides fp32: {', '.join(prec.get('verified') or []) or 'none'}.")
    lim = card.known_limits
    lines += ["", "## Known limits", "", f"Not trained on: {', '.join(lim.get('not_trained_on', [])) or '-'}."]
    lines += [f"- {n}" for n in lim.get("notes", [])]
    rec = card.recipe
    tp = rec.get("train_precision") or {}
    how = (f", in {tp['precision']}{' autocast' if tp['precision'] == 'bf16' else ''} "
           f"(asked: {tp.get('requested', '-')}; {tp.get('reason', '')})") if tp.get("precision") else ""
    lines += ["", "## Recipe", "", (f"`{rec.get('command', '')}` on {rec.get('machine', '')}; "
                                    f"training {fmt(rec.get('training_seconds'))} s wall, "
                                    f"{fmt(rec.get('training_cpu_seconds'))} s CPU{how}.")]
    chain = rec.get("chain") or {}
    if chain.get("stages"):
        lines += ["", f"Served from a chain of stages ({chain.get('rule', '')}); served: {chain.get('served_stage')}.",
                  "", "| stage | epochs | lr | started from | validation ROC-AUC | training CPU s | kept |",
                  "|---|---|---|---|---|---|---|"]
        for r in chain["stages"]:
            origin = Path(r["started_from"]).parent.name if r.get("started_from") else "scratch"
            lines.append(f"| {r['stage']} | {r['epochs']} | {r['lr']:g} | {origin} | {fmt(r.get('val_roc_auc'))} | "
                         f"{fmt(r.get('training_cpu_seconds'))} | {'yes' if r['kept'] else 'no'} |")
    return "\n".join(lines) + "\n"
