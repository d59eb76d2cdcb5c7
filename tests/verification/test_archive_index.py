"""The near-duplicate index (issue 14, lookup at 10^6): word and chunk columns, one statement per
lookup, the pigeonhole guarantee at the threshold, the team boundary, and on PostgreSQL a plan
that probes the chunk indexes instead of scanning the table."""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.db import connection

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
def test_a_case_can_be_left_out_and_many_images_take_one_statement(cases, people, django_assert_num_queries):
    rng = random.Random(13)
    a, b = rng.getrandbits(256), rng.getrandbits(256)
    other = Case.objects.create(team=people["team"], title="other", created_by=people["owner"])
    in_ours, in_other = _remember(cases["ours"], "a", a), _remember(other, "b", b)
    with django_assert_num_queries(1):
        hits = archive_index.lookup_many(team_id=cases["ours"].team_id, queries=[_query(a), _query(b)])
    assert [[h.image_id for h in found] for found in hits] == [[in_ours.pk], [in_other.pk]]
    hits = archive_index.lookup_many(team_id=cases["ours"].team_id, queries=[_query(a), _query(b)],
                                     exclude_case_id=other.pk)
    assert [[h.image_id for h in found] for found in hits] == [[in_ours.pk], []]


@pytest.mark.django_db
def test_on_postgresql_the_lookup_probes_the_chunk_indexes_and_filters_by_distance_in_sql(cases):
    if connection.vendor != "postgresql":
        pytest.skip("the plan and the distance in SQL are PostgreSQL's")
    rng = random.Random(17)
    image = _image(cases["ours"], "many")
    # Enough rows that a table scan would be the planner's choice if the indexes did not serve.
    values = [rng.getrandbits(256) for _ in range(5000)]
    ImageFingerprint.objects.bulk_create([
        ImageFingerprint(image=image, team_id=cases["ours"].team_id, variant=i, value=_value(v), quality=100,
                         **archive_index.columns(_value(v))) for i, v in enumerate(values)], batch_size=1000)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {ImageFingerprint._meta.db_table}")
        sql, params = archive_index.lookup_sql(team_id=cases["ours"].team_id,
                                               values=[h.value for h in _query(values[0])])
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    assert "Seq Scan" not in plan
    assert all(f"fingerprint_chunk_{i}" in plan for i in range(phash.CHUNKS))
    # Only the match comes back (16 times: every chunk of it is equal), no other candidate.
    assert len(rows) == phash.CHUNKS and all(archive_index._as_int(r[1:]) == values[0] for r in rows)
