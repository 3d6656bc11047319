"""The web console's files, without a browser or a stack: the vendored uPlot is the one package.json pins,
the page has no inline script or style and names only files that exist, no module reaches another origin,
every file is packaged into the wheel (so the gateway image serves it), and the blueprint answers with the
console's Content-Security-Policy. The browser tests are tests/test_console.py (issue 17)."""

from __future__ import annotations

import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask

from flask_gateway import console

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "flask_gateway" / "static"
VENDORED = {
    "uPlot.iife.min.js": "dist/uPlot.iife.min.js",
    "uPlot.min.css": "dist/uPlot.min.css",
    "LICENSE": "LICENSE",
}


def test_vendored_uplot_is_the_pinned_npm_release_with_its_licence():
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["uplot"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), "pin uPlot exactly: the vendored copy must match it"
    installed = ROOT / "node_modules" / "uplot"
    assert installed.is_dir(), "node_modules/uplot is missing: run `make install` (npm install)"
    assert json.loads((installed / "package.json").read_text())["version"] == pinned
    for name, source in VENDORED.items():
        assert (STATIC / "vendor" / "uplot" / name).read_bytes() == (installed / source).read_bytes(), name
    assert f"(v{pinned})" in (STATIC / "vendor" / "uplot" / "uPlot.iife.min.js").read_text()[:200]
    assert "MIT License" in (STATIC / "vendor" / "uplot" / "LICENSE").read_text()


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "style" or "style" in attributes:
            self.inline.append(f"style in <{tag}>")
        if tag == "script" and not attributes.get("src"):
            self.inline.append("an inline <script>")
        self.inline += [f"{name} on <{tag}>" for name in attributes if name.startswith("on")]
        self.urls += [attributes[a] for a in ("src", "href") if attributes.get(a)]
        if "id" in attributes:
            self.ids.append(attributes["id"])


def test_page_has_no_inline_script_or_style_and_names_only_its_own_files():
    page = _Page()
    page.feed((STATIC / "console" / "index.html").read_text())
    assert page.inline == []
    assert len(page.ids) == len(set(page.ids)), "duplicate ids"
    for url in page.urls:
        assert not re.match(r"^[a-z]+:", url) or url == "data:,", f"{url}: only same-origin files"
        if url.startswith(("assets/", "vendor/")):
            folder, _, name = url.partition("/")
            assert (STATIC / ("console" if folder == "assets" else "vendor") / name).is_file(), url


def test_modules_reach_no_other_origin_and_write_no_markup():
    modules = sorted((STATIC / "console").glob("*.js"))
    assert {m.name for m in modules} >= {"app.js", "api.js", "ask.js", "watch.js", "see.js", "chart.js"}
    for module in modules:
        text = module.read_text()
        # SVG's namespace name is a URI, never fetched
        foreign = re.search(r'https?://(?!www\.w3\.org/2000/svg")', text)
        assert not foreign, f"{module.name} names another origin"
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(", text), module
        for imported in re.findall(r'from "\./([^"]+)"', text):
            assert (STATIC / "console" / imported).is_file(), f"{module.name} imports {imported}"


def test_every_console_file_is_packaged_into_the_wheel():
    """The image installs the wheel only (Dockerfile): a file no package-data glob names would be missing."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    packaged = {path for pattern in globs["flask_gateway"] for path in (ROOT / "flask_gateway").glob(pattern)}
    files = {path for path in STATIC.rglob("*") if path.is_file()}
    assert files and files - packaged == set()


@pytest.fixture()
def client():
    app = Flask(__name__)
    app.register_blueprint(console.bp)
    return app.test_client()


def test_console_is_served_with_a_strict_content_security_policy(client):
    redirect = client.get("/console")
    assert redirect.status_code == 308 and redirect.headers["Location"].endswith("/console/")
    page = client.get("/console/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert page.headers["Cache-Control"] == "no-store"
    script = client.get("/console/assets/app.js")
    assert script.status_code == 200 and script.mimetype in ("text/javascript", "application/javascript")
    assert script.headers["Cache-Control"] == "no-cache" and script.headers["ETag"]
    assert (
        client.get("/console/assets/app.js", headers={"If-None-Match": script.headers["ETag"]}).status_code
        == 304
    )
    assert client.get("/console/vendor/uplot/uPlot.min.css").mimetype == "text/css"
    for escape in (
        "/console/assets/../console.py",
        "/console/assets/%2e%2e/console.py",
        "/console/vendor/../../x",
    ):
        assert client.get(escape).status_code == 404
