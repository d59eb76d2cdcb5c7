"""One verdict per image, with its reasons: the rules that combine the model's calibrated
probability with the provenance lanes (written up, with examples, in docs/verdicts.md).

Pure Python: the analyses service calls :func:`combine` when it records an analysis, and stores
what it returns; pages, the report, the CSV and the API show that stored list as it is.

The rules, in order:

1. A C2PA manifest that validates (trusted or not) and declares an AI source type is decisive:
   the verdict is AI-generated, whatever the model says (the model's view is still listed).
2. A manifest that fails validation is reported as such and never counts as support either way;
   the image is flagged for a human. A hash or signature mismatch is a tamper warning; a failure of
   the signer's credential alone (e.g. expired) with matching hashes is a "does not validate" warning.
3. Supporting items (a trusted capture manifest, XMP DigitalSourceType, generator parameters, EXIF
   Software naming a generator) agree with the model, or tip it when the model is inside its
   uncertain band. When one points against a model that is outside its band, neither wins: the
   image is flagged for a human ("needs review").
4. Weak items (camera EXIF, an untrusted capture manifest, XMP saying capture) are listed, but never
   change the verdict or raise a conflict: they are trivially forged and routinely stripped.
5. Absence of metadata is not evidence: a lane that found nothing adds nothing.
"""

from __future__ import annotations

from typing import Any

from .provenance import DECISIVE, DECLARES_AI, DECLARES_CAPTURE, ERROR, FOUND, SUPPORTING, WEAK, c2pa_lane

RULES_VERSION = 1

AI = "ai_generated"
REAL = "real"
NEUTRAL = "neutral"  # says nothing about the origin (a warning, a lane error, a remote manifest)
NEEDS_REVIEW = "needs_review"

# Provenance summary of an image, for filters and dashboards (worst first).
TAMPERED = "tampered"
INVALID = "invalid"  # a manifest that does not validate, with no sign of tampering (e.g. an expired signer)
DECLARED_AI = "declared_ai"
PRESENT = "present"  # some provenance, none of it declaring AI or failing validation
NO_PROVENANCE = ""

# The case list's provenance filter: value -> (label, image provenance summaries that match).
PROVENANCE_FILTERS = {
    "any": ("Has provenance", (PRESENT, DECLARED_AI, INVALID, TAMPERED)),
    "declared_ai": ("Declared AI", (DECLARED_AI,)),
    "tampered": ("Tampered manifest", (TAMPERED,)),
}

_ORDER = {DECISIVE: 0, "warning": 1, SUPPORTING: 2, WEAK: 3, "info": 4}
_SOURCES = {"c2pa": "C2PA manifest", "xmp": "XMP DigitalSourceType", "generator_parameters": "Generator parameters",
            "exif_software": "EXIF Software", "camera_exif": "Camera EXIF"}
_LABEL = {AI: "AI-generated", REAL: "Real photograph"}


def _item(direction: str, strength: str, source: str, text: str, lane: str = "") -> dict[str, str]:
    return {"direction": direction, "strength": strength, "source": source, "text": text, "lane": lane}


def _lane_items(lanes: list[dict[str, Any]]) -> list[dict[str, str]]:
    items = []
    for lane in lanes:
        name = lane.get("lane", "")
        source = _SOURCES.get(name, name)
        state, claim, strength = lane.get("state"), lane.get("claim"), lane.get("strength")
        if state == ERROR:
            said = lane.get("summary") or lane.get("error")
            items.append(_item(NEUTRAL, "info", source, f"Lane error: {said}", name))
            continue
        if state != FOUND:
            continue  # absence is not evidence
        found = lane.get("found") or {}
        if name == c2pa_lane.LANE and found.get("validation") == c2pa_lane.INVALID:
            codes = found.get("failures") or []
            said = "; ".join(f"{c['code']}" + (f": {c['meaning']}" if c.get("meaning") else "") for c in codes)
            if found.get("tampered", True):
                text = (f"Tamper warning: the C2PA manifest fails validation ({said or 'no code given'}). "
                        "What it declares cannot be relied on.")
            else:
                declared = ", ".join(t.rsplit("/", 1)[-1] for t in found.get("digital_source_types") or []) or "nothing"
                text = (f"The C2PA manifest does not validate ({said}). Its hashes match, so nothing shows the "
                        f"file changed, but what it declares ({declared}) is not validated: check the signer.")
            items.append(_item(NEUTRAL, "warning", source, text, name))
            continue
        if claim in (DECLARES_AI, DECLARES_CAPTURE) and strength in (DECISIVE, SUPPORTING, WEAK):
            items.append(_item(AI if claim == DECLARES_AI else REAL, strength, source, lane.get("summary", ""), name))
        else:
            items.append(_item(NEUTRAL, "info", source, lane.get("summary", ""), name))
    return items


def provenance_of(lanes: list[dict[str, Any]]) -> str:
    """The image's provenance summary: tampered, invalid, declared_ai, present, or "" (none)."""
    states = set()
    for lane in lanes:
        if lane.get("state") != FOUND:
            continue
        found = lane.get("found") or {}
        if lane.get("lane") == c2pa_lane.LANE and found.get("validation") == c2pa_lane.INVALID:
            states.add(TAMPERED if found.get("tampered", True) else INVALID)
        elif lane.get("claim") == DECLARES_AI:
            states.add(DECLARED_AI)
        elif lane.get("lane") != "camera_exif" and (lane.get("claim") or lane.get("lane") == c2pa_lane.LANE):
            states.add(PRESENT)  # camera EXIF alone is not provenance; XMP without a source type neither
    for state in (TAMPERED, INVALID, DECLARED_AI, PRESENT):
        if state in states:
            return state
    return NO_PROVENANCE


def combine(*, probability_ai: float, threshold: float, uncertain_margin: float,
            lanes: list[dict[str, Any]], model_name: str = "") -> dict[str, Any]:
    """The final verdict, a one-line headline, whether a human must decide, and the ordered evidence."""
    model_label = AI if probability_ai >= threshold else REAL
    uncertain = abs(probability_ai - threshold) < uncertain_margin
    model_text = (f"p(AI-generated) = {probability_ai:.3f} against a threshold of {threshold:.2f}"
                  + (": inside the uncertain band" if uncertain else ""))
    model_item = _item(model_label, WEAK if uncertain else SUPPORTING, f"Model{f' {model_name}' if model_name else ''}",
                       model_text, "model")
    items = _lane_items(lanes)
    decisive_ai = [i for i in items if i["strength"] == DECISIVE and i["direction"] == AI]
    warnings = [i for i in items if i["strength"] == "warning"]
    supporting = [i for i in items if i["strength"] == SUPPORTING]
    against = [i for i in supporting if i["direction"] != model_label]
    needs_human = False
    conflict = ""
    if decisive_ai:
        verdict = AI
        c2pa = next((lane for lane in lanes if lane.get("lane") == c2pa_lane.LANE), {})
        composite = any("compositeWith" in t for t in (c2pa.get("found") or {}).get("digital_source_types", []))
        headline = ("Contains AI-generated elements (declared by its C2PA manifest)" if composite
                    else "AI-generated (declared by its C2PA manifest)")
        if model_label != AI:
            conflict = "The model reads the pixels as a real photograph; the signed declaration outranks it."
    elif against and not uncertain:
        verdict, needs_human = NEEDS_REVIEW, True
        conflict = (f"The model says {_LABEL[model_label]} outside its uncertain band, but "
                    + "; ".join(f"{i['source']} points to {_LABEL[i['direction']]}" for i in against)
                    + ". A human must decide.")
        headline = "Conflicting evidence: a human must decide"
    elif against:  # the model is unsure: supporting provenance tips it
        verdict = against[0]["direction"]
        headline = f"{_LABEL[verdict]} ({against[0]['source']}; the model is uncertain)"
    else:
        verdict = model_label
        agreeing = [i for i in supporting if i["direction"] == model_label]
        if uncertain and not agreeing:
            headline = f"Uncertain (leaning {_LABEL[model_label]})"
        elif agreeing:
            headline = f"{_LABEL[model_label]} (model and {agreeing[0]['source']} agree)"
        else:
            headline = f"{_LABEL[model_label]} (model only)"
    if warnings:
        needs_human = True
        if not decisive_ai:
            headline += (" — C2PA manifest fails validation: check for tampering" if provenance_of(lanes) == TAMPERED
                         else " — C2PA manifest does not validate: check the signer")
    ordered = sorted([model_item, *items], key=lambda i: _ORDER.get(i["strength"], 9))
    return {"rules_version": RULES_VERSION, "verdict": verdict, "headline": headline, "needs_human": needs_human,
            "conflict": conflict, "probability_ai": round(probability_ai, 6), "threshold": threshold,
            "model_label": model_label, "provenance": provenance_of(lanes), "items": ordered}


def as_lines(evidence: dict[str, Any]) -> list[str]:
    """The stored verdict and its items as plain lines, for the PDF and the CSV (same list, same order)."""
    if not evidence or not evidence.get("items"):
        return []
    lines = [f"Verdict: {evidence['headline']} (model p(AI-generated) = {evidence['probability_ai']:.3f})"
             + (" - a human must decide" if evidence.get("needs_human") else "")]
    if evidence.get("conflict"):
        lines.append(f"Conflict: {evidence['conflict']}")
    for item in evidence["items"]:
        towards = {"ai_generated": "towards AI-generated", "real": "towards real"}.get(item["direction"], "note")
        lines.append(f"[{item['strength']}, {towards}] {item['source']}: {item['text']}")
    return lines
