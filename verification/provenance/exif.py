"""The EXIF lanes: ``Software`` naming a known image generator (supports "AI-generated"), and the
camera fields (Make, Model, lens, capture time), which are weak support for "real" only: they are
trivially forged and routinely stripped."""

from __future__ import annotations

from typing import Any

from PIL import ExifTags, Image

from ._lane import DECLARES_AI, DECLARES_CAPTURE, FOUND, SUPPORTING, WEAK, LaneResult, clip

SOFTWARE_LANE = "exif_software"
CAMERA_LANE = "camera_exif"

# EXIF tags a reviewer asks about first: which camera, when, and which software touched the file.
CAMERA_TAGS = ("Make", "Model", "LensModel", "DateTimeOriginal", "DateTime", "Software")
_CAPTURE_TAGS = ("Make", "Model", "LensModel", "DateTimeOriginal")

# Lower-case fragments of Software values written by image generators.
KNOWN_GENERATORS = ("adobe firefly", "dall-e", "dall·e", "dalle", "midjourney", "stable diffusion", "novelai",
                    "comfyui", "automatic1111", "invokeai", "fooocus", "imagen", "gemini", "google ai",
                    "bing image creator", "image creator from designer", "leonardo.ai", "ideogram", "flux",
                    "chatgpt", "gpt-4o", "openai", "sora", "dreamstudio", "craiyon", "nightcafe", "runway")

_NAMES = {v: k for k, v in ExifTags.TAGS.items()}
_USER_COMMENT = 0x9286
_PREFIXES = {b"ASCII\x00\x00\x00": "ascii", b"UNICODE\x00": "utf-16", b"JIS\x00\x00\x00\x00\x00": "shift_jis"}


def decode_text(value: Any) -> str:
    """An EXIF text value as str, whatever its encoding (odd bytes are replaced, never fatal)."""
    if isinstance(value, bytes):
        if value.startswith(b"UNICODE\x00"):
            body = value[8:]
            # Writers disagree on byte order; a UTF-16 text of ASCII has zero high bytes.
            be = body[0:1] == b"\x00" if body else True
            return body.decode("utf-16-be" if be else "utf-16-le", "replace").replace("\x00", "")
        for prefix, codec in _PREFIXES.items():
            if value.startswith(prefix):
                return value[len(prefix):].decode(codec, "replace").replace("\x00", "")
        try:
            return value.decode("utf-8").replace("\x00", "")
        except UnicodeDecodeError:
            return value.decode("latin-1").replace("\x00", "")
    return str(value).replace("\x00", "")


def exif_fields(im: Image.Image) -> tuple[bool, dict[str, str]]:
    """(has EXIF, camera and software fields as text)."""
    exif = im.getexif()
    merged = dict(exif)
    try:
        merged.update(exif.get_ifd(ExifTags.IFD.Exif))
    except (KeyError, OSError, ValueError, SyntaxError):
        pass  # a broken Exif sub-IFD: keep the main one
    fields: dict[str, str] = {}
    for tag in CAMERA_TAGS:
        value = merged.get(_NAMES[tag])
        if value not in (None, "", b""):
            text = decode_text(value).strip(" ")
            if text:
                fields[tag] = clip(text, 120)
    comment = merged.get(_USER_COMMENT)
    if comment not in (None, "", b""):
        fields["UserComment"] = clip(decode_text(comment).strip(), 20000)
    return len(exif) > 0, fields


def read_software(fields: dict[str, str]) -> LaneResult:
    software = fields.get("Software", "")
    if not software:
        return LaneResult(lane=SOFTWARE_LANE, summary="No EXIF Software field.")
    lowered = software.lower()
    match = next((g for g in KNOWN_GENERATORS if g in lowered), None)
    if match is None:
        return LaneResult(lane=SOFTWARE_LANE, state=FOUND, found={"Software": software},
                          summary=f"EXIF Software: {software} (not a known image generator).")
    return LaneResult(lane=SOFTWARE_LANE, state=FOUND, claim=DECLARES_AI, strength=SUPPORTING,
                      found={"Software": software, "matched": match},
                      summary=f"EXIF Software names an image generator: {software}.")


def read_camera(fields: dict[str, str]) -> LaneResult:
    camera = {k: fields[k] for k in _CAPTURE_TAGS if k in fields}
    if not camera:
        return LaneResult(lane=CAMERA_LANE, summary="No camera EXIF.")
    what = " ".join(camera[k] for k in ("Make", "Model") if k in camera) or "a camera"
    return LaneResult(lane=CAMERA_LANE, state=FOUND, claim=DECLARES_CAPTURE, strength=WEAK, found=camera,
                      summary=f"Camera EXIF names {what} (easily forged or stripped: weak support only).")
