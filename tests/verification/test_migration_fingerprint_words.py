"""Migration 0011 (issue 14, lookup at 10^6): existing fingerprints get their word and chunk
columns on the way forward, and the FingerprintKey rows come back on the way back."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ml import phash

BEFORE = [("verification", "0010_merge_20261126_1350")]
AFTER = [("verification", "0011_h14lookup_fingerprint_words")]


def _migrate(targets: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_columns_and_reverses_to_chunk_keys(django_user_model):
    from verification import archive_index

    values = [random.Random(i).getrandbits(256).to_bytes(32, "big") for i in range(3)]
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("verification")
    try:
        apps = _migrate(BEFORE)
        user = django_user_model.objects.create_user("migrator")
        team = apps.get_model("verification", "Team").objects.create(name="Desk")
        case = apps.get_model("verification", "Case").objects.create(team=team, title="c", created_by_id=user.pk)
        image = apps.get_model("verification", "CaseImage").objects.create(
            case=case, file="f", sha256="a" * 64, original_name="f.jpg", format="JPEG", width=1, height=1,
            size_bytes=1)
        fingerprint = apps.get_model("verification", "ImageFingerprint")
        for i, v in enumerate(values):
            fingerprint.objects.create(image=image, team=team, variant=i, value=v, quality=90)

        apps = _migrate(AFTER)
        rows = apps.get_model("verification", "ImageFingerprint").objects.order_by("variant")
        assert [{f: getattr(row, f) for f in archive_index.columns(v)} for row, v in zip(rows, values)] == [
            archive_index.columns(v) for v in values]

        apps = _migrate(BEFORE)
        keys = apps.get_model("verification", "FingerprintKey").objects.values_list("fingerprint__variant", "key")
        assert sorted(keys) == sorted((i, pos << 16 | c) for i, v in enumerate(values)
                                      for pos, c in enumerate(phash.chunks(v)))
    finally:
        _migrate(latest)
