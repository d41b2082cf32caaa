"""The operator console: ``GET /console``, a static page that reads the public API with the
operator's own bearer token (README, "Operator console").

The gateway serves the page, its script and styles and a vendored Chart.js from
``services/gateway/console/`` (nothing is fetched from elsewhere), plus the Chinese names of
the categories; every figure on the page comes from the API, so the token decides what the
operator sees. The token never reaches the gateway with the page: the operator pastes it, or
it arrives in the URL fragment (``/console#token=...``), and the page keeps it in
``sessionStorage``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

DIRECTORY = Path(__file__).with_name("console")
ASSETS = "/console/assets"

# The page runs only its own files; Chart.js draws on canvases and needs nothing more.
POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/console")
async def page() -> FileResponse:
    return FileResponse(DIRECTORY / "index.html", media_type="text/html", headers=PAGE_HEADERS)


@cache
def labels() -> dict[str, Any]:
    """Chinese names of the categories, from intake's classification rules."""
    text = resources.files("intake.data").joinpath("categories.json").read_text("utf-8")
    categories = json.loads(text)["categories"]
    return {"categories": {code: body["name"] for code, body in categories.items()}}


@router.get("/console/labels.json")
async def console_labels() -> JSONResponse:
    return JSONResponse(labels(), headers={"Cache-Control": "max-age=300"})


def install(app: FastAPI) -> None:
    """Adds the page, its labels and its static files to the gateway."""
    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=DIRECTORY), name="console-assets")
