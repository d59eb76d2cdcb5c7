"""Archive memory, lookup latency as the archive grows: the portal's own lookup
(verification.archive_index.lookup: one statement, 16 chunk indexes probed at radius 1, the
Hamming distance computed in SQL) on PostgreSQL at 10^4, 10^5 and 10^6 stored hashes.

Usage (PostgreSQL; a database of its own, migrated here, then filled; drop it afterwards):

    createdb -h 127.0.0.1 -U postgres verity_h14lookup_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/verity_h14lookup_bench nice -n 10 \
        .venv/bin/python benchmarks/archive_lookup.py --out benchmarks/results/archive_lookup_h14lookup.json
    dropdb -h 127.0.0.1 -U postgres verity_h14lookup_bench

The archive holds real PDQ hashes (``--real`` images of ../shared/data, stored as the portal
stores them: picture plus centred crops), planted near-duplicates (``--planted`` random hashes,
each with a copy stored at a random distance of 0..31 bits spread over random chunks, and one at
32..40 bits that must not come back), and is filled up with uniformly random 256-bit hashes, four
per synthetic image, bulk-loaded with COPY (indexes rebuilt after, then VACUUM ANALYZE). Each level
is measured with four kinds of lookups, each the eight hashes the portal looks up per new image:

- ``planted``: a planted base hash plus seven random ones: its near copy must be found, the far
  one never (recall and precision of the index itself, not of PDQ);
- ``reshared``: the dihedral variants of a re-shared copy (ml.reshare social_chain) of a real image;
- ``fresh_real``: a real image that is not in the archive: the usual miss;
- ``random``: eight random hashes.

Per lookup: wall time of archive_index.lookup (client included), and on a subset PostgreSQL's own
execution time, the candidates the chunk indexes yield and the heap fetches (EXPLAIN ANALYZE).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from PIL import Image  # noqa: E402

from ml import phash, reshare  # noqa: E402
from ml.data.sources import load_samples  # noqa: E402
from verification import archive_index  # noqa: E402
from verification.models import Case, CaseImage, ImageFingerprint, Team  # noqa: E402

LEVELS = (10_000, 100_000, 1_000_000)
PER_IMAGE = len(phash.STORED_CROPS)
TABLE = ImageFingerprint._meta.db_table
INDEXES = [index for index in ImageFingerprint._meta.indexes if index.name.startswith("fingerprint_chunk_")]
Query = list[phash.PerceptualHash]


def _copy(table: str, columns: str, lines: list[str]) -> None:
    with connection.cursor() as cur, cur.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write("".join(lines))


def _bulk_images(case: Case, n: int) -> list[int]:
    """``n`` image rows under ``case`` via COPY; returns their ids."""
    with connection.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM verification_caseimage")
        start = cur.fetchone()[0] + 1
    ids = list(range(start, start + n))
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    for lo in range(0, n, 200_000):
        _copy("verification_caseimage", "id, case_id, file, sha256, original_name, format, width, height, "
              "size_bytes, created_at, metadata, model_label, human_verdict",
              [f"{i}\t{case.pk}\tsynthetic\t{i:064x}\tsynthetic.jpg\tJPEG\t1280\t720\t1\t{now}\t{{}}\t\t\n"
               for i in ids[lo:lo + 200_000]])
    with connection.cursor() as cur:
        cur.execute("SELECT setval(pg_get_serial_sequence('verification_caseimage', 'id'), %s)", [ids[-1]])
    return ids


def _bulk_hashes(team: Team, image_ids: list[int], values: np.ndarray, per_image: int = PER_IMAGE) -> None:
    """Fingerprints (``per_image`` per image) with their words and chunks, via COPY; the chunk
    indexes dropped before and rebuilt after, then VACUUM ANALYZE (so the index-only scans need
    no heap fetches, as autovacuum would leave a live table)."""
    n = len(values)
    words = values.view(">i8").astype(np.int64)  # (n, 4) signed big-endian 64-bit words
    chunk_values = values.view(">u2").astype(np.int64)  # (n, 16) big-endian 16-bit chunks
    columns = ", ".join(["image_id", "team_id", "variant", "value", "quality"]
                        + [f"w{i}" for i in range(4)] + [f"c{i}" for i in range(phash.CHUNKS)])
    with connection.cursor() as cur:
        for index in INDEXES:
            cur.execute(f"DROP INDEX IF EXISTS {index.name}")
    step = 100_000
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        _copy(TABLE, columns, [
            f"{image_ids[i // per_image]}\t{team.pk}\t{i % per_image}\t\\\\x{values[i].tobytes().hex()}\t100\t"
            + "\t".join(map(str, words[i])) + "\t" + "\t".join(map(str, chunk_values[i])) + "\n"
            for i in range(lo, hi)])
    with connection.schema_editor(atomic=False) as editor:
        for index in INDEXES:
            editor.add_index(ImageFingerprint, index)


def _vacuum() -> None:
    with connection.cursor() as cur:
        cur.execute(f"VACUUM ANALYZE {TABLE}")
        cur.execute("VACUUM ANALYZE verification_caseimage")


def _flip_spread(value: bytes, distance: int, rng: random.Random) -> bytes:
    """``value`` with ``distance`` bits flipped, spread over the chunks as evenly as they go
    (the hardest case for the index: no chunk is equal) in random positions inside each chunk."""
    n = int.from_bytes(value, "big")
    positions = list(range(phash.CHUNKS))
    rng.shuffle(positions)
    for k, pos in enumerate(positions):
        count = distance // phash.CHUNKS + (1 if k < distance % phash.CHUNKS else 0)
        for bit in rng.sample(range(phash.CHUNK_BITS), count):
            n ^= 1 << (pos * phash.CHUNK_BITS + bit)
    return n.to_bytes(phash.HASH_BYTES, "big")


def _random_hash(nprng: np.random.Generator) -> bytes:
    return nprng.integers(0, 256, 32, dtype=np.uint8).tobytes()


def _plan(team: Team, q: Query) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the lookup's statement: server time, rows returned, heap
    fetches and the scans used; and the candidates (rows the chunk indexes gave before the
    distance filter), counted by the same statement without that filter."""
    sql, params = archive_index.lookup_sql(team_id=team.pk, values=[h.value for h in q])
    raw = archive_index.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)[0][0]
    doc = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    scans: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        if node["Node Type"].endswith("Scan") and node["Node Type"] != "Function Scan":
            scans.append(node)
        for child in node.get("Plans", []):
            walk(child)
    walk(doc["Plan"])
    # The branches, without the WHERE that computes the distance (its parameters come last).
    branches = sql.split(" AS candidate WHERE ")[0] + " AS candidate"
    n_branch_params = 3 * phash.CHUNKS
    candidates = archive_index.execute(f"SELECT count(*) FROM ({branches}) AS c", params[:n_branch_params])[0][0]
    return {"exec_ms": doc["Execution Time"], "planning_ms": doc["Planning Time"], "candidates": candidates,
            "returned": doc["Plan"]["Actual Rows"],
            "heap_fetches": sum(s.get("Heap Fetches", 0) for s in scans),
            "node_types": sorted({s["Node Type"] for s in scans}),
            "indexes": sorted({s.get("Index Name", "") for s in scans})}


def _chunk_skew(stored: list[bytes], queries: list[Query]) -> dict[str, float]:
    """How many (stored hash, chunk position) pairs of the real images the real queries' probes
    hit, against what uniformly random hashes would give: the candidates of real archives are
    this many times those of the synthetic filler."""
    hits = 0
    probes_total = 0
    stored_chunks = [phash.chunks(v) for v in stored]
    for q in queries:
        probes = [set(p) for p in phash.probe_chunks([h.value for h in q])]
        probes_total += sum(len(p) for p in probes)
        hits += sum(c in probes[pos] for chunks in stored_chunks for pos, c in enumerate(chunks))
    expected = probes_total * len(stored) / 2 ** phash.CHUNK_BITS
    return {"real_queries": len(queries), "real_stored_hashes": len(stored), "chunk_hits": hits,
            "uniform_expectation": expected, "ratio": hits / expected}


def _pct(values: list[float]) -> dict[str, float]:
    a = np.array(values, dtype=float)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max()), "mean": float(a.mean())}


def _measure(team: Team, queries: list[Query], explained: int) -> dict[str, Any]:
    """Wall time of every lookup (client to client), then EXPLAIN ANALYZE of the first ``explained``."""
    walls, hits = [], []
    for q in queries:
        t0 = time.perf_counter()
        found = archive_index.lookup(team_id=team.pk, queries=q)
        walls.append((time.perf_counter() - t0) * 1000)
        hits.append(found)
    plans = [_plan(team, q) for q in queries[:explained]]
    return {"n": len(queries), "wall_ms": _pct(walls),
            "server_exec_ms": _pct([p["exec_ms"] for p in plans]),
            "planning_ms": _pct([p["planning_ms"] for p in plans]),
            "candidates": _pct([p["candidates"] for p in plans]),
            "rows_returned": _pct([p["returned"] for p in plans]),
            "heap_fetches_max": max(p["heap_fetches"] for p in plans),
            "scan_nodes": sorted({t for p in plans for t in p["node_types"]}),
            "indexes_used": len({i for p in plans for i in p["indexes"]}),
            "loadavg_1min_after": os.getloadavg()[0], "hits": hits}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "unsplash-gemini"))
    ap.add_argument("--real", type=int, default=40, help="real images stored in the archive")
    ap.add_argument("--planted", type=int, default=100, help="planted near-duplicate pairs")
    ap.add_argument("--queries", type=int, default=100, help="lookups of the planted and random kinds per level")
    ap.add_argument("--explained", type=int, default=30, help="lookups of each kind also run under EXPLAIN ANALYZE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Run this on PostgreSQL: set DATABASE_URL to a database of its own (see the docstring).")
    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    nprng = np.random.default_rng(args.seed)
    user_model = django.contrib.auth.get_user_model()  # type: ignore[attr-defined]
    with transaction.atomic():
        ImageFingerprint.objects.all().delete()
        CaseImage.objects.all().delete()
        Case.objects.all().delete()
        team, _ = Team.objects.get_or_create(name="Bench desk")
        other_team, _ = Team.objects.get_or_create(name="Other desk")
        user, _ = user_model.objects.get_or_create(username="bench")
        archive = Case.objects.create(team=team, title="archive", created_by=user)
        elsewhere = Case.objects.create(team=other_team, title="other team", created_by=user)

    t0 = time.time()
    samples = rng.sample(load_samples(args.data), 2 * args.real)
    stored_samples, fresh_samples = samples[:args.real], samples[args.real:]
    real_values, reshared_q, fresh_q = [], [], []
    for s in stored_samples:
        raw = s.read_bytes()
        real_values += [h.value for h in phash.archive_hashes(Image.open(io.BytesIO(raw)))]
        reshared_q.append(phash.query_hashes(Image.open(io.BytesIO(reshare.social_chain(raw)))))
    for s in fresh_samples:
        fresh_q.append(phash.query_hashes(Image.open(io.BytesIO(s.read_bytes()))))
    print(f"hashed {2 * args.real} real images in {time.time() - t0:.0f}s", flush=True)
    skew = _chunk_skew(real_values, fresh_q)
    print("real chunk skew", skew, flush=True)

    # Planted pairs: base (queried, not stored), near copy (stored, <= 31 bits), far copy (stored,
    # 32..40 bits, spread: never a match); the same near copies also stored in the other team.
    bases = [_random_hash(nprng) for _ in range(args.planted)]
    near_d = [rng.randint(0, phash.MAX_DISTANCE) for _ in bases]
    near = [_flip_spread(b, d, rng) for b, d in zip(bases, near_d)]
    far = [_flip_spread(b, rng.randint(phash.MAX_DISTANCE + 1, 40), rng) for b in bases]
    planted_q = [[phash.PerceptualHash(b, 100)] + [phash.PerceptualHash(_random_hash(nprng), 100) for _ in range(7)]
                 for b in bases]
    random_q = [[phash.PerceptualHash(_random_hash(nprng), 100) for _ in range(8)] for _ in range(args.queries)]

    real_ids = _bulk_images(archive, args.real)
    near_ids = _bulk_images(archive, args.planted)
    far_ids = _bulk_images(archive, args.planted)
    other_ids = _bulk_images(elsewhere, args.planted)
    as_array = lambda vs: np.frombuffer(b"".join(vs), dtype=np.uint8).reshape(-1, 32)  # noqa: E731
    _bulk_hashes(team, real_ids, as_array(real_values))
    _bulk_hashes(team, near_ids, as_array(near), per_image=1)
    _bulk_hashes(team, far_ids, as_array(far), per_image=1)
    _bulk_hashes(other_team, other_ids, as_array(near), per_image=1)
    stored = len(real_values) + 3 * args.planted
    results: dict[str, Any] = {"levels": {}, "real_chunk_skew": skew}
    for level in args.levels:
        add = level - stored
        if add > 0:
            t0 = time.time()
            images = add // PER_IMAGE
            ids = _bulk_images(archive, images)
            _bulk_hashes(team, ids, nprng.integers(0, 256, (images * PER_IMAGE, 32), dtype=np.uint8))
            stored += images * PER_IMAGE
            print(f"loaded {stored} hashes in {time.time() - t0:.0f}s", flush=True)
        t0 = time.time()
        _vacuum()
        print(f"vacuum analyze {time.time() - t0:.0f}s", flush=True)
        load_before = os.getloadavg()
        row: dict[str, Any] = {"stored_hashes": stored, "loadavg_before": load_before}
        for kind, queries in (("planted", planted_q[:args.queries]), ("reshared", reshared_q),
                              ("fresh_real", fresh_q), ("random", random_q)):
            row[kind] = _measure(team, queries, args.explained)
        planted_hits = row["planted"].pop("hits")
        row["planted"]["near_found"] = sum(any(h.image_id == near_ids[i] and h.distance == near_d[i] for h in hits)
                                           for i, hits in enumerate(planted_hits))
        row["planted"]["far_returned"] = sum(any(h.image_id == far_ids[i] for h in hits)
                                             for i, hits in enumerate(planted_hits))
        row["planted"]["other_team_returned"] = sum(any(h.image_id in set(other_ids) for h in hits)
                                                    for hits in planted_hits)
        reshared_hits = row["reshared"].pop("hits")
        real_set = set(real_ids)
        row["reshared"]["original_found"] = sum(any(h.image_id == real_ids[i] for h in hits)
                                                for i, hits in enumerate(reshared_hits))
        row["fresh_real"]["real_matched"] = sum(any(h.image_id in real_set for h in hits)
                                                for hits in row["fresh_real"].pop("hits"))
        row["random"]["matched"] = sum(bool(hits) for hits in row["random"].pop("hits"))
        results["levels"][str(level)] = row
        print(json.dumps({level: {k: ({kk: vv for kk, vv in v.items() if kk in (
            "wall_ms", "server_exec_ms", "candidates", "near_found", "far_returned", "original_found")}
            if isinstance(v, dict) else v) for k, v in row.items()}}), flush=True)
    with connection.cursor() as cur:
        cur.execute(f"SELECT pg_size_pretty(pg_table_size('{TABLE}')), pg_size_pretty(pg_indexes_size('{TABLE}'))")
        table_size, index_size = cur.fetchone()
    sql, params = archive_index.lookup_sql(team_id=team.pk, values=[h.value for h in reshared_q[0]])
    plan = [r[0] for r in archive_index.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)]
    results["plan_at_largest"] = [line for line in plan if "ANY" not in line and "bit_count" not in line]
    results["storage_at_largest"] = {"table": table_size, "indexes": index_size}
    results["meta"] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
        "machine": f"{platform.machine()} 2-core AMD EPYC VM, 24 GiB, shared with other engineers' jobs",
        "uptime": os.popen("uptime").read().strip(),
        "database": connection.cursor().connection.info.server_version, "real_images": args.real,
        "hashes_per_real_image": PER_IMAGE, "planted_pairs": args.planted, "chunks": phash.CHUNKS,
        "chunk_bits": phash.CHUNK_BITS, "max_distance": phash.MAX_DISTANCE, "probe_radius": phash.PROBE_RADIUS,
        "hashes_per_lookup": 8,
        # What the statement sends: one (chunk value, query hash) pair per probe; and how many
        # distinct chunk values those are (the variants of one picture share some).
        "probe_pairs_per_lookup": sum(len(p) for h in reshared_q[0] for p in phash.probe_chunks([h.value])),
        "distinct_probe_values_per_lookup": sum(len(p) for p in phash.probe_chunks([h.value for h in reshared_q[0]]))}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
