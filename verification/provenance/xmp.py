"""The XMP lane: IPTC ``DigitalSourceType`` (Iptc4xmpExt), which Google, Meta, Midjourney, Adobe
and others write to say how an image was made. Unsigned: it supports, it never decides."""

from __future__ import annotations

import re
from typing import Any

from ._lane import (DECLARES_AI, DECLARES_CAPTURE, FOUND, NO_CLAIM, NONE, SUPPORTING, WEAK, LaneResult,
                    clip)
from .sourcetypes import claim_of, describe, short_code

LANE = "xmp"

# Read with patterns, not an XML parser: the packet comes from an untrusted file, and all that is
# wanted is one property, written either as an attribute or as an element (any namespace prefix).
_ATTRIBUTE = re.compile(rb"""[\w.-]*:?DigitalSourceType\s*=\s*["']([^"']{1,500})["']""")
_ELEMENT = re.compile(rb"<([\w.-]+:)?DigitalSourceType(?:\s[^>]*)?>\s*([^<]{1,500}?)\s*</", re.S)
_RESOURCE = re.compile(rb"<([\w.-]+:)?DigitalSourceType\s[^>]*rdf:resource\s*=\s*[\"']([^\"']{1,500})[\"']")
_PACKET = re.compile(rb"<x:xmpmeta.*?</x:xmpmeta>", re.S)
_TOOL = re.compile(rb"""CreatorTool\s*(?:=\s*["']([^"']{1,300})["']|>\s*([^<]{1,300})<)""")


# Formats whose XMP Pillow or the PNG chunk reader find; for the others the bytes are searched.
_READ_BY_CONTAINER = ("JPEG", "MPO", "PNG", "WEBP")


def _jpeg_header_end(data: bytes) -> int:
    """Where a JPEG's metadata segments end (its start of scan): XMP lives before it."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != 0xDA:
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return min(pos, len(data))


def packets(data: bytes, info: dict[str, Any], png_text: dict[str, str], fmt: str = "") -> list[bytes]:
    """XMP packets of the file: what Pillow found (JPEG APP1, WebP XMP chunk), PNG's iTXt, and for
    other containers (TIFF, HEIF, ...) any packet in the bytes. Searching the bytes of a JPEG or PNG
    without XMP would cost milliseconds per megabyte for nothing."""
    found: list[bytes] = []
    xmp = info.get("xmp")
    if isinstance(xmp, (bytes, str)):
        found.append(xmp.encode("utf-8", "replace") if isinstance(xmp, str) else xmp)
    for key, text in png_text.items():
        if key.startswith("XML:com.adobe.xmp"):
            found.append(text.encode("utf-8", "replace"))
    if not found and fmt.upper() in ("JPEG", "MPO"):
        found += _PACKET.findall(data[:_jpeg_header_end(data)])  # e.g. a second APP1 Pillow leaves aside
    elif not found and fmt.upper() not in _READ_BY_CONTAINER:
        found += _PACKET.findall(data)
    return found


def source_types(packet: bytes) -> list[str]:
    values = [m.group(1) for m in _ATTRIBUTE.finditer(packet)]
    values += [m.group(2) for m in _ELEMENT.finditer(packet)]
    values += [m.group(2) for m in _RESOURCE.finditer(packet)]
    return [v.decode("utf-8", "replace").strip() for v in values if v.strip()]


def read(data: bytes, info: dict[str, Any], png_text: dict[str, str], fmt: str = "") -> LaneResult:
    all_packets = packets(data, info, png_text, fmt)
    if not all_packets:
        return LaneResult(lane=LANE, summary="No XMP metadata.")
    types = list(dict.fromkeys(t for p in all_packets for t in source_types(p)))
    tools = [clip((m.group(1) or m.group(2)), 300) for p in all_packets for m in _TOOL.finditer(p)]
    found: dict[str, Any] = {"digital_source_types": [clip(t, 500) for t in types]}
    if tools:
        found["creator_tool"] = list(dict.fromkeys(tools))
    if not types:
        return LaneResult(lane=LANE, state=FOUND, summary="XMP present, without a DigitalSourceType.", found=found)
    claims = {claim_of(t) for t in types}
    names = ", ".join(f"{short_code(t)} ({describe(t)})" for t in types)
    if DECLARES_AI in claims:
        return LaneResult(lane=LANE, state=FOUND, claim=DECLARES_AI, strength=SUPPORTING, found=found,
                          summary=f"XMP DigitalSourceType: {names}.")
    if DECLARES_CAPTURE in claims:
        return LaneResult(lane=LANE, state=FOUND, claim=DECLARES_CAPTURE, strength=WEAK, found=found,
                          summary=f"XMP DigitalSourceType: {names}.")
    return LaneResult(lane=LANE, state=FOUND, claim=NO_CLAIM, strength=NONE, found=found,
                      summary=f"XMP DigitalSourceType: {names}.")
