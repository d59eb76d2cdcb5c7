"""Jobs a worker holds by beating: the one rule of when such a job is dead, how it is taken back and
sent again, and which jobs the sweeper should look at. Dataset scans (services.dataset_scans) and
training runs (services.training) are both such jobs on the training queue.

A job waits (``waiting``), is claimed by one task (``running``), and the task touches its beat
field while it works. A running job whose beat is older than the dead-after setting lost its
worker: it is taken back (waiting again, audited, sent again) until it has been claimed
``VERITY_TRAINING_MAX_ATTEMPTS`` times, then given up (data or settings that kill the worker every
time would otherwise loop forever). Every change here runs on a row the caller locked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from ..audit import record_event
from ..models import Team

Job = TypeVar("Job", bound=models.Model)


def _nobody(_job: Any) -> bool:
    return False


def _no_team(_job: Any) -> Team | None:
    return None


@dataclass(frozen=True)
class Lease(Generic[Job]):
    """How one kind of job is held: its model, statuses and fields, and what taking it back means
    for it (the callbacks). Each service module declares one (``dataset_scans.LEASE``,
    ``training.LEASE``) and calls it where a task claims, beats, or the sweeper looks."""

    model: type[Job]
    running: str  # status while a task holds the job
    waiting: str  # status while it waits for a task
    beat: str  # the field the holding task touches (and a re-send restarts the wait on)
    attempts: str  # the field that counts the claims
    dead_after: str  # the setting: seconds without a beat after which the task is taken for dead
    requeued: str  # the audit action of a take-back or a re-send
    send: Callable[[int], None]  # enqueue the job's task once the transaction commits
    to_waiting: Callable[[Job], None]  # running -> waiting, saved
    give_up: Callable[[Job], None]  # running -> failed with a message (attempts used up), saved and audited
    settle: Callable[[Job], bool] = _nobody  # finish instead a job that must not run again; True when it did
    team: Callable[[Job], Team | None] = _no_team  # the team its audit events belong to

    def status(self, job: Job) -> str:
        return str(job.status)  # type: ignore[attr-defined]  # both models have one; models.Model does not

    def is_dead(self, job: Job) -> bool:
        beat = getattr(job, self.beat)
        return beat is None or beat < timezone.now() - timedelta(seconds=getattr(settings, self.dead_after))

    def locked(self, pk: int, *, related: tuple[str, ...] = ()) -> Job | None:
        query = self.model._default_manager.select_for_update()
        return (query.select_related(*related) if related else query).filter(pk=pk).first()

    def take_back(self, job: Job, *, reason: str, send: bool) -> None:
        """A running job (locked) whose task is gone: waiting again (and sent when ``send``), or
        given up once it has been claimed VERITY_TRAINING_MAX_ATTEMPTS times."""
        if self.settle(job):
            return
        attempts = getattr(job, self.attempts)
        if attempts >= settings.VERITY_TRAINING_MAX_ATTEMPTS:
            self.give_up(job)
            return
        self.to_waiting(job)
        record_event(action=self.requeued, obj=job, team=self.team(job),
                     details={"reason": reason, "was": self.running, "attempts": attempts})
        if send:
            self.send(job.pk)

    def take_back_if_dead(self, job: Job | None, *, reason: str, also: bool = False) -> None:
        """At a claim: a running job whose task is dead (or ``also``: whose claim is this very task's,
        delivered again after its worker process died) is taken back first, as the sweeper would."""
        if job is not None and self.status(job) == self.running and (also or self.is_dead(job)):
            self.take_back(job, reason=reason, send=False)

    def requeue(self, pk: int, *, reason: str) -> bool:
        """Send a stuck job again (the sweeper), audited: a dead task's job is taken back; a waiting
        one is re-sent (a duplicate of a message that was not lost is harmless: only a waiting job
        is claimed). False when the job no longer needs it."""
        with transaction.atomic():
            job = self.locked(pk)
            if job is None:
                return False
            if self.status(job) == self.running and self.is_dead(job):
                self.take_back(job, reason=reason, send=True)
                return self.status(job) == self.waiting
            if self.status(job) != self.waiting:
                return False
            setattr(job, self.beat, timezone.now())  # restarts the wait before the next re-send
            job.save(update_fields=[self.beat])
            record_event(action=self.requeued, obj=job, team=self.team(job),
                         details={"reason": reason, "was": self.waiting})
            self.send(job.pk)
        return True

    def stuck(self, *, queued_for_s: int, busy: Callable[[], bool] = lambda: False) -> list[int]:
        """Jobs no task seems to handle: running without a beat for the dead-after time (the worker
        died), and waiting for ``queued_for_s`` since last sent (the message was lost) while no
        other job runs and ``busy()`` is false. A busy worker explains a wait; re-sending then
        would only pile duplicate messages behind it."""
        now = timezone.now()
        objects = self.model._default_manager
        running = objects.filter(status=self.running)
        dead_since = now - timedelta(seconds=getattr(settings, self.dead_after))
        stale = set(running.filter(**{f"{self.beat}__lt": dead_since}).values_list("pk", flat=True))
        if not (running.exclude(pk__in=stale).exists() or busy()):
            sent_before = now - timedelta(seconds=queued_for_s)
            stale |= set(objects.filter(status=self.waiting, **{f"{self.beat}__lt": sent_before})
                         .values_list("pk", flat=True))
        return sorted(stale)[:100]

    def beat_now(self, pk: int, *, held: dict[str, Any] | None = None, **values: Any) -> bool:
        """The holding task is alive (and reports ``values``): touches the beat. False when the job
        is no longer running, or no longer under the claim ``held`` names (e.g. ``scan_claimed_by``)."""
        return bool(self.model._default_manager.filter(pk=pk, status=self.running, **(held or {}))
                    .update(**{self.beat: timezone.now()}, **values))
