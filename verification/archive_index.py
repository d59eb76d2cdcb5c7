"""The near-duplicate index over the team's fingerprints: writing an image's hashes and finding the
stored ones within ml.phash.MAX_DISTANCE of a query, on PostgreSQL and SQLite alike.

Multi-index hashing (see ml.phash): candidates come from exact matches on 16-bit chunk keys, one
index scan on (team, key); only those candidates get the exact Hamming check. Nothing here scans
the table. Writes are called by services (archive_remember); reads by services and selectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

from ml import phash

from .models import CaseImage, FingerprintKey, ImageFingerprint


@dataclass(frozen=True)
class Hit:
    image_id: int
    distance: int
    variant: str  # the query variant (ml.phash.DIHEDRAL name) that came closest


def store(*, items: Sequence[tuple[CaseImage, Sequence[phash.PerceptualHash]]], team_id: int) -> None:
    """Keep each image's hashes (ml.phash.archive_hashes) and their index keys: two inserts for
    any number of images."""
    rows = ImageFingerprint.objects.bulk_create([
        ImageFingerprint(image=image, team_id=team_id, variant=i, value=h.value, quality=h.quality)
        for image, hashes in items for i, h in enumerate(hashes)])
    # One executemany rather than bulk_create: SQLite's parameter limit would split 16 keys per hash
    # into more statements as a case grows, and intake costs a fixed number of queries.
    table = FingerprintKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} (fingerprint_id, team_id, {connection.ops.quote_name('key')}) "
                           "VALUES (%s, %s, %s)",
                           [(row.pk, team_id, key) for row in rows for key in phash.index_keys(bytes(row.value))])


def lookup_many(*, team_id: int, queries: Sequence[Sequence[phash.PerceptualHash]],
                exclude_case_id: int | None = None, max_distance: int = phash.MAX_DISTANCE) -> list[list[Hit]]:
    """For each query (the dihedral variants of ml.phash.query_hashes, in ml.phash.DIHEDRAL order):
    the team's images with a stored hash within ``max_distance`` of one variant, nearest first, one
    hit per image. One query for all of them: candidates by chunk key, then the exact check here."""
    keys = phash.probe_keys([h.value for variants in queries for h in variants], max_distance=max_distance)
    if not keys:
        return [[] for _ in queries]
    candidates = FingerprintKey.objects.filter(team_id=team_id, key__any_of=keys).order_by().values("fingerprint_id")
    if connection.vendor == "postgresql" and exclude_case_id is None:
        # Two steps, so that the planner cannot turn the second into a scan of every fingerprint
        # hashed against the candidates (it did at 10^6: benchmarks/archive.md): the candidate ids
        # from the chunk index, then those rows by primary key.
        ids = sorted(set(candidates.values_list("fingerprint_id", flat=True)))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT image_id, value FROM {ImageFingerprint._meta.db_table} WHERE id = ANY(%s)", [ids])
            found = cursor.fetchall()
    else:
        rows = ImageFingerprint.objects.filter(pk__in=candidates, team_id=team_id).order_by()
        if exclude_case_id is not None:
            rows = rows.exclude(image__case_id=exclude_case_id)
        found = list(rows.values_list("image_id", "value"))
    stored = [(image_id, int.from_bytes(value, "big")) for image_id, value in found]
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
