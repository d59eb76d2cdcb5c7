"""The one place where an audit event's hash is computed (the tamper-evident chain).

Every audit event belongs to one chain: the events of a team form that team's chain, events
without a team form the ``global`` chain. Event *n* of a chain stores the hash of event *n-1*
(``prev_hash``) and its own hash, which covers ``prev_hash`` and every recorded field, so
changing any row changes its hash and breaks the link to the next row, and deleting a row
leaves a gap in ``seq`` and a ``prev_hash`` that points at nothing. The chain head (the last
hash) is carried by signed memos, so even rewriting a whole chain is caught by an older memo.

Pure functions only: no Django imports, so migrations and the verifier use the same code.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, UTC
from typing import Any

GENESIS = "0" * 64  # prev_hash of the first event of every chain
GLOBAL_CHAIN = "global"
ALGORITHM = "sha256/v1"


def chain_key(team_id: int | None) -> str:
    """The chain an event belongs to: its team's, or the global one for team-less events."""
    return f"team:{team_id}" if team_id is not None else GLOBAL_CHAIN


def _canonical_numbers(value: Any) -> Any:
    """JSON that reads back the same from SQLite text and PostgreSQL jsonb: jsonb keeps ``2.0`` as
    numeric and may print large floats as integers, so integral floats are hashed as integers."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(k): _canonical_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_numbers(v) for v in value]
    return value


def canonical_details(details: Any) -> str:
    """The details as the canonical JSON text that is hashed (sorted keys, no spaces, ASCII)."""
    plain = json.loads(json.dumps(details or {}))
    return json.dumps(_canonical_numbers(plain), sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def timestamp(moment: datetime) -> str:
    """UTC with microseconds, as both databases store it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(*, prev_hash: str, chain: str, seq: int, created_at: datetime, action: str, actor_name: str,
               case_id: int | None, object_type: str, object_id: str, details: Any) -> str:
    """SHA-256 over the previous hash and every recorded field of one event, hex.

    Foreign keys that the database may null on its own (the actor when a user is deleted) are
    covered through immutable copies (``actor_name``); the team is covered by ``chain``."""
    fields = [ALGORITHM, prev_hash, chain, str(seq), timestamp(created_at), action, actor_name,
              "" if case_id is None else str(case_id), object_type, object_id, canonical_details(details)]
    # Length-prefixed so that no two different field lists give the same byte string.
    blob = b"".join(len(f.encode()).to_bytes(4, "big") + f.encode() for f in fields)
    return hashlib.sha256(blob).hexdigest()


def head_digest(heads: dict[str, tuple[int, str]]) -> str:
    """One digest over several chain heads ({chain: (seq, hash)}), for a memo that spans them."""
    text = json.dumps({k: [s, h] for k, (s, h) in sorted(heads.items())}, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
