"""The API's own documentation, off unless ``dynahate serve --api-docs``: ``/openapi.json`` and ``/docs``.

FastAPI gives every app ``/docs`` and ``/redoc`` (pages whose scripts come from a CDN, sent with no
Content-Security-Policy) and ``/openapi.json``, all open even when ``API_KEY`` is set.
:func:`remove_framework_docs` takes the three out. With ``--api-docs``, :func:`add_api_docs` serves
``/openapi.json`` (the schema) and ``/docs`` (Swagger UI, whose script and style come from the one CDN file
each that FastAPI names), behind the API key when one is set (:data:`API_DOCS_PATHS`, checked by
:mod:`dynahate.serve.middleware`). ``/docs`` carries a policy that allows those two files, the page's one
inline script by its SHA-256 and requests to this origin, nothing else. ReDoc is not served: it needs inline
styles and workers that such a policy forbids.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

# FastAPI reads the endpoints' annotations by name: what they name must be module-level
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse

SWAGGER_JS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
SWAGGER_CSS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
API_DOCS_PATHS = (OPENAPI_PATH, DOCS_PATH)

HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


def remove_framework_docs(app: Any) -> None:
    """Take FastAPI's ``/openapi.json``, ``/docs``, ``/docs/oauth2-redirect`` and ``/redoc`` out of ``app``."""
    paths = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
    app.router.routes[:] = [route for route in app.router.routes if getattr(route, "path", None) not in paths]
    app.openapi_url = app.docs_url = app.redoc_url = app.swagger_ui_oauth2_redirect_url = None


def inline_scripts(html: str) -> list[str]:
    """The text of each ``<script>`` element without ``src`` in ``html``."""
    return re.findall(r"<script>(.*?)</script>", html, re.S)


def content_security_policy(html: str) -> str:
    """The policy of the docs page ``html``: the two CDN files, its inline scripts by hash, this origin."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"
                      for text in inline_scripts(html))
    return (f"default-src 'none'; script-src {SWAGGER_JS} {hashes}; style-src {SWAGGER_CSS}; "
            "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def add_api_docs(app: Any) -> None:
    """``GET /openapi.json`` and ``GET /docs`` on ``app`` (left out of the schema themselves)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi(), headers=HEADERS)

    async def docs(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url=request.scope.get("root_path", "") + OPENAPI_PATH,
                                   title="dynahate serve: the API", swagger_js_url=SWAGGER_JS,
                                   swagger_css_url=SWAGGER_CSS, swagger_favicon_url="data:,")
        html = bytes(page.body).decode()
        return HTMLResponse(html, headers={**HEADERS, "Content-Security-Policy": content_security_policy(html)})

    app.add_api_route(OPENAPI_PATH, openapi, methods=["GET"], include_in_schema=False)
    app.add_api_route(DOCS_PATH, docs, methods=["GET"], include_in_schema=False)
