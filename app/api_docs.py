"""``/docs`` without the network: Swagger UI from a local package, not FastAPI's CDN default.

kg is an offline product, so the interactive API docs load their JavaScript and CSS from the
``swagger-ui-py`` package's static folder (Swagger UI 5, which reads FastAPI's OpenAPI 3.1).
Without that package ``/docs`` is a plain page pointing to ``/openapi.json``. ReDoc (CDN only)
is switched off.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def swagger_static() -> Path | None:
    """The folder holding swagger-ui-bundle.js and swagger-ui.css, if installed."""
    spec = importlib.util.find_spec("swagger_ui")  # found without importing it
    for root in (spec.submodule_search_locations or []) if spec else []:
        static = Path(root) / "static"
        if (static / "swagger-ui-bundle.js").is_file() and (static / "swagger-ui.css").is_file():
            return static
    return None


def mount_docs(app: FastAPI, title: str) -> None:
    """``/docs`` (and its assets) on an app created with ``docs_url=None, redoc_url=None``."""
    static = swagger_static()
    openapi_url = app.openapi_url or "/openapi.json"
    if static is not None:
        app.mount(ASSETS, StaticFiles(directory=static), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if static is None:
            return HTMLResponse(
                f"<!doctype html><title>{title} API</title><h1>{title} API</h1>"
                "<p>The interactive docs need the <code>swagger-ui-py</code> package "
                f"(<code>pip install swagger-ui-py</code>). The API description is at "
                f'<a href="{openapi_url}">{openapi_url}</a>.</p>'
            )
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )
