"""The C2PA lane: the manifest store read and validated by the reference reader (c2pa-python),
offline.

Remote manifests are never fetched. A file may carry only a URL where its manifest lives; a server
that follows it fetches an attacker-chosen URL from inside the newsroom's network (SSRF), and the
answer would depend on a third party's server. The reader is configured with
``verify.remote_manifest_fetch = false`` and the lane reports "remote manifest not fetched"."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

from ml.formats import MEDIA_TYPES

from ._lane import (DECISIVE, DECLARES_AI, DECLARES_CAPTURE, ERROR, FOUND, NO_CLAIM, NONE, SUPPORTING, WEAK,
                    LaneResult, clip)
from .sourcetypes import claim_of, short_code

LANE = "c2pa"

# Validation states as this lane reports them.
VALID = "valid"  # signature and bindings check out, and the signer is on a configured trust list
VALID_UNTRUSTED = "valid_untrusted"  # they check out, but nothing vouches for the signer
INVALID = "invalid"  # something fails: the codes say what (a hash mismatch: pixels changed after signing)
REMOTE_NOT_FETCHED = "remote_not_fetched"

# A manifest store larger than this is not handed to the reader: real ones are kilobytes to a few
# megabytes (thumbnails included); a bigger one is more likely an attack on the parser than provenance.
MAX_MANIFEST_BYTES = 8 * 1024 * 1024


# Codes the reader lists in validation_status that are not failures of the file itself.
_NOT_FAILURES = {"signingCredential.untrusted"}
# Failures of the signer's credential or its timestamp, not of the content: the hashes still match,
# so nothing shows the file changed (Google's Gemini manifests read months later give
# signingCredential.expired). Any other failure (a hash or signature mismatch, a missing part) means
# the file or its manifest changed after signing: tampering, as far as the reader can tell.
_CREDENTIAL_PREFIXES = ("signingCredential.", "timeStamp.")

_CODE_MEANINGS = {
    "assertion.dataHash.mismatch": "the pixels changed after signing",
    "assertion.bmffHash.mismatch": "the file's content changed after signing",
    "assertion.boxesHash.mismatch": "the file's content changed after signing",
    "claimSignature.mismatch": "the claim signature does not match the claim (the manifest was altered)",
    "signingCredential.revoked": "the signing certificate was revoked",
    "signingCredential.expired": "the signing certificate had expired",
    "timeStamp.mismatch": "the timestamp does not match the signed data",
    "assertion.hashedURI.mismatch": "an assertion changed after signing",
}


def mime_of(fmt: str) -> str | None:
    """The media type the C2PA reader is told; None for a format Verity does not accept."""
    return MEDIA_TYPES.get(fmt.upper())


def _jpeg_app11_bytes(data: bytes) -> int:
    """Total size of the JPEG's APP11 segments (where JUMBF/C2PA lives), read from the marker
    lengths only, before the reader parses anything."""
    pos, total = 2, 0
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: no more metadata segments
            break
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker == 0xEB:
            total += length
        pos += 2 + length
    return total


def _png_cabx_bytes(data: bytes) -> int:
    pos, total = 8, 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"caBX":
            total += length
        if kind == b"IEND":
            break
        pos += 12 + length
    return total


def manifest_store_bytes(data: bytes, fmt: str) -> int:
    """Bytes of embedded manifest store for the formats where it can be counted cheaply (0 otherwise)."""
    if fmt.upper() in ("JPEG", "MPO") and data[:2] == b"\xff\xd8":
        return _jpeg_app11_bytes(data)
    if fmt.upper() == "PNG" and data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png_cabx_bytes(data)
    return 0


def _reader_context(trust_anchors_pem: str | None) -> Any:
    import c2pa  # type: ignore[import-untyped]

    verify: dict[str, Any] = {"remote_manifest_fetch": False, "ocsp_fetch": False}
    settings: dict[str, Any] = {"verify": verify}
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    return c2pa.Context(settings=c2pa.Settings.from_dict(settings))


def _agent(value: Any) -> str:
    if isinstance(value, dict):
        return clip(" ".join(str(value.get(k, "")) for k in ("name", "version")).strip(), 200)
    return clip(value, 200) if value else ""


def _actions(manifest: dict[str, Any]) -> list[dict[str, str]]:
    found = []
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            item = {"action": clip(action.get("action", ""), 200)}
            if action.get("digitalSourceType"):
                item["digitalSourceType"] = clip(action["digitalSourceType"], 300)
            agent = _agent(action.get("softwareAgent"))
            if agent:
                item["softwareAgent"] = agent
            found.append(item)
    return found


def _claim_generator(manifest: dict[str, Any]) -> str:
    if manifest.get("claim_generator"):
        return clip(manifest["claim_generator"], 300)
    info = manifest.get("claim_generator_info") or []
    return clip(" ".join(_agent(i) for i in info if isinstance(i, dict)), 300)


def _summarise_store(store: dict[str, Any], state: str) -> dict[str, Any]:
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest") or "") or {}
    signature = active.get("signature_info") or {}
    codes = list(dict.fromkeys(s.get("code", "") for s in store.get("validation_status") or [] if isinstance(s, dict)))
    failures = [c for c in codes if c not in _NOT_FAILURES]
    ingredients = []
    ingredient_source_types = []
    for ing in active.get("ingredients") or []:
        entry: dict[str, Any] = {"title": clip(ing.get("title", ""), 200),
                                 "relationship": clip(ing.get("relationship", ""), 50)}
        ing_codes = [s.get("code", "") for s in ing.get("validation_status") or [] if isinstance(s, dict)]
        if ing_codes:
            entry["validation_codes"] = ing_codes
        ingredients.append(entry)
        child = manifests.get(ing.get("active_manifest") or "") or {}
        ingredient_source_types += [a["digitalSourceType"] for a in _actions(child) if "digitalSourceType" in a]
    actions = _actions(active)
    if state == "Trusted":
        validation = VALID
    elif state == "Valid":
        validation = VALID_UNTRUSTED
    else:
        validation = INVALID
    return {
        "validation": validation,
        "validation_codes": codes,
        "failures": [{"code": c, "meaning": _CODE_MEANINGS.get(c, ""),
                      "kind": "credential" if c.startswith(_CREDENTIAL_PREFIXES) else "integrity"} for c in failures],
        # An invalid store without a failure code is treated as tampered: nothing says it is only the signer.
        "tampered": (any(not c.startswith(_CREDENTIAL_PREFIXES) for c in failures)
                     or (validation == INVALID and not failures)),
        "claim_generator": _claim_generator(active),
        "signer": clip(signature.get("common_name", ""), 200),
        "issuer": clip(signature.get("issuer", ""), 200),
        "signing_time": clip(signature.get("time", ""), 60),
        "actions": actions,
        "digital_source_types": [a["digitalSourceType"] for a in actions if "digitalSourceType" in a],
        "ingredient_source_types": ingredient_source_types,
        "ingredients": ingredients,
        "manifests": len(manifests),
    }


def _judge(found: dict[str, Any]) -> tuple[str, str, str]:
    """(claim, strength, summary) of a read manifest store."""
    validation = found["validation"]
    types = found["digital_source_types"] or found["ingredient_source_types"]
    claims = {claim_of(t) for t in types}
    claim = DECLARES_AI if DECLARES_AI in claims else DECLARES_CAPTURE if DECLARES_CAPTURE in claims else NO_CLAIM
    names = ", ".join(sorted({short_code(t) for t in types})) or "no digital source type"
    signer = found["issuer"] or found["signer"] or "an unnamed signer"
    if validation == INVALID:
        codes = ", ".join(f["code"] for f in found["failures"]) or "no code given"
        if found["tampered"] or not found["failures"]:
            return claim, NONE, (f"C2PA manifest fails validation ({codes}): the file or its manifest changed "
                                 "after signing. It is not evidence either way.")
        return claim, NONE, (f"C2PA manifest does not validate ({codes}), though its hashes match; it declares "
                             f"{names} ({signer}), not validated. It is not evidence either way.")
    trust = "trusted signer" if validation == VALID else "signer not on a trust list"
    if claim == DECLARES_AI:
        return claim, DECISIVE, f"Valid C2PA manifest declares {names} ({trust}: {signer})."
    if claim == DECLARES_CAPTURE:
        strength = SUPPORTING if validation == VALID else WEAK
        return claim, strength, f"Valid C2PA manifest declares {names} ({trust}: {signer})."
    return claim, NONE, f"Valid C2PA manifest ({trust}: {signer}) records {len(found['actions'])} action(s), {names}."


def read(data: bytes, fmt: str, *, trust_anchors_pem: str | None = None,
         max_manifest_bytes: int = MAX_MANIFEST_BYTES) -> LaneResult:
    """Read and validate the embedded manifest store. Raises nothing the caller must handle
    beyond what :func:`verification.provenance.read_lanes` turns into a lane error."""
    import c2pa  # type: ignore[import-untyped]

    mime = mime_of(fmt)
    if mime is None:
        return LaneResult(lane=LANE, summary=f"No C2PA reader for {fmt} files.")
    size = manifest_store_bytes(data, fmt)
    if size > max_manifest_bytes:
        return LaneResult(lane=LANE, state=ERROR, error="manifest too large",
                          summary=(f"The embedded manifest store is {size / 1e6:.1f} MB, over the "
                                   f"{max_manifest_bytes / 1e6:.1f} MB this reader accepts; it was not read."))
    try:
        with c2pa.Reader(mime, io.BytesIO(data), context=_reader_context(trust_anchors_pem)) as reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state() or "Invalid"
    except c2pa.C2paError as exc:
        message = str(exc)
        if type(exc).__name__.endswith("ManifestNotFound") or message.startswith("ManifestNotFound"):
            return LaneResult(lane=LANE, summary="No C2PA manifest.")
        if message.startswith("Remote:"):
            url = message.split("from url", 1)[1].strip() if "from url" in message else ""
            return LaneResult(lane=LANE, state=FOUND, claim=NO_CLAIM, strength=NONE,
                              summary="The file points at a remote C2PA manifest: remote manifest not fetched.",
                              found={"validation": REMOTE_NOT_FETCHED, "remote_url": clip(url, 500)})
        raise
    found = _summarise_store(store, state)
    claim, strength, summary = _judge(found)
    return LaneResult(lane=LANE, state=FOUND, claim=claim, strength=strength, summary=summary, found=found)
