"""The browser page of ``dynahate serve``: ``GET /`` and its two assets, shipped as package data.

``page.html``, ``page.js`` and ``page.css`` (beside this module) are read once from the package and
served as they are: no build step, no third-party origin, works offline. The page calls only
``GET /health`` and ``POST /v1/classify``, the API every client uses; it adds no endpoint to the API.
Each of its responses carries a Content-Security-Policy that allows this origin's script, style and
requests and nothing else (no inline script, no inline style, no frames, no form submission), so a
post the page shows as text could not run even if it were inserted as HTML. The routes are outside
``/v1``, so they stay open when ``API_KEY`` is set (they hold no data; ``/health`` is open too):
the page asks for the key and sends it as ``Authorization: Bearer`` to ``/v1/classify``.
``dynahate serve --no-page`` leaves the routes out (``GET /`` is then a 404).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

# The page's assets: URL path -> (package data file of dynahate.serve, media type)
ASSETS = {
    "/": ("page.html", "text/html; charset=utf-8"),
    "/page.js": ("page.js", "text/javascript; charset=utf-8"),
    "/page.css": ("page.css", "text/css; charset=utf-8"),
}

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                           "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def asset_bytes(name: str, package: str = "dynahate.serve") -> bytes:
    return resources.files(package).joinpath(name).read_bytes()


def add_page_routes(app: Any, assets: dict[str, tuple[str, str]] = ASSETS, package: str = "dynahate.serve") -> None:
    """``GET /``, ``/page.js`` and ``/page.css`` (and ``HEAD``) on ``app``, each with :data:`HEADERS`; ``assets``
    and ``package`` name another page's files (``dynahate collect serve``'s)."""
    from fastapi.responses import Response

    def route(body: bytes, media_type: str):
        async def asset() -> Response:
            return Response(content=body, media_type=media_type, headers=HEADERS)
        return asset

    for path, (name, media_type) in assets.items():
        # read at startup: a missing file fails the server's start, not a request
        app.add_api_route(path, route(asset_bytes(name, package), media_type), methods=["GET", "HEAD"],
                          include_in_schema=False)
