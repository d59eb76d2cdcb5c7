"""The near-duplicate index over the team's fingerprints: writing an image's hashes and finding the
stored ones within ml.phash.MAX_DISTANCE of a query, on PostgreSQL and SQLite alike.

Multi-index hashing (see ml.phash): each stored hash keeps its 16 chunks of 16 bits in columns
``c0``..``c15``, each indexed on (team, chunk). A lookup is one statement: for every chunk, the
stored hashes of the team whose chunk is within one bit of a query's chunk (an index probe per
value), all chunks together by ``UNION ALL``. By pigeonhole every hash within 31 bits of a query
is among them.

On PostgreSQL the index of each chunk also carries the hash as four 64-bit words and the image
(models.archive.COVERED), the Hamming distance is computed in the statement (``bit_count`` of the
XOR of the words) and only hashes within ``max_distance`` come back: an index-only lookup whose
answer is the matches. SQLite has no ``bit_count``: there the candidates come back and get the
exact check here; its archives are the embedded default's, small ones.

Nothing here scans the table. Writes are called by services (archive_remember); reads by services
and selectors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from ml import phash

from .models import CaseImage, ImageFingerprint

WORDS = 4


@dataclass(frozen=True)
class Hit:
    image_id: int
    distance: int
    variant: str  # the query variant (ml.phash.DIHEDRAL name) that came closest


def words(value: bytes) -> list[int]:
    """A 256-bit hash as four signed 64-bit integers, most significant first (what ``w0``..``w3``
    hold: PostgreSQL's bigint is signed)."""
    return [int.from_bytes(value[i:i + 8], "big", signed=True) for i in range(0, phash.HASH_BYTES, 8)]


def columns(value: bytes) -> dict[str, int]:
    """The word and chunk columns of an ImageFingerprint holding ``value``."""
    return {**{f"w{i}": w for i, w in enumerate(words(value))},
            **{f"c{i}": c for i, c in enumerate(phash.chunks(value))}}


def store(*, items: Sequence[tuple[CaseImage, Sequence[phash.PerceptualHash]]], team_id: int) -> None:
    """Keep each image's hashes (ml.phash.archive_hashes) with their words and chunks: one insert
    for any number of images."""
    rows: list[dict[str, Any]] = [
        {"image_id": image.pk, "team_id": team_id, "variant": i, "value": h.value, "quality": h.quality,
         **columns(h.value)} for image, hashes in items for i, h in enumerate(hashes)]
    if not rows:
        return
    # One executemany rather than bulk_create: with 25 columns, SQLite's limit of bound parameters
    # would split a case of a dozen images into several statements; intake costs a fixed number.
    names = list(rows[0])
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {ImageFingerprint._meta.db_table} ({', '.join(names)}) "
                           f"VALUES ({', '.join(['%s'] * len(names))})", [[row[n] for n in names] for row in rows])


def lookup_sql(*, team_id: int, values: Sequence[bytes], exclude_case_id: int | None = None,
               max_distance: int = phash.MAX_DISTANCE) -> tuple[str, list[Any]]:
    """The one statement of a lookup for these query hashes: (sql, params). It returns rows
    (image_id, n, w0, w1, w2, w3): a stored hash whose chunk is within the probe radius of query
    hash ``values[n]``'s chunk in the same position. On PostgreSQL only the rows within
    ``max_distance`` of ``values[n]`` come back (the distance to that one query hash, 4 popcounts);
    on SQLite every candidate."""
    table = ImageFingerprint._meta.db_table
    postgres = connection.vendor == "postgresql"
    # Per chunk position, the (chunk value, query number) pairs to probe.
    probe_values, numbers = phash.probe_pairs(values, max_distance=max_distance)
    columns = "f.image_id, q.n, f.w0, f.w1, f.w2, f.w3"
    branches, params = [], []
    for pos in range(phash.CHUNKS):
        if postgres:
            # A nested loop: one index-only probe of (team, chunk) per pair.
            branch = (f"SELECT {columns} FROM unnest(%s::integer[], %s::integer[]) AS q(chunk, n) "
                      f"JOIN {table} f ON f.team_id = %s AND f.c{pos} = q.chunk")
            params += [probe_values[pos].tolist(), numbers[pos].tolist(), team_id]
        else:
            # One JSON parameter: a case of many images probes more values than SQLite's limit of
            # bound parameters. Each pair is one integer, n above the chunk's bits (a flat list of
            # numbers encodes and parses several times faster than a list of pairs). CROSS JOIN
            # fixes the loop order (SQLite's planner otherwise puts the team's fingerprints outside
            # and scans every probe for each of them): one index probe of (team, chunk) per pair,
            # as on PostgreSQL.
            branch = (f"SELECT {columns} FROM (SELECT value & {(1 << phash.CHUNK_BITS) - 1} AS chunk, "
                      f"value >> {phash.CHUNK_BITS} AS n FROM json_each(%s)) AS q "
                      f"CROSS JOIN {table} f ON f.team_id = %s AND f.c{pos} = q.chunk")
            packed = (numbers[pos] << phash.CHUNK_BITS) | probe_values[pos]
            params += [json.dumps(packed.tolist(), separators=(",", ":")), team_id]
        branches.append(branch)
    sql = "SELECT * FROM (" + " UNION ALL ".join(branches) + ") AS candidate"
    where = []
    if postgres:
        distance = " + ".join(f"bit_count((w{i} # (%s::bigint[])[n + 1])::bit(64))" for i in range(WORDS))
        where.append(f"{distance} <= %s")
        all_words = [words(value) for value in values]
        params += [[w[i] for w in all_words] for i in range(WORDS)] + [max_distance]
    if exclude_case_id is not None:
        where.append(f"image_id NOT IN (SELECT id FROM {CaseImage._meta.db_table} WHERE case_id = %s)")
        params.append(exclude_case_id)
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql, params


def _as_int(row_words: Sequence[int]) -> int:
    out = 0
    for w in row_words:
        out = out << 64 | (w & 0xFFFF_FFFF_FFFF_FFFF)
    return out


def execute(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run a lookup statement (or an EXPLAIN of one) as the lookup does; its rows."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(sql, params)
            return cursor.fetchall()
        # A parallel plan costs more to start its workers (~10-30 ms here) than the index probes
        # take; parallelism is turned off for this statement only.
        with transaction.atomic(using=connection.alias):
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            cursor.execute(sql, params)
            return cursor.fetchall()


def lookup_many(*, team_id: int, queries: Sequence[Sequence[phash.PerceptualHash]],
                exclude_case_id: int | None = None, max_distance: int = phash.MAX_DISTANCE) -> list[list[Hit]]:
    """For each query (the dihedral variants of ml.phash.query_hashes, in ml.phash.DIHEDRAL order):
    the team's images with a stored hash within ``max_distance`` of one variant, nearest first, one
    hit per image. One statement for all of them (lookup_sql)."""
    which = [(qi, vi) for qi, variants in enumerate(queries) for vi in range(len(variants))]
    values = [h.value for variants in queries for h in variants]
    if not values:
        return [[] for _ in queries]
    ints = [int.from_bytes(v, "big") for v in values]
    best: list[dict[int, Hit]] = [{} for _ in queries]
    for image_id, n, *row_words in execute(*lookup_sql(team_id=team_id, values=values,
                                                        exclude_case_id=exclude_case_id, max_distance=max_distance)):
        # A hash close to the query usually shares several chunks: it comes back once per chunk.
        d = (_as_int(row_words) ^ ints[n]).bit_count()
        qi, vi = which[n]
        if d <= max_distance and (image_id not in best[qi] or d < best[qi][image_id].distance):
            best[qi][image_id] = Hit(image_id=image_id, distance=d, variant=phash.DIHEDRAL[vi % 8])
    return [sorted(found.values(), key=lambda h: (h.distance, -h.image_id)) for found in best]


def lookup(*, team_id: int, queries: Sequence[phash.PerceptualHash], exclude_case_id: int | None = None,
           max_distance: int = phash.MAX_DISTANCE) -> list[Hit]:
    """:func:`lookup_many` for one image."""
    return lookup_many(team_id=team_id, queries=[queries], exclude_case_id=exclude_case_id,
                       max_distance=max_distance)[0]
