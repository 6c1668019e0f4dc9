"""Browser tests of the billing console: Playwright driving Debian's Chromium, headless.

The stack starts as `make run` starts it (seeded demo agency, DynamoDB Local in
memory, free ports), once for the module. Chromium is the system one
(/usr/bin/chromium, installed by `make chromium`); `playwright install` is never run.
Each test gets a fresh browser context (its own sessionStorage), and fails on any
uncaught error in the page. Screenshots go to .local/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, expect, sync_playwright

from devtools.processes import ROOT
from devtools.run import Stack, start_stack
from tests.conftest import local_stack_config

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / ".local" / "screenshots"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}  # a laptop
PHONE: ViewportSize = {"width": 390, "height": 844}  # a phone held upright


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's Chromium")
    runner = sync_playwright().start()
    try:
        yield runner
    finally:
        runner.stop()


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log = tmp_path_factory.mktemp("browser-stack") / "chalice-local.log"
    config = local_stack_config(log, seed=True)
    running = start_stack(config)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@dataclass
class Console:
    """A signed-in console tab, and what went wrong in it."""

    page: Page
    base: str
    shots: Path
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def open(self, name: str) -> None:
        """Go to a page through the navigation, as a user would, and wait for it to finish loading."""
        self.page.get_by_role("navigation", name="Billing console").get_by_role("link", name=name).click()
        self.wait_idle()

    def wait_idle(self) -> None:
        """Until nothing is loading: the console marks what it waits for (.loading, aria-busy)."""
        expect(self.page.locator(".loading, [aria-busy='true']")).to_have_count(0, timeout=20000)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def alert(self) -> str:
        return self.page.locator("#error").inner_text()

    def status(self) -> str:
        return self.page.locator("#status").inner_text()


@contextmanager
def console_tab(
    browser: Browser, stack: Stack, screenshots: Path, viewport: ViewportSize = VIEWPORT
) -> Iterator[Console]:
    """A fresh browser context (its own sessionStorage) at this size; fails on uncaught page errors."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    tab = Console(page, stack.config.api_url, screenshots)
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    page.on("request", lambda request: tab.requests.append(f"{request.method} {request.url}"))
    try:
        yield tab
    finally:
        context.close()
    assert not tab.errors, f"uncaught errors in the page: {tab.errors}"


@pytest.fixture
def console(browser: Browser, stack: Stack, screenshots: Path) -> Iterator[Console]:
    with console_tab(browser, stack, screenshots) as tab:
        yield tab


def sign_in(tab: Console, token: str) -> None:
    """Open the console URL `make run` prints (the token in the fragment)."""
    tab.page.goto(f"{tab.base}/console#token={token}")
    tab.page.get_by_role("heading", level=1, name="Billing").wait_for()
    tab.wait_idle()
