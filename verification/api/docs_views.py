"""The API's Swagger UI and ReDoc pages, served with everything from this server.

The bundles come from drf-spectacular-sidecar; ReDoc's bundle still draws a "Redocly" logo from
its CDN, so these pages carry a Content-Security-Policy that allows only this origin: the logo is
never fetched (ReDoc drops the image when it fails to load), nor anything else from outside."""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

LOCAL_ONLY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
              "script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; font-src 'self' data:; "
              "connect-src 'self'; frame-ancestors 'none'")


class _LocalOnly:
    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        response["Content-Security-Policy"] = LOCAL_ONLY
        return response


class LocalSwaggerView(_LocalOnly, SpectacularSwaggerView):
    template_name = "api/swagger.html"


class LocalRedocView(_LocalOnly, SpectacularRedocView):
    template_name = "api/redoc.html"
