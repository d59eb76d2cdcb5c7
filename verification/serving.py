"""Serving stored files (original images, heatmaps, overlays) to the pages and the API alike.

Both doors answer with the same headers: private caching (the bytes are team data), no content
sniffing (the type is the one Verity decided from the content), and, where a name is given, a
sanitised inline file name."""

from __future__ import annotations

from django.http import Http404, HttpResponse

from ml.formats import media_type

from . import storage


def _safe_filename(name: str) -> str:
    return "".join(c for c in name if c.isalnum() or c in "._- ")[:100] or "image"


def stored_file(name: str, content_type: str, filename: str | None = None) -> HttpResponse:
    """The stored file ``name`` as a response; Http404 when storage no longer holds it (the API's
    exception handler turns that into its JSON 404)."""
    try:
        data = storage.read(name)
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    if filename:
        response["Content-Disposition"] = f'inline; filename="{_safe_filename(filename)}"'
    return response


def stored_image(name: str, fmt: str, filename: str | None = None) -> HttpResponse:
    """An original image, with the media type of its (content-decided) format."""
    return stored_file(name, media_type(fmt), filename)
