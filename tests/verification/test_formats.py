"""The accepted image formats are defined once (ml/formats.py) and every place that needs them
reads that definition: decoding, storage names, serving, the API schema, the form's help text."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from ml import formats
from ml.imageio import inspect_image
from tests.images import photo_like

ROOT = Path(__file__).resolve().parents[2]

_SAVE_AS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "TIFF": "TIFF", "BMP": "BMP", "GIF": "GIF"}


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    photo_like((32, 24)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", sorted(_SAVE_AS))
def test_each_accepted_format_is_recognised_decoded_stored_and_served_with_its_type(fmt):
    from verification import serving, storage

    data = _encoded(fmt)
    assert formats.looks_like_image(data[:12])
    info = inspect_image(data)
    assert info.format in formats.ACCEPTED_FORMATS
    name, _ = storage.store_image(data, info.format)
    assert name.endswith("." + formats.EXTENSIONS[info.format])
    assert Path(name).suffix in formats.SUFFIXES
    response = serving.stored_image(name, info.format, "x." + formats.EXTENSIONS[info.format])
    assert response["Content-Type"] == formats.MEDIA_TYPES[info.format] == Image.MIME[info.format]


def test_every_accepted_format_has_a_media_type_an_extension_and_a_suffix():
    assert formats.ACCEPTED_FORMATS == set(formats.MEDIA_TYPES) == set(formats.EXTENSIONS)
    assert {"." + ext for ext in formats.EXTENSIONS.values()} <= formats.SUFFIXES
    assert formats.media_type("heic") == "application/octet-stream"


@pytest.mark.parametrize("head", [b"%PDF-1.7", b"<svg xmlns=", b"PK\x03\x04", b"RIFF\0\0\0\0WAVE", b""])
def test_files_of_other_kinds_do_not_look_like_images(head):
    assert not formats.looks_like_image(head)


def test_the_api_schema_lists_the_same_image_types():
    from drf_spectacular.generators import SchemaGenerator

    spec = SchemaGenerator().get_schema(request=None, public=True)
    content = spec["paths"]["/api/v1/images/{id}/file/"]["get"]["responses"]["200"]["content"]
    assert set(content) == set(formats.MEDIA_TYPES.values())


def test_no_other_module_spells_out_the_format_table():
    """A second table of formats or media types is how the five copies drifted apart (issue 16)."""
    table = re.compile(r'"(WEBP|JPEG)"\s*:\s*"(image/|jpg|webp)')
    offenders = [str(p.relative_to(ROOT)) for folder in ("ml", "verification", "worker", "portal")
                 for p in (ROOT / folder).rglob("*.py")
                 if p != ROOT / "ml" / "formats.py" and "migrations" not in p.parts
                 and (table.search(p.read_text()) or '".webp"' in p.read_text())]
    assert offenders == []
