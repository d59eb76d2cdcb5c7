"""The tamper-evident audit history: every event links to the one before it in its team's chain, and
verify_audit finds an edited, a deleted or a smuggled-in row."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from verification import auditchain, services
from verification.audit_integrity import verify_all
from verification.models import AuditChainHead, AuditEvent


def _verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def _broken() -> str:
    out = StringIO()
    with pytest.raises(CommandError, match="altered"):
        call_command("verify_audit", stdout=out)
    return out.getvalue()


@pytest.fixture
def history(make_case, crew):  # type: ignore[no-untyped-def]
    """A case of three images (submission, batch-recorded analyses) reviewed by the owner."""
    case = make_case("Harbour fire", labels=("ai_generated", "real", "ai_generated"))
    services.review_record(user=crew["owner"], image=case.images.first(), verdict="real", comment="Known agency photo")
    return case


def test_events_form_one_chain_per_team_linked_by_hashes(history, crew) -> None:
    team_events = list(AuditEvent.objects.filter(team=crew["team"]).order_by("seq"))
    assert [e.seq for e in team_events] == list(range(1, len(team_events) + 1))
    assert team_events[0].prev_hash == auditchain.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(team_events, team_events[1:]))
    assert {e.chain for e in team_events} == {f"team:{crew['team'].pk}"}
    # Batch recording (bulk inserts of analysis.started / analysis.done) is chained too.
    assert [e.action for e in team_events].count("analysis.done") == 3
    head = AuditChainHead.objects.get(key=f"team:{crew['team'].pk}")
    assert (head.seq, head.hash) == (team_events[-1].seq, team_events[-1].hash)
    assert "All" in _verify()


def test_verify_audit_catches_an_edited_row(history) -> None:
    victim = AuditEvent.objects.filter(action__startswith="review").get()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=victim.pk).update(details={})
    with connection.cursor() as cur:  # an attacker with database access, past the model's guard
        cur.execute(f"UPDATE {AuditEvent._meta.db_table} SET details = %s WHERE id = %s",
                    ['{"verdict": "ai_generated"}', victim.pk])
    out = _broken()
    assert f"event id {victim.pk} (#{victim.seq}, {victim.action}) was altered" in out


def test_verify_audit_catches_an_edit_with_a_recomputed_hash(history) -> None:
    victim = AuditEvent.objects.filter(action__startswith="analysis.done").order_by("seq").first()
    assert victim is not None
    forged = AuditEvent.objects.get(pk=victim.pk)
    forged.details = {**forged.details, "label": "real"}
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {AuditEvent._meta.db_table} SET details = %s, hash = %s WHERE id = %s",
                    ['{"label": "real"}', forged.computed_hash(), victim.pk])
    assert "does not link to the event before it" in _broken()


def test_verify_audit_catches_a_deleted_row(history) -> None:
    victim = AuditEvent.objects.filter(action="analysis.started").order_by("seq")[1]
    with pytest.raises(PermissionError):
        victim.delete()
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE id = %s", [victim.pk])
    out = _broken()
    assert f"event #{victim.seq} is missing" in out


def test_verify_audit_catches_a_deleted_last_row(history) -> None:
    last = AuditEvent.objects.exclude(team=None).order_by("-seq").first()
    assert last is not None
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE id = %s", [last.pk])
    assert f"the last events (#{last.seq}..#{last.seq}) are missing" in _broken()


def test_events_without_a_team_form_their_own_chain(history, crew) -> None:
    from verification.audit import record_event

    first = record_event(action="model.registered", obj=crew["team"], actor=crew["owner"])
    second = record_event(action="model.promoted", obj=crew["team"], actor=crew["owner"])
    assert (first.chain, first.seq, first.prev_hash) == ("global", 1, auditchain.GENESIS)
    assert (second.seq, second.prev_hash, second.actor_name) == (2, first.hash, "owner")
    assert all(r.ok for r in verify_all())


def test_a_deleted_user_does_not_break_the_chain(history, crew) -> None:
    from verification.audit import record_event

    record_event(action="team.note", obj=crew["team"], actor=crew["teammate"], team=crew["team"])
    crew["teammate"].delete()  # the database nulls actor_id; the hashed copy of the name stays
    assert AuditEvent.objects.filter(actor_name="teammate", actor=None).exists()
    assert all(r.ok for r in verify_all())


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_do_not_fork_a_chain(teams, django_user_model) -> None:
    from django.db import transaction

    from verification.audit import record_event

    team = teams[0]
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(5):
                with transaction.atomic():
                    record_event(action="test.concurrent", obj=team, team=team, details={"writer": n, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(AuditEvent.objects.filter(team=team).values_list("seq", flat=True)) == list(range(1, 16))
    assert all(r.ok for r in verify_all())
