"""The generator-parameters lane: what Stable Diffusion front-ends write beside the pixels.

- AUTOMATIC1111 / Forge / SD.Next: PNG text ``parameters`` (or EXIF UserComment in JPEG/WebP):
  the prompt, then ``Steps: 20, Sampler: ..., Seed: 1234, ..., Model: name``.
- ComfyUI: PNG text ``prompt`` (the executed node graph, JSON) and ``workflow`` (the editor graph).
- NovelAI: ``Software: NovelAI``, ``Source`` (the model), ``Comment`` (JSON with the seed).
- InvokeAI (``invokeai_metadata``, ``sd-metadata``, ``Dream``), SwarmUI (``sui_image_params``),
  Fooocus (``fooocus_scheme``).

Unsigned, and stripped by any re-save; but nobody writes a sampler's seed into a photograph, so a
match supports "AI-generated"."""

from __future__ import annotations

import json
import re
from typing import Any

from ._lane import DECLARES_AI, FOUND, SUPPORTING, LaneResult, clip

LANE = "generator_parameters"

_A1111_SEED = re.compile(r"(?:^|,\s*)Seed:\s*(-?\d+)")
_A1111_MODEL = re.compile(r"(?:^|,\s*)Model:\s*([^,\n]+)")
_A1111_HASH = re.compile(r"(?:^|,\s*)Model hash:\s*([^,\n]+)")
_KNOWN_KEYS = {"invokeai_metadata": "InvokeAI", "sd-metadata": "InvokeAI", "Dream": "InvokeAI",
               "sui_image_params": "SwarmUI", "fooocus_scheme": "Fooocus", "generation_data": "Civitai"}


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _a1111(text: str) -> dict[str, Any]:
    # The settings line is the last one that starts with "Steps:".
    settings = next((line for line in reversed(text.splitlines()) if line.startswith("Steps:")), "")
    found: dict[str, Any] = {"generator": "AUTOMATIC1111-style (Stable Diffusion web UI)"}
    for key, pattern in (("seed", _A1111_SEED), ("model", _A1111_MODEL), ("model_hash", _A1111_HASH)):
        match = pattern.search(settings)
        if match:
            found[key] = clip(match.group(1).strip(), 300)
    return found


def _comfy(prompt: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"generator": "ComfyUI"}
    if not isinstance(prompt, dict):
        return found
    models, seeds = [], []
    for node in prompt.values():
        if not isinstance(node, dict):
            continue
        inputs: dict[str, Any] = node["inputs"] if isinstance(node.get("inputs"), dict) else {}
        for key in ("ckpt_name", "unet_name", "model_name"):
            if isinstance(inputs.get(key), str):
                models.append(clip(inputs[key], 300))
        for key in ("seed", "noise_seed"):
            if isinstance(inputs.get(key), (int, float, str)) and not isinstance(inputs.get(key), bool):
                seeds.append(clip(inputs[key], 40))
    if models:
        found["model"] = ", ".join(dict.fromkeys(models))
    if seeds:
        found["seed"] = ", ".join(dict.fromkeys(seeds))
    return found


def _novelai(text: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {"generator": "NovelAI"}
    if text.get("Source"):
        found["model"] = clip(text["Source"], 300)
    comment = _json(text.get("Comment", ""))
    if isinstance(comment, dict) and "seed" in comment:
        found["seed"] = clip(comment["seed"], 40)
    return found


def read(text: dict[str, str]) -> LaneResult:
    """``text``: keyword -> value from PNG text chunks, plus ``UserComment`` from EXIF if any."""
    found: dict[str, Any] = {}
    params = text.get("parameters")
    if params is None and "Steps:" in text.get("UserComment", ""):
        params = text["UserComment"]  # A1111 writes its parameters here in JPEG and WebP
    if params is not None:
        fooocus = _json(params)
        found.update({"generator": "Fooocus"} if isinstance(fooocus, dict) else _a1111(params))
        if isinstance(fooocus, dict):
            for key, name in (("base_model", "model"), ("seed", "seed")):
                if key in fooocus:
                    found[name] = clip(fooocus[key], 300)
        found["parameters"] = clip(params)
    if "prompt" in text or "workflow" in text:
        for key, value in _comfy(_json(text.get("prompt", ""))).items():
            found.setdefault(key, value)
        for key in ("prompt", "workflow"):
            if key in text:
                found[f"comfyui_{key}"] = clip(text[key])
    if text.get("Software", "").strip().lower().startswith("novelai"):
        for key, value in _novelai(text).items():
            found.setdefault(key, value)
        for key in ("Software", "Source", "Comment"):
            if key in text:
                found[f"novelai_{key.lower()}"] = clip(text[key])
    for key, name in _KNOWN_KEYS.items():
        if key in text:
            found.setdefault("generator", name)
            found[key] = clip(text[key])
    if not found:
        return LaneResult(lane=LANE, summary="No generator parameters.")
    detail = ", ".join(f"{k} {found[k]}" for k in ("model", "seed") if k in found)
    summary = f"Generation parameters written by {found['generator']}" + (f" ({detail})." if detail else ".")
    return LaneResult(lane=LANE, state=FOUND, claim=DECLARES_AI, strength=SUPPORTING, found=found, summary=summary)
