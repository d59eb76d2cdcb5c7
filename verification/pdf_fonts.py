"""Unicode fonts for PDF reports, found among the system's fonts (never downloaded).

The PDF's built-in fonts cover Latin-1 only. Reports are written in whatever script the case
uses, so the text font is Noto Sans (or DejaVu Sans), with per-script fallbacks for Arabic,
Hebrew, Devanagari, Bengali, Thai and CJK. Debian packages: fonts-noto-core, fonts-noto-cjk
(``.ci/run`` and the Dockerfile install them). Only the fonts a report needs are embedded
(subset), so a report in Latin script stays small.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))


@dataclass(frozen=True)
class FontFile:
    path: Path
    collection_number: int = 0


# family name in the PDF -> candidate files, first found wins; regular and bold.
_TEXT = {
    "": ("truetype/noto/NotoSans-Regular.ttf", "truetype/dejavu/DejaVuSans.ttf"),
    "B": ("truetype/noto/NotoSans-Bold.ttf", "truetype/dejavu/DejaVuSans-Bold.ttf"),
}
# script -> (characters it covers, candidate files). CJK collections: face 0 is the Japanese
# variant, which covers Chinese and Korean ideographs and kana/hangul too.
_SCRIPTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "arabic": ("\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff",
               ("truetype/noto/NotoSansArabic-Regular.ttf", "truetype/noto/NotoNaskhArabic-Regular.ttf",
                "truetype/dejavu/DejaVuSans.ttf")),
    "hebrew": ("\u0590-\u05ff", ("truetype/noto/NotoSansHebrew-Regular.ttf", "truetype/dejavu/DejaVuSans.ttf")),
    "devanagari": ("\u0900-\u097f\ua8e0-\ua8ff", ("truetype/noto/NotoSansDevanagari-Regular.ttf",)),
    "bengali": ("\u0980-\u09ff", ("truetype/noto/NotoSansBengali-Regular.ttf",)),
    "thai": ("\u0e00-\u0e7f", ("truetype/noto/NotoSansThai-Regular.ttf",)),
    "cjk": ("\u1100-\u11ff\u2e80-\u2fdf\u3000-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
            "\uf900-\ufaff\uff00-\uffef",
            ("opentype/noto/NotoSansCJK-Regular.ttc", "truetype/noto/NotoSansCJK-Regular.ttc",
             "truetype/droid/DroidSansFallbackFull.ttf", "truetype/wqy/wqy-microhei.ttc")),
}
_SCRIPT_RE = {name: re.compile(f"[{chars}]") for name, (chars, _) in _SCRIPTS.items()}


def _find(candidates: tuple[str, ...]) -> FontFile | None:
    for rel in candidates:
        for root in FONT_DIRS:
            path = root / rel
            if path.is_file():
                return FontFile(path)
    return None


@lru_cache(maxsize=1)
def text_fonts() -> dict[str, FontFile]:
    """The body font by style; empty when the system has no Unicode font (then PDFs fall back
    to the built-in Helvetica and say which package to install)."""
    found = {style: _find(c) for style, c in _TEXT.items()}
    return {s: f for s, f in found.items() if f is not None} if found.get("") else {}


def scripts_in(text: str) -> list[str]:
    return [name for name, pattern in _SCRIPT_RE.items() if pattern.search(text)]


def script_font(script: str) -> FontFile | None:
    return _find(_SCRIPTS[script][1])


def missing_scripts(text: str) -> list[str]:
    """Scripts used in the text for which no font is installed."""
    return [s for s in scripts_in(text) if script_font(s) is None]
