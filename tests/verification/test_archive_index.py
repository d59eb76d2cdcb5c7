"""The near-duplicate index (issue 14, lookup at 10^6): word and chunk columns, one statement per
lookup, the pigeonhole guarantee at the threshold, the team boundary, and on PostgreSQL a plan
that probes the chunk indexes instead of scanning the table."""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ml import phash
from verification import archive_index
from verification.models import Case, CaseImage, ImageFingerprint

CHUNK = phash.CHUNK_BITS


def _value(n: int) -> bytes:
    return n.to_bytes(phash.HASH_BYTES, "big")


def _flip(n: int, bits_per_chunk: list[int]) -> int:
    """``n`` with ``bits_per_chunk[pos]`` distinct bits flipped inside chunk ``pos`` (0 = most
    significant)."""
    rng = random.Random(n % 1000)
    for pos, k in enumerate(bits_per_chunk):
        base = (phash.CHUNKS - 1 - pos) * CHUNK
        for bit in rng.sample(range(CHUNK), k):
            n ^= 1 << (base + bit)
    return n


def _image(case: Case, name: str) -> CaseImage:
    return CaseImage.objects.create(case=case, file=name, sha256=name.ljust(64, "0"), original_name=name,
                                    format="JPEG", width=64, height=64, size_bytes=1)


def _remember(case: Case, name: str, value: int) -> CaseImage:
    image = _image(case, name)
    archive_index.store(items=[(image, [phash.PerceptualHash(_value(value), 100)])], team_id=case.team_id)
    return image


def _query(value: int) -> list[phash.PerceptualHash]:
    """The lookup of one image: its own hash first (``original``), then seven unrelated variants."""
    rng = random.Random(value % 997)
    return [phash.PerceptualHash(_value(value), 100)] + [
        phash.PerceptualHash(_value(rng.getrandbits(256)), 100) for _ in range(7)]


@pytest.fixture
def cases(people) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"ours": Case.objects.create(team=people["team"], title="ours", created_by=people["owner"]),
            "theirs": Case.objects.create(team=people["other_team"], title="theirs", created_by=people["outsider"])}


def test_words_hold_the_hash_as_signed_64_bit_integers():
    value = _value((1 << 255) | 5)
    cols = archive_index.columns(value)
    assert cols["w0"] == -(1 << 63) and cols["w3"] == 5 and cols["c0"] == 0x8000 and cols["c15"] == 5
    assert archive_index._as_int([cols[f"w{i}"] for i in range(4)]) == int.from_bytes(value, "big")


@pytest.mark.django_db
def test_the_stored_row_keeps_words_and_chunks(cases):
    base = random.Random(3).getrandbits(256)
    image = _remember(cases["ours"], "a", base)
    row = ImageFingerprint.objects.get(image=image)
    assert {f: getattr(row, f) for f in archive_index.columns(_value(base))} == archive_index.columns(_value(base))


@pytest.mark.django_db
def test_at_31_bits_spread_over_every_chunk_the_hash_is_found_and_at_32_it_never_is(cases):
    rng = random.Random(7)
    base = rng.getrandbits(256)
    # 31 bits: one chunk differs in one bit, the fifteen others in two, so only that one chunk's
    # one-bit probe can find it (pigeonhole at its tightest).
    at_31 = _remember(cases["ours"], "thirty-one", _flip(base, [2] * 7 + [1] + [2] * 8))
    # 32 bits, two in every chunk: no chunk is within a bit, the index cannot and must not find it.
    _remember(cases["ours"], "thirty-two", _flip(base, [2] * 16))
    # 40 bits in three chunks: thirteen chunks equal, so it is a candidate, but too far to match.
    _remember(cases["ours"], "forty", _flip(base, [16, 16, 8] + [0] * 13))
    hits = archive_index.lookup(team_id=cases["ours"].team_id, queries=_query(base))
    assert [(h.image_id, h.distance, h.variant) for h in hits] == [(at_31.pk, 31, "original")]


@pytest.mark.django_db
def test_every_hash_within_the_threshold_is_found_nearest_first(cases):
    rng = random.Random(11)
    base = rng.getrandbits(256)
    near = [_remember(cases["ours"], f"near{d}", _flip(base, [1] * d + [0] * (16 - d))) for d in (0, 5, 16)]
    hits = archive_index.lookup(team_id=cases["ours"].team_id, queries=_query(base))
    assert [(h.image_id, h.distance) for h in hits] == [(near[0].pk, 0), (near[1].pk, 5), (near[2].pk, 16)]


@pytest.mark.django_db
def test_another_teams_identical_hash_is_never_returned(cases):
    base = random.Random(5).getrandbits(256)
    theirs = _remember(cases["theirs"], "theirs", base)
    ours = _remember(cases["ours"], "ours", _flip(base, [1] + [0] * 15))
    assert [h.image_id for h in archive_index.lookup(team_id=cases["ours"].team_id, queries=_query(base))] == [ours.pk]
    assert [h.image_id for h in archive_index.lookup(team_id=cases["theirs"].team_id,
                                                     queries=_query(base))] == [theirs.pk]


@pytest.mark.django_db
def test_a_case_can_be_left_out_and_many_images_take_one_statement(cases, people):
    rng = random.Random(13)
    a, b = rng.getrandbits(256), rng.getrandbits(256)
    other = Case.objects.create(team=people["team"], title="other", created_by=people["owner"])
    in_ours, in_other = _remember(cases["ours"], "a", a), _remember(other, "b", b)
    with CaptureQueriesContext(connection) as sent:
        hits = archive_index.lookup_many(team_id=cases["ours"].team_id, queries=[_query(a), _query(b)])
    # One SELECT; on PostgreSQL wrapped in a savepoint with a SET LOCAL (no parallel plan).
    assert [q["sql"].split()[0] for q in sent.captured_queries if q["sql"].startswith("SELECT")] == ["SELECT"]
    assert [[h.image_id for h in found] for found in hits] == [[in_ours.pk], [in_other.pk]]
    hits = archive_index.lookup_many(team_id=cases["ours"].team_id, queries=[_query(a), _query(b)],
                                     exclude_case_id=other.pk)
    assert [[h.image_id for h in found] for found in hits] == [[in_ours.pk], []]


def _fill_random(team_id: int, images: list[int], n: int) -> None:
    """``n`` uniformly random hashes, generated by the server (a large archive in a second)."""
    word = "((floor(random() * 4294967296)::bigint << 32) | floor(random() * 4294967296)::bigint)"
    chunks = [f"(w{i // 4} >> {48 - 16 * (i % 4)}) & 65535" for i in range(phash.CHUNKS)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ImageFingerprint._meta.db_table} (image_id, team_id, variant, value, quality, w0, w1, w2, "
            f"w3, {', '.join(f'c{i}' for i in range(phash.CHUNKS))}) "
            f"SELECT (%s::bigint[])[i %% %s + 1], %s, i / %s, "
            f"int8send(w0) || int8send(w1) || int8send(w2) || int8send(w3), 100, w0, w1, w2, w3, {', '.join(chunks)} "
            f"FROM (SELECT i, {word} AS w0, {word} AS w1, {word} AS w2, {word} AS w3 "
            f"FROM generate_series(0, %s - 1) AS i) AS r",
            [images, len(images), team_id, len(images), n])
        cursor.execute(f"ANALYZE {ImageFingerprint._meta.db_table}")


@pytest.mark.django_db
def test_on_postgresql_the_lookup_probes_the_chunk_indexes_and_filters_by_distance_in_sql(cases):
    if connection.vendor != "postgresql":
        pytest.skip("the plan and the distance in SQL are PostgreSQL's")
    team_id = cases["ours"].team_id
    # Enough rows that a table scan would be the planner's choice if the indexes did not serve
    # (below ~20,000 rows scanning is cheaper, and PostgreSQL rightly does).
    _fill_random(team_id, [_image(cases["ours"], f"filler{i}").pk for i in range(5)], 60_000)
    row = ImageFingerprint.objects.filter(team_id=team_id).order_by("pk").first()
    assert row is not None and archive_index.columns(bytes(row.value)) == {
        f: getattr(row, f) for f in archive_index.columns(bytes(row.value))}  # the server's columns agree
    base = random.Random(17).getrandbits(256)
    planted = _remember(cases["ours"], "planted", base)
    sql, params = archive_index.lookup_sql(team_id=team_id, values=[h.value for h in _query(base)])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in cursor.fetchall())
    assert "Seq Scan" not in plan, plan
    assert all(f"fingerprint_chunk_{i} " in plan for i in range(phash.CHUNKS)), plan
    # Only the match comes back (once per chunk: all sixteen are equal), no other candidate.
    rows = archive_index.execute(sql, params)
    assert len(rows) == phash.CHUNKS and {(r[0], r[1], archive_index._as_int(r[2:])) for r in rows} == {
        (planted.pk, 0, base)}


@pytest.mark.django_db
def test_on_sqlite_every_probe_is_an_index_search_of_its_chunk_not_a_scan_per_stored_hash(cases):
    """SQLite's planner, left free, put the team's fingerprints in the outer loop and scanned every
    probe of the statement for each of them (a submission of 20 images against 8 archived ones took
    0.9 s, and it grew with the archive); the probes now drive the loop, one index search each."""
    if connection.vendor != "sqlite":
        pytest.skip("the plan of the embedded default's SQLite")
    team_id = cases["ours"].team_id
    rng = random.Random(23)
    for i in range(20):
        _remember(cases["ours"], f"stored{i}", rng.getrandbits(256))
    base = rng.getrandbits(256)
    planted = _remember(cases["ours"], "planted", base)
    sql, params = archive_index.lookup_sql(team_id=team_id, values=[h.value for h in _query(base)])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        steps = [r[3] for r in cursor.fetchall()]
    searches = [s for s in steps if "USING INDEX fingerprint_chunk_" in s]
    assert sorted(searches) == sorted(f"SEARCH f USING INDEX fingerprint_chunk_{i} (team_id=? AND c{i}=?)"
                                      for i in range(phash.CHUNKS)), steps
    # Each chunk's probes are read first, then its index is searched once per probe.
    for i in range(phash.CHUNKS):
        search = steps.index(f"SEARCH f USING INDEX fingerprint_chunk_{i} (team_id=? AND c{i}=?)")
        assert steps[search - 1].startswith("SCAN json_each"), steps
    hits = archive_index.lookup(team_id=team_id, queries=_query(base))
    assert [h.image_id for h in hits] == [planted.pk]
