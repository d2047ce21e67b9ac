"""/api/docs served from this application alone: Swagger UI's assets come from an installed
package through a local static route, never from a CDN, so the page works on a machine
without internet (FastAPI's default /docs loads them from jsDelivr).

The assets are fastapi-offline's copy of Swagger UI 5: swagger-ui-bundle ships Swagger UI 4,
which cannot read the OpenAPI 3.1 document FastAPI writes ("Unable to render this
definition", caught by tests/browser)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from webapp.auth.api import allow
from webapp.auth.permissions import Action
from webapp.http_guards import policy_with

DOCS_URL = "/api/docs"
ASSETS_URL = "/api/docs-assets"
OPENAPI_URL = "/api/openapi.json"
ASSETS = Path(fastapi_offline.__file__).parent / "static"


def inline_script_hashes(html: str) -> list[str]:
    """The base64 sha256 of each inline ``<script>`` body, as a CSP hash source wants it."""
    bodies = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    return [base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in bodies]


def install_docs(api: FastAPI) -> None:
    """Add /api/docs, its assets and the OpenAPI document; create the app with
    ``docs_url=None, openapi_url=None`` first (the document needs the read permission)."""
    openapi_url = OPENAPI_URL
    redirect_url = f"{DOCS_URL}/oauth2-redirect"
    api.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{api.title} API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        oauth2_redirect_url=redirect_url,
    )
    # The page starts Swagger UI with one inline script, and Swagger UI styles itself
    # inline: the policy allows exactly that script (by its hash) and inline styles here.
    policy = policy_with(inline_script_hashes(bytes(page.body).decode()), inline_styles=True)

    @api.get(openapi_url, include_in_schema=False, dependencies=[allow(Action.READ)])
    async def openapi_document() -> JSONResponse:
        return JSONResponse(api.openapi())

    @api.get(DOCS_URL, include_in_schema=False, dependencies=[allow(Action.READ)])
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(page.body, headers={"Content-Security-Policy": policy})

    @api.get(redirect_url, include_in_schema=False, dependencies=[allow(Action.PUBLIC)])
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
