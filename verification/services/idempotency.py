"""Idempotent case submission (the API's ``Idempotency-Key`` header), used by ``case_submit``.

The same key with the same request returns the case the first request created; the same key with
a different request is a conflict. The record is written in the same transaction as the case, and
a unique constraint on (user, key) makes a concurrent duplicate wait and then find the first one's
row, instead of creating a second case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import IntegrityError, transaction

from ..errors import VerityError
from ..models import Case, IdempotencyKey
from ..selectors import User
from ._common import account_id

MAX_KEY_LENGTH = 255


class IdempotencyConflict(VerityError):
    code = "idempotency_key_reused"
    status = 409


class InvalidIdempotencyKey(VerityError):
    code = "invalid_idempotency_key"


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
        for chunk in upload.chunks() if hasattr(upload, "chunks") else [upload.read()]:
            file_hash.update(chunk)
        upload.seek(0)
        digest.update(f"file\0{upload.name}\0{file_hash.hexdigest()}\0".encode())
    return digest.hexdigest()


def idempotency_claim(*, user: User, key: str, request_sha256: str) -> tuple[IdempotencyKey | None, Case | None,
                                                                          list[dict[str, str]]]:
    """Claim ``key`` for ``user`` inside the caller's transaction.

    Returns ``(record, None, [])`` when this request is the first (fill the record with
    :func:`idempotency_record`), or ``(None, case, rejected)`` when it repeats an earlier one.
    """
    try:
        # Claim the key first, in a savepoint. There is deliberately no "does it exist?" query
        # before: a repeat and a concurrent duplicate take the same path. The second insert
        # blocks on the unique index until the first transaction ends, then fails and replays.
        with transaction.atomic():
            record = IdempotencyKey.objects.create(user_id=account_id(user), key=key, request_sha256=request_sha256)
            return record, None, []
    except IntegrityError:
        pass
    existing = IdempotencyKey.objects.select_related("case").filter(user_id=account_id(user), key=key).first()
    if existing is None or existing.case is None:  # defensive: the first one rolled back
        raise IdempotencyConflict("A request with this Idempotency-Key is in progress; retry it.") from None
    if existing.request_sha256 != request_sha256:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request. Use a new key for a new "
            "submission.", details={"case": existing.case_id})
    return None, existing.case, list(existing.rejected)


def idempotency_record(*, record: IdempotencyKey, case: Case, rejected: list[dict[str, str]]) -> None:
    """Remember what the claimed key's request created (in the same transaction as the case)."""
    record.case = case
    record.rejected = rejected
    record.save(update_fields=["case", "rejected"])
