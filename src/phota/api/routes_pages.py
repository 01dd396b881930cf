"""Pages for people: /docs and /redoc with assets served from an installed package (no CDN),
and the /playground, a static page that talks to the public API only."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

DOCS_ASSETS = "/docs-assets"
PLAYGROUND = "/playground"
_PLAYGROUND_DIR = Path(__file__).with_name("playground")
_NAV = (
    '<nav style="font:14px sans-serif;padding:8px 20px;background:#1b1f24;color:#eee">'
    'Phota API · <a style="color:#8cf" href="/playground/">Playground</a> · '
    '<a style="color:#8cf" href="/docs">Swagger UI</a> · <a style="color:#8cf" href="/redoc">ReDoc</a></nav>'
)


# The pages may load nothing from other hosts (ReDoc's sidebar links a logo on a CDN, for one).
_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; font-src 'self' data:"
)


def _with_nav(page: HTMLResponse) -> HTMLResponse:
    html = bytes(page.body).decode().replace("<body>", "<body>" + _NAV, 1)
    return HTMLResponse(html, headers={"Content-Security-Policy": _CSP})


def install(app: FastAPI, openapi_url: str, title: str) -> None:
    """Serve /docs, /redoc (create the app with docs_url=None, redoc_url=None) and /playground."""
    # fastapi-offline-docs ships Swagger UI's bundle and stylesheet and ReDoc's standalone script.
    assets = Path(str(files("fastapi_offline_docs") / "static"))
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")
    app.mount(PLAYGROUND, StaticFiles(directory=_PLAYGROUND_DIR, html=True), name="playground")
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def swagger() -> HTMLResponse:
        return _with_nav(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{title} - Swagger UI",
                swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{PLAYGROUND}/favicon.svg",
            )
        )

    @router.get("/redoc")
    def redoc() -> HTMLResponse:
        return _with_nav(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{title} - ReDoc",
                redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
                redoc_favicon_url=f"{PLAYGROUND}/favicon.svg",
                with_google_fonts=False,
            )
        )

    @router.get(PLAYGROUND)
    def playground() -> RedirectResponse:
        return RedirectResponse(f"{PLAYGROUND}/")

    app.include_router(router)
