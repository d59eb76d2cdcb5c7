"""The append-only audit history, chained per team so that an altered or deleted row is found."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import models, router, transaction
from django.utils import timezone

from .. import auditchain
from .cases import Case
from .teams import Team


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):  # type: ignore[override]
        raise PermissionError("The audit history is append-only.")

    def delete(self):  # type: ignore[override]
        raise PermissionError("The audit history is append-only.")

    def bulk_create(self, objs: Iterable[AuditEvent], *args: Any, **kwargs: Any) -> list[AuditEvent]:  # type: ignore[override]
        """Insert events with their links: the chain holds for batch recording too."""
        objs = list(objs)
        if not objs:
            return objs
        db = router.db_for_write(self.model)
        with transaction.atomic(using=db):
            chain_append(objs, using=db)
            return super().bulk_create(objs, *args, **kwargs)


class AuditChainHead(models.Model):
    """The last link of one chain. Its row is locked while events are appended, so that two
    concurrent writers never both take the same ``seq`` and fork the chain; it also records the
    length, which is how a deleted *last* event is found."""

    key = models.CharField(max_length=32, unique=True)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=auditchain.GENESIS)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key} #{self.seq} {self.hash[:12]}"


class AuditEvent(models.Model):
    """An append-only record of one action. Written in the same transaction as the change."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    # Who acted, as a copy: hashed, and still shown after the user is deleted.
    actor_name = models.CharField(max_length=150, blank=True, default="")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events")
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    details = models.JSONField(default=dict, blank=True)
    # Set before the insert (not auto_now_add) because the hash covers it.
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    chain = models.CharField(max_length=32, default="", editable=False)
    seq = models.PositiveBigIntegerField(default=0, editable=False)
    prev_hash = models.CharField(max_length=64, default="", editable=False)
    hash = models.CharField(max_length=64, default="", editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A second writer that somehow read a stale head fails here instead of forking the chain.
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_chain_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):  # type: ignore[override]
        if self.pk is not None and not self._state.adding:
            raise PermissionError("The audit history is append-only.")
        db = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=db):
            chain_append([self], using=db)
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[override]
        raise PermissionError("The audit history is append-only.")

    def computed_hash(self) -> str:
        return auditchain.event_hash(
            prev_hash=self.prev_hash, chain=self.chain, seq=self.seq, created_at=self.created_at,
            action=self.action, actor_name=self.actor_name, case_id=self.case_id, object_type=self.object_type,
            object_id=self.object_id, details=self.details)


def chain_append(events: Sequence[AuditEvent], *, using: str) -> None:
    """Give unsaved events their place in their chains and their hashes, and move the heads.
    Call inside the transaction that inserts them: the heads stay locked until it commits."""
    by_chain: dict[str, list[AuditEvent]] = {}
    for e in events:
        if e.actor_id is not None and not e.actor_name:
            e.actor_name = e.actor.get_username() if e.actor else ""
        by_chain.setdefault(auditchain.chain_key(e.team_id), []).append(e)
    heads = AuditChainHead.objects.using(using)
    # Chains in a fixed order, so two transactions that touch the same chains cannot deadlock.
    for key in sorted(by_chain):
        heads.get_or_create(key=key)
        # Row lock on PostgreSQL; SQLite runs write transactions one at a time (IMMEDIATE mode).
        head = heads.select_for_update().get(key=key)
        seq, prev = head.seq, head.hash
        for e in by_chain[key]:
            seq += 1
            e.chain, e.seq, e.prev_hash = key, seq, prev
            e.created_at = e.created_at or timezone.now()
            e.hash = prev = e.computed_hash()
        heads.filter(pk=head.pk).update(seq=seq, hash=prev, updated_at=timezone.now())
