"""``/console/``: the web console, a static single page that is a client of the JSON API and nothing else.

The page and its scripts carry no data and need no key: everything it shows comes from ``/v1/...`` calls
the browser makes with the key the user typed (``Authorization: Bearer``), so the auth matrix of the API is
the console's too and an unauthenticated visitor only ever gets the sign-in form. Files are served from
``static/console`` (the app: plain ES modules, HTML, CSS) and ``static/vendor`` (uPlot's dist files,
vendored with its licence; ``package.json`` pins the same version and ``tests/test_console_assets.py``
checks the copy against ``node_modules``), both packaged in the wheel, so the gateway image needs no Node.

Every console response carries a strict Content-Security-Policy: scripts, styles and connections from this
origin only (no inline script or style, no third-party request), no framing, no plugins.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

STATIC = Path(__file__).parent / "static"
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: assets revalidate with their ETag (a deploy shows at once); the page itself is never stored
ASSET_CACHE = "no-cache"

bp = Blueprint("console", __name__, url_prefix="/console")


@bp.after_request
def console_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONSOLE_CSP
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    return response


@bp.get("/")
def index():
    """The single page (``/console`` redirects here, so the page's relative asset URLs resolve)."""
    response = send_from_directory(STATIC / "console", "index.html", mimetype="text/html", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/assets/<path:name>")
def asset(name: str):
    return _static(STATIC / "console", name)


@bp.get("/vendor/<path:name>")
def vendor(name: str):
    return _static(STATIC / "vendor", name)


def _static(folder: Path, name: str) -> Response:
    response = send_from_directory(folder, name, max_age=0)
    response.headers["Cache-Control"] = ASSET_CACHE
    return response
