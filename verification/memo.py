"""Signed verification memos: what Verity found about a case, in a file anyone can check.

A memo is UTF-8 text in two armoured blocks: the memo itself (JSON, readable) and an Ed25519
signature of exactly those bytes by the installation's key (see ``signing``). It carries the
SHA-256 of each image, the model version and its checkpoint hash, the evidence, the reviewers'
decisions and the head of the team's audit chain, so a published finding can be defended later.

Checking rebuilds the file from what it parsed and compares byte for byte, so that a change
anywhere (in the memo, the signature, the key or the armour) is reported, not only in the JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from . import audit_integrity, signing
from .models import AuditEvent, Case

FORMAT = "verity-memo/1"
BEGIN, END = "-----BEGIN VERITY VERIFICATION MEMO-----\n", "\n-----END VERITY VERIFICATION MEMO-----\n"
SIG_BEGIN, SIG_END = "-----BEGIN VERITY SIGNATURE-----\n", "-----END VERITY SIGNATURE-----\n"
MAX_MEMO_BYTES = 4 * 1024 * 1024


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def build(case: Case, *, issued_by: str, include_internal: bool = False) -> dict[str, Any]:
    """The memo's content for a case as it stands now (call after recording the export, so that
    the chain head includes it)."""
    images = []
    demo_decided = False
    for image in case.images.prefetch_related("analyses__model_version", "reviews__reviewer"):
        analyses = list(image.analyses.all())
        if not analyses and image.duplicate_of is not None:
            analyses = list(image.duplicate_of.analyses.all())
        done = next((a for a in analyses if a.status == "done"), None)
        model = None
        if done is not None:
            mv = done.model_version
            demo_decided |= bool(mv and mv.is_demo)
            model = {"version": mv.name if mv else None, "checkpoint_sha256": mv.checkpoint_sha256 if mv else None,
                     "demo": bool(mv and mv.is_demo), "label": done.label,
                     "probability_ai": round(done.probability_ai, 6) if done.probability_ai is not None else None,
                     "threshold": done.threshold, "uncertain": done.is_uncertain,
                     "judged_area": done.crop_box or None}
        meta = image.metadata or {}
        evidence = {k: v for k, v in sorted(meta.items()) if k.startswith("has_") or k in ("c2pa", "provenance")}
        extra = getattr(done, "evidence", None)  # the evidence list, where the installation records one
        if extra:
            evidence["items"] = extra
        images.append({
            "name": image.original_name, "sha256": image.sha256, "format": image.format,
            "width": image.width, "height": image.height, "bytes": image.size_bytes,
            "model": model, "evidence": evidence,
            "decisions": [{"reviewer": r.reviewer.get_username(), "verdict": r.verdict,
                           "overrode_model": r.is_override, "comment": r.comment, "at": _iso(r.created_at)}
                          for r in sorted(image.reviews.all(), key=lambda r: (r.created_at, r.pk))],
        })
    chain, seq, head = audit_integrity.chain_head(case.team_id)
    case_events = list(AuditEvent.objects.filter(case=case).order_by("seq").values_list("seq", "action", "hash"))
    trail = hashlib.sha256("\n".join(f"{s} {a} {h}" for s, a, h in case_events).encode()).hexdigest()
    memo: dict[str, Any] = {
        "format": FORMAT,
        "issued_at": _iso(timezone.now()), "issued_by": issued_by,
        "case": {"id": case.pk, "title": case.title, "team": case.team.name, "status": case.status,
                 "source_url": case.source_url, "submitted_at": _iso(case.created_at),
                 "final_verdict": case.final_verdict or None, "summary": case.final_comment or None,
                 "finalised_by": case.finalised_by.get_username() if case.finalised_by else None,
                 "finalised_at": _iso(case.finalised_at)},
        "demo_model_decided": demo_decided,
        "images": images,
        "audit": {"chain": chain, "head_seq": seq, "head_hash": head, "case_events": len(case_events),
                  "case_trail_sha256": trail},
    }
    if include_internal:
        memo["internal_discussion"] = [
            {"author": c.author.get_username(), "at": _iso(c.created_at), "body": c.body,
             "reply_to": c.parent_id} for c in case.comments.select_related("author")]
        memo["internal_notes"] = case.notes or None
    return memo


def _armour(body: str, public_raw: bytes, signature: bytes) -> str:
    return (BEGIN + body + END + SIG_BEGIN + "Algorithm: Ed25519\n" + f"Key-Id: {signing.key_id(public_raw)}\n"
            + f"Public-Key: {signing.b64(public_raw)}\n" + f"Signature: {signing.b64(signature)}\n" + SIG_END)


def sign(memo: dict[str, Any]) -> bytes:
    body = json.dumps(memo, ensure_ascii=False, indent=2, sort_keys=False)
    return _armour(body, signing.public_raw(), signing.sign(body.encode("utf-8"))).encode("utf-8")


def content(data: bytes) -> dict[str, Any]:
    """The memo part of a memo this installation just issued (no checking)."""
    text = data.decode("utf-8")
    return json.loads(text[len(BEGIN):text.index(END)])


@dataclass
class MemoCheck:
    """What checking a memo found. ``authentic``: signed by this installation and unchanged."""

    authentic: bool
    verdict: str  # authentic | altered | other_key | unreadable
    message: str
    memo: dict[str, Any] | None = None
    key_id: str = ""
    notes: list[str] = field(default_factory=list)


def _b64(text: str) -> bytes:
    return base64.b64decode(text.strip(), validate=True)


def check(data: bytes) -> MemoCheck:
    """Whether ``data`` is a memo signed by this installation and unchanged since."""
    unreadable = MemoCheck(False, "unreadable", "This is not a Verity memo, or its layout was changed: "
                                                "upload the .txt file exactly as it was downloaded.")
    if len(data) > MAX_MEMO_BYTES:
        return unreadable
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return MemoCheck(False, "altered", "The file is not valid UTF-8 any more: it was changed after signing.")
    if not text.startswith(BEGIN) or END not in text:
        return unreadable
    body, _, rest = text[len(BEGIN):].partition(END)
    if not rest.startswith(SIG_BEGIN):
        return unreadable
    fields: dict[str, str] = {}
    for line in rest[len(SIG_BEGIN):].split("\n"):
        if ": " in line:
            name, _, value = line.partition(": ")
            fields[name] = value
    try:
        public_raw, signature = _b64(fields["Public-Key"]), _b64(fields["Signature"])
    except (KeyError, binascii.Error, ValueError):
        return MemoCheck(False, "altered", "The signature block was changed: its key or signature cannot be read.")
    try:
        memo = json.loads(body)
    except json.JSONDecodeError:
        memo = None
    kid = signing.key_id(public_raw) if len(public_raw) == 32 else ""
    if len(public_raw) != 32 or not signing.verify(public_raw, signature, body.encode("utf-8")):
        return MemoCheck(False, "altered", "The signature does not match the memo: it was changed after it was "
                                          "signed. Do not rely on it; ask the newsroom for its original copy.",
                         memo if isinstance(memo, dict) else None, kid)
    if _armour(body, public_raw, signature) != text:
        return MemoCheck(False, "altered", "The memo is signed, but the file around it was changed (the key "
                                          "fingerprint or the armour lines).", memo, kid)
    if public_raw != signing.public_raw():
        return MemoCheck(False, "other_key", "The memo is intact but was signed by another key, not by this "
                                            f"installation (whose key is {signing.key_id()}). Check it on the "
                                            "portal that issued it.", memo, kid)
    result = MemoCheck(True, "authentic", "Authentic and unchanged: signed by this installation's key, every byte "
                                          "as issued.", memo, kid)
    audit = (memo or {}).get("audit") or {}
    if audit.get("chain") and audit.get("head_seq"):
        held = AuditEvent.objects.filter(chain=audit["chain"], seq=audit["head_seq"]).values_list(
            "hash", flat=True).first()
        if held == audit.get("head_hash"):
            result.notes.append(f"The audit history still holds event #{audit['head_seq']} with the hash the memo "
                                "names.")
        else:
            result.notes.append(f"Warning: the audit history no longer holds event #{audit['head_seq']} as the "
                                "memo recorded it. Run python manage.py verify_audit.")
    return result
