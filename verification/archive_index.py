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

from django.db import connection

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
    ImageFingerprint.objects.bulk_create([
        ImageFingerprint(image=image, team_id=team_id, variant=i, value=h.value, quality=h.quality,
                         **columns(h.value))
        for image, hashes in items for i, h in enumerate(hashes)])


def _distance_sql(n_queries: int) -> str:
    """The smallest Hamming distance between a row's words and ``n_queries`` query hashes (4
    parameters each), in PostgreSQL."""
    one = " + ".join(f"bit_count((w{i} # %s::bigint)::bit(64))" for i in range(WORDS))
    return one if n_queries == 1 else "LEAST(" + ", ".join(f"({one})" for _ in range(n_queries)) + ")"


def lookup_sql(*, team_id: int, values: Sequence[bytes], exclude_case_id: int | None = None,
               max_distance: int = phash.MAX_DISTANCE) -> tuple[str, list[Any]]:
    """The one statement of a lookup for these query hashes: (sql, params). It returns
    (image_id, w0, w1, w2, w3) rows: on PostgreSQL only those within ``max_distance`` of a query,
    on SQLite every candidate."""
    table = ImageFingerprint._meta.db_table
    probes = phash.probe_chunks(values, max_distance=max_distance)
    postgres = connection.vendor == "postgresql"
    branches, params = [], []
    for pos, chunk_values in enumerate(probes):
        if postgres:
            branches.append(f"SELECT image_id, w0, w1, w2, w3 FROM {table} "
                            f"WHERE team_id = %s AND c{pos} = ANY(%s::integer[])")
            params += [team_id, chunk_values]
        else:
            # One JSON parameter per chunk: a case of many images probes more values than SQLite's
            # bound-parameter limit.
            branches.append(f"SELECT image_id, w0, w1, w2, w3 FROM {table} WHERE team_id = %s "
                            f"AND c{pos} IN (SELECT value FROM json_each(%s))")
            params += [team_id, json.dumps(chunk_values)]
    sql = "SELECT image_id, w0, w1, w2, w3 FROM (" + " UNION ALL ".join(branches) + ") AS candidate"
    where = []
    if postgres:
        where.append(f"{_distance_sql(len(values))} <= %s")
        params += [w for value in values for w in words(value)] + [max_distance]
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


def lookup_many(*, team_id: int, queries: Sequence[Sequence[phash.PerceptualHash]],
                exclude_case_id: int | None = None, max_distance: int = phash.MAX_DISTANCE) -> list[list[Hit]]:
    """For each query (the dihedral variants of ml.phash.query_hashes, in ml.phash.DIHEDRAL order):
    the team's images with a stored hash within ``max_distance`` of one variant, nearest first, one
    hit per image. One statement for all of them (lookup_sql)."""
    values = [h.value for variants in queries for h in variants]
    if not values:
        return [[] for _ in queries]
    sql, params = lookup_sql(team_id=team_id, values=values, exclude_case_id=exclude_case_id,
                             max_distance=max_distance)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # A hash close to the query usually shares several chunks: it comes back once per chunk.
        stored = {(image_id, _as_int(row_words)) for image_id, *row_words in cursor.fetchall()}
    out: list[list[Hit]] = []
    for variants in queries:
        best: dict[int, Hit] = {}
        ints = [int.from_bytes(q.value, "big") for q in variants]
        for image_id, value in stored:
            for i, q in enumerate(ints):
                d = (value ^ q).bit_count()
                if d <= max_distance and (image_id not in best or d < best[image_id].distance):
                    best[image_id] = Hit(image_id=image_id, distance=d, variant=phash.DIHEDRAL[i % 8])
        out.append(sorted(best.values(), key=lambda h: (h.distance, -h.image_id)))
    return out


def lookup(*, team_id: int, queries: Sequence[phash.PerceptualHash], exclude_case_id: int | None = None,
           max_distance: int = phash.MAX_DISTANCE) -> list[Hit]:
    """:func:`lookup_many` for one image."""
    return lookup_many(team_id=team_id, queries=[queries], exclude_case_id=exclude_case_id,
                       max_distance=max_distance)[0]
