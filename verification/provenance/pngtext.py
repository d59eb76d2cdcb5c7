"""PNG text chunks (tEXt, zTXt, iTXt) read from the chunk list itself, without decoding pixels.

Bounded: a compressed chunk is inflated to at most ``MAX_INFLATED`` bytes (a zip bomb in a zTXt
chunk stops there), and at most ``MAX_CHUNKS`` text chunks are read."""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_INFLATED = 1024 * 1024
MAX_CHUNKS = 64


class TextChunkError(ValueError):
    pass


def _inflate(payload: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(payload, MAX_INFLATED)
    except zlib.error as exc:
        raise TextChunkError(f"a compressed text chunk is corrupt ({exc})") from exc
    if inflater.unconsumed_tail:
        raise TextChunkError(f"a compressed text chunk inflates to more than {MAX_INFLATED} bytes; not read")
    return out


def text_chunks(data: bytes) -> dict[str, str]:
    """Keyword -> text of every text chunk (later chunks with the same keyword are kept apart)."""
    if data[:8] != PNG_SIGNATURE:
        return {}
    pos = 8
    found: dict[str, str] = {}
    while pos + 8 <= len(data) and len(found) < MAX_CHUNKS:
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) < length:
            raise TextChunkError(f"the {kind.decode('latin-1')} chunk at byte {pos} is cut short")
        pos += 12 + length
        if kind == b"IEND":
            break
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        keyword, sep, rest = body.partition(b"\x00")
        if not sep:
            raise TextChunkError(f"a {kind.decode()} chunk has no keyword separator")
        key = keyword.decode("latin-1")
        if kind == b"tEXt":
            text = rest.decode("latin-1")  # the PNG spec says tEXt is Latin-1
        elif kind == b"zTXt":
            text = _inflate(rest[1:]).decode("latin-1")
        else:
            if len(rest) < 2:
                raise TextChunkError("an iTXt chunk is cut short")
            compressed = rest[0] == 1
            _lang, _, rest2 = rest[2:].partition(b"\x00")
            _translated, _, raw = rest2.partition(b"\x00")
            text = (_inflate(raw) if compressed else raw).decode("utf-8", "replace")
        name = key
        n = 2
        while name in found:
            name = f"{key} ({n})"
            n += 1
        found[name] = text
    return found


def has_chunk(data: bytes, kind: bytes) -> bool:
    """Whether the PNG has a chunk of ``kind``, from the chunk headers alone (no search of the pixel data)."""
    pos = 8
    while pos + 8 <= len(data):
        length, found = struct.unpack(">I4s", data[pos:pos + 8])
        if found == kind:
            return True
        if found == b"IEND":
            return False
        pos += 12 + length
    return False
