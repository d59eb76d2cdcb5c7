"""Checking the audit chains: every altered, deleted or inserted row is reported.

Read-only; used by ``python manage.py verify_audit`` and by the signed memo (the chain head)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import auditchain
from .models import AuditChainHead, AuditEvent


@dataclass(frozen=True)
class ChainReport:
    chain: str
    events: int
    head_seq: int
    head_hash: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(key: str) -> ChainReport:
    """Walk one chain in order and recompute every hash."""
    problems: list[str] = []
    expected_seq, prev = 1, auditchain.GENESIS
    count = 0
    for e in AuditEvent.objects.filter(chain=key).order_by("seq").iterator(chunk_size=2000):
        count += 1
        if e.seq != expected_seq:
            missing = (f"#{expected_seq}" if e.seq == expected_seq + 1 else f"#{expected_seq}..#{e.seq - 1}")
            problems.append(f"event {missing} is missing before event id {e.pk} (#{e.seq}): deleted")
        if e.prev_hash != prev:
            problems.append(f"event id {e.pk} (#{e.seq}) does not link to the event before it")
        if e.computed_hash() != e.hash:
            problems.append(f"event id {e.pk} (#{e.seq}, {e.action}) was altered: its hash does not match its fields")
        if e.team_id is not None and auditchain.chain_key(e.team_id) != key:
            problems.append(f"event id {e.pk} (#{e.seq}) was moved to another team")
        prev, expected_seq = e.hash, e.seq + 1
    head = AuditChainHead.objects.filter(key=key).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, auditchain.GENESIS)
    if head is None:
        problems.append("the chain has no head row")
    elif head_seq != expected_seq - 1 or head_hash != prev:
        if head_seq > expected_seq - 1:
            problems.append(f"the last events (#{expected_seq}..#{head_seq}) are missing: deleted")
        else:
            problems.append("the chain head does not match its last event")
    return ChainReport(chain=key, events=count, head_seq=head_seq, head_hash=head_hash, problems=problems)


def verify_all() -> list[ChainReport]:
    """Every chain, plus a pseudo-chain for rows that belong to none (inserted around the chain)."""
    keys = set(AuditChainHead.objects.values_list("key", flat=True))
    keys |= set(AuditEvent.objects.exclude(chain="").values_list("chain", flat=True).distinct())
    reports = [verify_chain(k) for k in sorted(keys)]
    unchained = list(AuditEvent.objects.filter(chain="").values_list("pk", flat=True)[:20])
    if unchained:
        reports.append(ChainReport(chain="(none)", events=len(unchained), head_seq=0, head_hash="", problems=[
            f"event id {pk} is in no chain: inserted without its hash" for pk in unchained]))
    return reports


def chain_head(team_id: int | None) -> tuple[str, int, str]:
    """(chain, seq, hash) of the head of a team's chain as it stands now."""
    key = auditchain.chain_key(team_id)
    head = AuditChainHead.objects.filter(key=key).first()
    return key, (head.seq if head else 0), (head.hash if head else auditchain.GENESIS)
