"""Markdown tables for benchmarks/detector.md from the committed JSON results.

    python benchmarks/detector_tables.py benchmarks/detector/served_model_card.json [more cards...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def f(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, float) else ("-" if v is None else str(v))


def main() -> None:
    base = Path(__file__).parent / "detector"
    shortcut = json.loads((base / "shortcut_baseline.json").read_text()) if (base / "shortcut_baseline.json").is_file() else {}
    print("| model | source | n | accuracy | precision | recall | ROC-AUC | ECE | shortcut acc | shortcut ROC-AUC |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    cards = [json.loads(Path(p).read_text()) | {"name": Path(p).stem.replace("_model_card", "")} for p in sys.argv[1:]]
    for card in cards:
        for src, m in sorted(card["metrics"].items()):
            sc = card["shortcut_baseline"].get(src) or {}
            print(f"| {card['name']} | {src} | {m['n']} | {f(m['accuracy'])} | {f(m['precision'])} | {f(m['recall'])} | "
                  f"{f(m['roc_auc'])} | {f(m['ece'])} | {f(sc.get('accuracy'))} | {f(sc.get('roc_auc'))} |")
    print()
    print("| model | source | n | accuracy original | accuracy re-shared | ROC-AUC original | ROC-AUC re-shared |")
    print("|---|---|---|---|---|---|---|")
    for card in cards:
        for src, r in sorted(card["robustness"].get("results", {}).items()):
            print(f"| {card['name']} | {src} | {r['clean']['n']} | {f(r['clean']['accuracy'])} | {f(r['reshared']['accuracy'])} | "
                  f"{f(r['clean']['roc_auc'])} | {f(r['reshared']['roc_auc'])} |")
    print()
    for card in cards:
        c, rec = card["calibration"], card["recipe"]
        print(f"- {card['name']}: temperature {f(c['temperature'])}, threshold {f(c['threshold'])}, val ECE "
              f"{f(c.get('val_ece'))} (n={c.get('val_n')}); training {f(rec.get('training_seconds'))} s wall, "
              f"{f(rec.get('training_cpu_seconds'))} s CPU")
    if shortcut:
        print()
        print("| source | protocol | classifier | accuracy | ROC-AUC |")
        print("|---|---|---|---|---|")
        for src, r in sorted(shortcut["sources"].items()):
            if "test" in r:
                print(f"| {src} | {r['protocol']} | {r['classifier']} | {f(r['test']['accuracy'])} | {f(r['test']['roc_auc'])} |")
            else:
                for name, m in r["cv"].items():
                    print(f"| {src} | {r['protocol']} | {name} | {f(m['accuracy'])} | {f(m['roc_auc'])} |")
                for name, m in r.get("from_other_sources", {}).items():
                    print(f"| {src} | classifier fitted on {name} | | {f(m['accuracy'])} | {f(m['roc_auc'])} |")


if __name__ == "__main__":
    main()
