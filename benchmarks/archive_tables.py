"""Print the markdown tables of benchmarks/archive.md from the raw results beside it
(results/archive_matching.json, results/archive_lookup*.json, results/reshare_stability.json), so
the tables are never typed by hand.

    .venv/bin/python benchmarks/archive_tables.py
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def matching(name: str = "archive_matching_small.json") -> None:
    path = RESULTS / name
    if not path.is_file():
        print(f"({name} missing)\n")
        return
    d = json.loads(path.read_text())
    thresholds = list(next(iter(d["recall"].values())).keys())
    print("| re-share | " + " | ".join(f"recall @<= {t}" for t in thresholds) + " | median / p95 / max distance |")
    print("|---|" + "---|" * (len(thresholds) + 1))
    for name, row in d["recall"].items():
        dist = d["min_distance_to_own"][name]
        desc = d["meta"]["transforms"].get(name, "the untouched original")
        print(f"| `{name}` ({desc}) | " + " | ".join(f"{row[t]:.3f}" for t in thresholds)
              + f" | {dist['median']:.0f} / {dist['p95']:.0f} / {dist['max']} |")
    print()
    print("| threshold | false matches | pairs | false-match rate |")
    print("|---|---|---|---|")
    for t in thresholds:
        n = sum(v["matches"][t] for v in d["false_matches"].values())
        print(f"| {t} | {n} | {d['false_match_pairs']:,} | {d['false_match_rate'][t]:.2e} |")
    print()
    print("Quality:", json.dumps(d["quality"]), " Cost per image (ms):",
          json.dumps({k: round(v, 1) for k, v in d["cost_ms_per_image"].items()}))
    print()


def lookup(name: str) -> None:
    path = RESULTS / name
    if not path.is_file():
        print(f"({name} missing)\n")
        return
    d = json.loads(path.read_text())
    levels = d["levels"] if "levels" in d else {str(d["stored_hashes"]): d}
    print("| stored hashes | query | wall p50 ms | wall p95 ms | server exec p50 / p95 ms | client CPU p95 ms | "
          "candidates (median) | load avg | originals found |")
    print("|---|---|---|---|---|---|---|---|---|")
    for level, row in levels.items():
        for kind in ("reshared", "fresh_real", "random"):
            r = row[kind]
            cand = row.get("candidates_per_query", {}).get(f"{kind}_median", "")
            found = f"{r['found_original']}/{r['n']}" if "found_original" in r else ""
            print(f"| {int(level):,} | {kind} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                  f"{r.get('server_exec_p50_ms', float('nan')):.1f} / {r.get('server_exec_p95_ms', float('nan')):.1f} | "
                  f"{r.get('client_cpu_p95_ms', float('nan')):.1f} | {cand} | {r.get('loadavg_1min', float('nan')):.1f} | {found} |")
    print()


def stability() -> None:
    path = RESULTS / "reshare_stability.json"
    if not path.is_file():
        print("(reshare_stability.json missing)\n")
        return
    d = json.loads(path.read_text())
    names = d["meta"]["transforms"]
    print("| source | n | accuracy (originals) | stable under all 8 | " + " | ".join(f"flip `{n}`" for n in names)
          + " | cost/image p50 ms |")
    print("|---|---|---|---|" + "---|" * (len(names) + 1))
    for source, row in d["per_source"].items():
        print(f"| {source} | {row['n']} | {row['accuracy_on_originals']:.2f} | {row['stable_under_all']:.2f} | "
              + " | ".join(f"{row['flip_rate'][n]:.2f}" for n in names) + f" | {row['cost_ms_per_image']['p50']:.0f} |")
    print()


if __name__ == "__main__":
    matching()

    lookup("archive_lookup_1e6_no_join.json")
    stability()
