"""Routes: the billing console, a small single-page app served by the service itself.

`GET /console` is the page and `GET /console/{name}` its scripts and style sheet:
static files from `chalicelib/console/` (inside the deployed package). None of them
needs a token: the page asks the user for one and calls the API with it, like any
other client of the API.
"""

from __future__ import annotations

import re
from pathlib import Path

from chalice.app import Blueprint, Response

from .http import error_response

console_bp = Blueprint(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
}
# Flat names only: nothing outside the folder can be asked for.
ASSET_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}\.(js|css)$")

# The page runs our own scripts only; statements and receipts that it opens as
# blob: documents inherit this policy, so no script can run in them either.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # printable statements and receipts carry inline styles
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "frame-src 'self' blob:",
        "object-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _file_response(name: str, kind: str) -> Response:
    path = CONSOLE_DIR / name
    if not path.is_file():
        return error_response(404, "not_found", f"console file {name!r} not found")
    headers: dict[str, str | list[str]] = {
        "Content-Type": CONTENT_TYPES[kind],
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if kind == "html":
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return Response(body=path.read_text(encoding="utf-8"), status_code=200, headers=headers)


@console_bp.route("/console", methods=["GET"])
def console_page() -> Response:
    return _file_response("index.html", "html")


@console_bp.route("/console/{name}", methods=["GET"])
def console_asset(name: str) -> Response:
    match = ASSET_NAME.match(name)
    if match is None:
        return error_response(404, "not_found", f"console file {name!r} not found")
    return _file_response(name, match.group(1))
