"""The billing console's files: served by name, self-contained, no third-party code."""

from __future__ import annotations

import re

import pytest

from chalicelib.api.console import ASSET_NAME, CONSOLE_DIR, console_asset, console_page

FILES = sorted(path.name for path in CONSOLE_DIR.iterdir() if path.is_file())
SCRIPTS = [name for name in FILES if name.endswith(".js")]
IMPORT = re.compile(r"""^import\s[^"']*from\s+["']([^"']+)["'];?$""", re.MULTILINE)


def test_every_file_can_be_served() -> None:
    assert "index.html" in FILES and "app.js" in FILES and "style.css" in FILES
    for name in FILES:
        assert name == "index.html" or ASSET_NAME.match(name), f"{name} would not be served"


def test_the_page_and_its_files() -> None:
    page = console_page()
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in str(page.headers["Content-Security-Policy"])
    assert 'src="console/app.js"' in page.body and 'href="console/style.css"' in page.body
    script = console_asset("app.js")
    assert (script.status_code, script.headers["Content-Type"]) == (200, "text/javascript; charset=utf-8")
    style = console_asset("style.css")
    assert (style.status_code, style.headers["Content-Type"]) == (200, "text/css; charset=utf-8")


@pytest.mark.parametrize("name", ["index.html", "../api/console.py", "..", "app.py", "APP.JS", "missing.js", ""])
def test_anything_else_is_not_found(name: str) -> None:
    response = console_asset(name)
    assert response.status_code == 404
    assert response.body["error"]["code"] == "not_found"


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_import_only_our_own_modules(name: str) -> None:
    source = (CONSOLE_DIR / name).read_text(encoding="utf-8")
    for target in IMPORT.findall(source):
        assert target.startswith("./") and (CONSOLE_DIR / target[2:]).is_file(), f"{name} imports {target}"
    # Nothing is loaded from elsewhere: the only absolute URL is the SVG namespace.
    assert set(re.findall(r"https?://[^\s\"'`]+", source)) <= {"http://www.w3.org/2000/svg"}, name
    assert "innerHTML" not in source and "eval(" not in source, name
