"""Archive memory, lookup latency as the archive grows: the portal's own lookup
(verification.archive_index.lookup_many, multi-index hashing on 16-bit chunk keys, then the exact
Hamming check) on PostgreSQL at 10^4, 10^5 and 10^6 stored hashes.

Usage (PostgreSQL; a database of its own, created and migrated here, then filled):

    createdb -h 127.0.0.1 -U postgres verity_h14_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/verity_h14_bench \
        .venv/bin/python benchmarks/archive_lookup.py --out benchmarks/results/archive_lookup.json

The archive holds real PDQ hashes (``--real`` images of ../shared/data, stored as the portal
stores them: picture plus centred crops) and is filled up with uniformly random 256-bit hashes,
four per synthetic image, bulk-loaded with COPY. Each level is measured with three kinds of
queries, each the eight dihedral variants the portal looks up per new image:

- ``reshared``: a re-shared copy (ml.reshare social_chain) of one of the real images: a hit;
  the benchmark also checks that the original is found at every size.
- ``fresh_real``: a real image that is not in the archive: the usual miss.
- ``random``: a random hash (a miss on a uniform table, the index's best case).
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
from verification.models import (Case, CaseImage, FingerprintKey, ImageFingerprint, Team)  # noqa: E402

LEVELS = (10_000, 100_000, 1_000_000)
PER_IMAGE = len(phash.STORED_CROPS)


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


def _bulk_hashes(team: Team, image_ids: list[int], values: np.ndarray) -> None:
    """Fingerprints (PER_IMAGE per image) and their 16 chunk keys each, via COPY, index rebuilt after."""
    n = len(values)
    with connection.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM verification_imagefingerprint")
        start = cur.fetchone()[0] + 1
    fp_ids = np.arange(start, start + n)
    chunk_values = values.view(">u2").astype(np.int64)  # (n, 16) big-endian 16-bit chunks
    keys = (np.arange(phash.CHUNKS, dtype=np.int64)[None, :] << phash.CHUNK_BITS) | chunk_values
    with connection.cursor() as cur:
        cur.execute("DROP INDEX IF EXISTS fingerprint_key_lookup")
    step = 100_000
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        _copy("verification_imagefingerprint", "id, image_id, team_id, variant, value, quality",
              [f"{fp_ids[i]}\t{image_ids[i // PER_IMAGE]}\t{team.pk}\t{i % PER_IMAGE}\t\\\\x{values[i].tobytes().hex()}\t100\n"
               for i in range(lo, hi)])
        _copy("verification_fingerprintkey", "fingerprint_id, team_id, key",
              [f"{fp_ids[i]}\t{team.pk}\t{k}\n" for i in range(lo, hi) for k in keys[i]])
    with connection.cursor() as cur:
        cur.execute("SELECT setval(pg_get_serial_sequence('verification_imagefingerprint', 'id'), %s)",
                    [int(fp_ids[-1])])
        cur.execute('CREATE INDEX fingerprint_key_lookup ON verification_fingerprintkey (team_id, "key", '
                    "fingerprint_id)")
        cur.execute("ANALYZE verification_caseimage")
        cur.execute("ANALYZE verification_imagefingerprint")
        cur.execute("ANALYZE verification_fingerprintkey")


def _lookup_qs(team: Team, q: list[phash.PerceptualHash], exclude_case: int | None) -> Any:
    """The query archive_index.lookup sends, for EXPLAIN."""
    keys = phash.probe_keys([h.value for h in q])
    qs = ImageFingerprint.objects.filter(
        pk__in=FingerprintKey.objects.filter(team_id=team.pk, key__any_of=keys).values("fingerprint_id"),
        team_id=team.pk)
    if exclude_case is not None:
        qs = qs.exclude(image__case_id=exclude_case)
    return qs.values_list("image_id", "value")


def _explain(sql: str, params: list[Any], buffers: bool = False) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(f"EXPLAIN (ANALYZE{', BUFFERS' if buffers else ''}) " + sql, params)
        return [row[0] for row in cur.fetchall()]


def _two_step_plans(team: Team, q: list[phash.PerceptualHash], buffers: bool = False) -> list[list[str]]:
    """The two statements archive_index.lookup_many sends on PostgreSQL (no case excluded)."""
    keys = phash.probe_keys([h.value for h in q])
    sql = 'SELECT fingerprint_id FROM verification_fingerprintkey WHERE team_id = %s AND "key" = ANY(%s)'
    params: list[Any] = [team.pk, keys]
    first = (sql, params)
    with connection.cursor() as cur:
        cur.execute(sql, params)
        ids = sorted({row[0] for row in cur.fetchall()})
    return [_explain(*first, buffers=buffers),
            _explain("SELECT image_id, value FROM verification_imagefingerprint WHERE id = ANY(%s)", [ids], buffers)]


def _exec_ms(plan: list[str]) -> float:
    return float(plan[-1].split("Execution Time:", 1)[1].split("ms")[0])


def _server_ms(team: Team, q: list[phash.PerceptualHash], exclude_case: int | None) -> float:
    """PostgreSQL's own execution time for the lookup's queries (EXPLAIN ANALYZE), without the client."""
    if exclude_case is None:
        return sum(_exec_ms(plan) for plan in _two_step_plans(team, q))
    return _exec_ms(_lookup_qs(team, q, exclude_case).explain(analyze=True).splitlines())


def _measure(team: Team, queries: list[list[phash.PerceptualHash]], exclude_case: int | None) -> dict[str, Any]:
    """Wall time of the whole lookup (what a request waits), the client's CPU time, and the
    server's execution time: on a machine shared with other jobs the wall time includes waiting
    for a core, which the two CPU figures do not."""
    times, cpu, hits = [], [], []
    load = os.getloadavg()[0]
    for q in queries:
        t0, c0 = time.perf_counter(), time.process_time()
        found = archive_index.lookup(team_id=team.pk, queries=q, exclude_case_id=exclude_case)
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
        hits.append(found)
    server = np.array([_server_ms(team, q, exclude_case) for q in queries[:30]])
    ms, cpu_ms = np.array(times), np.array(cpu)
    return {"n": len(ms), "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()), "mean_ms": float(ms.mean()),
            "client_cpu_p50_ms": float(np.percentile(cpu_ms, 50)), "client_cpu_p95_ms": float(np.percentile(cpu_ms, 95)),
            "server_exec_p50_ms": float(np.percentile(server, 50)), "server_exec_p95_ms": float(np.percentile(server, 95)),
            "loadavg_1min": load,
            "hits": [[(h.image_id, h.distance) for h in found[:3]] for found in hits]}


def _candidates(team: Team, q: list[phash.PerceptualHash]) -> int:
    keys = phash.probe_keys([h.value for h in q])
    return FingerprintKey.objects.filter(team_id=team.pk, key__any_of=keys).values("fingerprint_id").distinct().count()


def _plan(team: Team, q: list[phash.PerceptualHash], exclude: int | None) -> list[str]:
    """The plan of one lookup at the largest size."""
    if exclude is None:
        return [line for plan in _two_step_plans(team, q, buffers=True) for line in plan if "ANY" not in line]
    return _lookup_qs(team, q, exclude).explain(analyze=True, buffers=True).splitlines()


def measure_only(args: argparse.Namespace) -> None:
    """Measure again on the archive an earlier run left (real images are the first ``--real``)."""
    rng = random.Random(args.seed)
    nprng = np.random.default_rng(args.seed)
    team = Team.objects.get(name="Bench desk")
    archive = Case.objects.get(team=team, title="archive")
    incoming = Case.objects.get(team=team, title="incoming")
    exclude = incoming.pk if args.exclude_case else None
    # The same draw as the loading run (which used --queries 100), then the first --queries of it.
    samples = rng.sample(load_samples(args.data), args.real + args.loaded_queries)
    stored_samples, fresh_samples = samples[:args.real], samples[args.real:args.real + args.queries]
    reshared_q = [phash.query_hashes(Image.open(io.BytesIO(reshare.social_chain(s.read_bytes()))))
                  for s in stored_samples[:args.queries]]
    fresh_q = [phash.query_hashes(Image.open(io.BytesIO(s.read_bytes()))) for s in fresh_samples]
    random_q = [[phash.PerceptualHash(nprng.integers(0, 256, 32, dtype=np.uint8).tobytes(), 100)
                 for _ in range(8)] for _ in range(args.queries)]
    real_ids = list(CaseImage.objects.filter(case=archive).order_by("id").values_list("id", flat=True)[:args.real])
    stored = ImageFingerprint.objects.filter(team=team).count()
    row: dict[str, Any] = {"stored_hashes": stored, "exclude_case": args.exclude_case,
                           "reshared": _measure(team, reshared_q, exclude), "fresh_real": _measure(team, fresh_q, exclude),
                           "random": _measure(team, random_q, exclude)}
    row["reshared"]["found_original"] = sum(any(image_id == real_ids[i] for image_id, _ in hits)
                                            for i, hits in enumerate(row["reshared"]["hits"]))
    for kind in ("reshared", "fresh_real", "random"):
        row[kind].pop("hits")
    row["candidates_per_query"] = {
        "reshared_median": float(np.median([_candidates(team, q) for q in reshared_q[:30]])),
        "fresh_real_median": float(np.median([_candidates(team, q) for q in fresh_q[:30]])),
        "random_median": float(np.median([_candidates(team, q) for q in random_q[:30]]))}
    row["plan"] = _plan(team, reshared_q[0], exclude)
    row["meta"] = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                   "command": " ".join(sys.argv),
                   "machine": f"{platform.machine()} 2-core VM shared with other engineers' jobs"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(row, indent=1))
    print(json.dumps({k: v for k, v in row.items() if k != "plan"}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "unsplash-gemini"))
    ap.add_argument("--real", type=int, default=200, help="real images stored in the archive")
    ap.add_argument("--queries", type=int, default=100, help="queries of each kind per level")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    ap.add_argument("--exclude-case", action="store_true",
                    help="exclude the incoming case in the query (a join on the image table; intake needs none)")
    ap.add_argument("--loaded-queries", type=int, default=100, help="--queries of the run that loaded the archive")
    ap.add_argument("--measure-only", action="store_true",
                    help="keep the archive loaded by an earlier run and only measure (levels ignored)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Run this on PostgreSQL: set DATABASE_URL to a database of its own (see the docstring).")
    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    nprng = np.random.default_rng(args.seed)
    user_model = django.contrib.auth.get_user_model()  # type: ignore[attr-defined]
    if args.measure_only:
        return measure_only(args)
    with transaction.atomic():
        FingerprintKey.objects.all().delete()
        ImageFingerprint.objects.all().delete()
        CaseImage.objects.all().delete()
        Case.objects.all().delete()
        team, _ = Team.objects.get_or_create(name="Bench desk")
        user, _ = user_model.objects.get_or_create(username="bench")
        archive = Case.objects.create(team=team, title="archive", created_by=user)
        incoming = Case.objects.create(team=team, title="incoming", created_by=user)

    samples = rng.sample(load_samples(args.data), args.real + args.queries)
    stored_samples, fresh_samples = samples[:args.real], samples[args.real:]
    print("hashing real images", flush=True)
    real_values, reshared_q, fresh_q = [], [], []
    for s in stored_samples:
        raw = s.read_bytes()
        real_values += [h.value for h in phash.archive_hashes(Image.open(io.BytesIO(raw)))]
        reshared_q.append(phash.query_hashes(Image.open(io.BytesIO(reshare.social_chain(raw)))))
    for s in fresh_samples:
        fresh_q.append(phash.query_hashes(Image.open(io.BytesIO(s.read_bytes()))))
    random_q = [[phash.PerceptualHash(nprng.integers(0, 256, 32, dtype=np.uint8).tobytes(), 100)
                 for _ in range(8)] for _ in range(args.queries)]
    exclude = incoming.pk if args.exclude_case else None
    real_ids = _bulk_images(archive, args.real)
    _bulk_hashes(team, real_ids, np.frombuffer(b"".join(real_values), dtype=np.uint8).reshape(-1, 32))
    results: dict[str, Any] = {"levels": {}}
    stored = len(real_values)
    for level in args.levels:
        add = level - stored
        if add > 0:
            t0 = time.time()
            images = add // PER_IMAGE
            ids = _bulk_images(archive, images)
            _bulk_hashes(team, ids, nprng.integers(0, 256, (images * PER_IMAGE, 32), dtype=np.uint8))
            stored += images * PER_IMAGE
            print(f"loaded {stored} hashes in {time.time() - t0:.0f}s", flush=True)
        reshared_q_sample = reshared_q[:args.queries]
        row = {"stored_hashes": stored, "exclude_case": args.exclude_case,
               "reshared": _measure(team, reshared_q_sample, exclude),
               "fresh_real": _measure(team, fresh_q, exclude),
               "random": _measure(team, random_q, exclude),
               "candidates_per_query": {
                   "reshared_median": float(np.median([_candidates(team, q) for q in reshared_q_sample[:30]])),
                   "fresh_real_median": float(np.median([_candidates(team, q) for q in fresh_q[:30]])),
                   "random_median": float(np.median([_candidates(team, q) for q in random_q[:30]]))}}
        found = sum(any(image_id == real_ids[i] for image_id, _ in hits)
                    for i, hits in enumerate(row["reshared"]["hits"]))
        row["reshared"]["found_original"] = found
        for kind in ("reshared", "fresh_real", "random"):
            row[kind].pop("hits")
        results["levels"][str(level)] = row
        print(json.dumps({level: {k: (v if not isinstance(v, dict) else {kk: vv for kk, vv in v.items()
                                                                          if kk in ("p50_ms", "p95_ms", "server_exec_p95_ms", "client_cpu_p95_ms",
                                                                                    "found_original")})
                                  for k, v in row.items()}}), flush=True)
    results["plan_at_largest"] = _plan(team, reshared_q[0], exclude)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_size_pretty(pg_total_relation_size('verification_fingerprintkey')), "
                    "pg_size_pretty(pg_total_relation_size('verification_imagefingerprint'))")
        keys_size, fp_size = cur.fetchone()
    results["storage"] = {"fingerprintkey_with_index": keys_size, "imagefingerprint": fp_size}
    results["meta"] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
        "machine": f"{platform.machine()} 2-core VM shared with other engineers' jobs",
        "database": connection.cursor().connection.info.server_version, "real_images": args.real,
        "hashes_per_image": PER_IMAGE, "chunks": phash.CHUNKS, "chunk_bits": phash.CHUNK_BITS,
        "max_distance": phash.MAX_DISTANCE, "probe_radius": phash.PROBE_RADIUS,
        "variants_per_query": 8, "probe_keys_per_query": len(phash.probe_keys([h.value for h in reshared_q[0]]))}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
