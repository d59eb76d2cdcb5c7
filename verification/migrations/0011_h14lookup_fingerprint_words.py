"""Issue 14, lookup at 10^6: an ImageFingerprint keeps its hash as four signed 64-bit words and
sixteen 16-bit chunks, each chunk indexed on (team, chunk) and, on PostgreSQL, covering the words
and the image; the FingerprintKey table (one row per chunk) goes. Existing rows are filled from
``value``; reversing refills FingerprintKey from it."""

from django.db import migrations, models

CHUNKS, WORDS = 16, 4
COVERED = ("w0", "w1", "w2", "w3", "image")


def _chunks(value: bytes) -> list[int]:
    return [int.from_bytes(value[i:i + 2], "big") for i in range(0, 32, 2)]


def fill_columns(apps, schema_editor):
    fingerprint = apps.get_model("verification", "ImageFingerprint")
    rows = list(fingerprint.objects.using(schema_editor.connection.alias).only("pk", "value"))
    for row in rows:
        value = bytes(row.value)
        for i in range(WORDS):
            setattr(row, f"w{i}", int.from_bytes(value[8 * i:8 * i + 8], "big", signed=True))
        for i, c in enumerate(_chunks(value)):
            setattr(row, f"c{i}", c)
    fingerprint.objects.using(schema_editor.connection.alias).bulk_update(
        rows, [f"w{i}" for i in range(WORDS)] + [f"c{i}" for i in range(CHUNKS)], batch_size=500)


def fill_keys(apps, schema_editor):
    fingerprint = apps.get_model("verification", "ImageFingerprint")
    key = apps.get_model("verification", "FingerprintKey")
    alias = schema_editor.connection.alias
    key.objects.using(alias).bulk_create([
        key(fingerprint_id=row.pk, team_id=row.team_id, key=pos << 16 | c)
        for row in fingerprint.objects.using(alias).only("pk", "team_id", "value")
        for pos, c in enumerate(_chunks(bytes(row.value)))], batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ("verification", "0010_merge_20261126_1350"),
    ]

    operations = [
        *[migrations.AddField(model_name="imagefingerprint", name=f"w{i}", field=models.BigIntegerField(default=0))
          for i in range(WORDS)],
        *[migrations.AddField(model_name="imagefingerprint", name=f"c{i}", field=models.IntegerField(default=0))
          for i in range(CHUNKS)],
        migrations.RunPython(fill_columns, migrations.RunPython.noop),
        *[migrations.AddIndex(model_name="imagefingerprint", index=models.Index(
            fields=["team", f"c{i}"], include=COVERED, name=f"fingerprint_chunk_{i}")) for i in range(CHUNKS)],
        migrations.RunPython(migrations.RunPython.noop, fill_keys),
        migrations.DeleteModel(name="FingerprintKey"),
    ]
