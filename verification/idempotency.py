"""Idempotent case submission through the API (the ``Idempotency-Key`` header).

The same key with the same request returns the case the first request created; the same key with
a different request is a conflict. The record is written in the same transaction as the case, and
a unique constraint on (user, key) makes a concurrent duplicate wait and then find the first one's
row, instead of creating a second case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from .models import ApiSubmission, ApiToken, IdempotencyKey
from .errors import VerityError
from .models import Case

MAX_KEY_LENGTH = 255


class IdempotencyConflict(VerityError):
    code = "idempotency_key_reused"
    status = 409


class InvalidIdempotencyKey(VerityError):
    code = "invalid_idempotency_key"


@dataclass
class Outcome:
    case: Case
    rejected: list[dict[str, str]]
    replayed: bool


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidIdempotencyKey(f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable characters.")
    return key


def fingerprint(fields: Mapping[str, Any], files: Iterable[Any]) -> str:
    """SHA-256 over the form fields and each file's name and content, in a canonical order."""
    digest = hashlib.sha256()
    for name in sorted(fields):
        digest.update(f"field\0{name}\0{fields[name]}\0".encode())
    for upload in files:
        file_hash = hashlib.sha256()
        for chunk in upload.chunks():
            file_hash.update(chunk)
        upload.seek(0)
        digest.update(f"file\0{upload.name}\0{file_hash.hexdigest()}\0".encode())
    return digest.hexdigest()


def _replay(record: IdempotencyKey, request_sha256: str) -> Outcome:
    if record.request_sha256 != request_sha256:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request. Use a new key for a new "
            "submission.", details={"case": record.case_id})
    assert record.case is not None  # written in the same transaction as the key
    return Outcome(case=record.case, rejected=list(record.rejected), replayed=True)


def submit(*, user: Any, token: ApiToken | None, key: str | None, request_sha256: str,
           create: Callable[[], tuple[Case, list[dict[str, str]]]]) -> Outcome:
    """Run ``create`` (which calls services.case_submit) at most once per (user, key)."""
    if key is None:
        with transaction.atomic():
            case, rejected = create()
            if token is not None:
                ApiSubmission.objects.create(case=case, token=token)
        return Outcome(case=case, rejected=rejected, replayed=False)

    with transaction.atomic():
        try:
            # Claim the key first, in a savepoint. There is deliberately no "does it exist?" query
            # before: a repeat and a concurrent duplicate take the same path. The second insert
            # blocks on the unique index until the first transaction ends, then fails and replays.
            with transaction.atomic():
                record = IdempotencyKey.objects.create(user=user, key=key, request_sha256=request_sha256)
        except IntegrityError:
            existing = IdempotencyKey.objects.select_related("case").filter(user=user, key=key).first()
            if existing is None or existing.case is None:  # defensive: the first one rolled back
                raise IdempotencyConflict("A request with this Idempotency-Key is in progress; retry it.") from None
            return _replay(existing, request_sha256)
        case, rejected = create()
        record.case = case
        record.rejected = rejected
        record.save(update_fields=["case", "rejected"])
        if token is not None:
            ApiSubmission.objects.create(case=case, token=token)
    return Outcome(case=case, rejected=rejected, replayed=False)
