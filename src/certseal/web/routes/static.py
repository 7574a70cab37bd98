"""The pages' static files (/static/<name>): the ES modules and style sheets of the console, the holder portal and
the public record page.  Only the files listed here are served, each with its media type, nosniff and no-cache (so
a new release's scripts are picked up at once)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(tags=["static"])

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_JS = "text/javascript; charset=utf-8"
_CSS = "text/css; charset=utf-8"
ASSETS: dict[str, str] = {
    "console.js": _JS,
    "portal.js": _JS,
    "console.css": _CSS,
    "public.js": _JS,
    "qr-verify.js": _JS,
    "public.css": _CSS,
}


def _asset(name: str, media_type: str) -> Callable[[], FileResponse]:
    def asset() -> FileResponse:
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
        return FileResponse(STATIC_DIR / name, media_type=media_type, headers=headers)

    return asset


for _name, _media_type in ASSETS.items():
    router.add_api_route(f"/static/{_name}", _asset(_name, _media_type), methods=["GET"], include_in_schema=False)
