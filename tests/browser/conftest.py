"""Browser tests: one real server (tests/live_servers.py) on the suite's test database, and Debian's Chromium
driven by Playwright's sync API (never `playwright install`: the browser is /usr/bin/chromium).

The accounts come from the `auth` fixture of tests/conftest.py (same database, same JWT secret), so a test
can log them in through the console's form with conftest.PASSWORD. Screenshots go to tests/screenshots/
(kept out of git); with UPDATE_DOC_SCREENSHOTS=1 (`make screenshots`) the main screens are also copied to
docs/screenshots/ for the README.
"""

import os
import shutil
from pathlib import Path

import pytest
from conftest import PASSWORD
from live_servers import start_servers
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "screenshots"
DOC_SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A tile server that never answers here: tests route its requests (abort = tiles fail, fulfil = tiles load).
TILE_HOST = "https://tiles.example.test"
TILE_URL = TILE_HOST + "/{z}/{x}/{y}.png"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
POSITION = {"latitude": 52.520008, "longitude": 13.404954}

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def console_url(tmp_path_factory):
    """One API server for every browser test (tables are emptied before each test by the `app` fixture)."""
    settings = {
        "SSE_POLL_SECONDS": "0.2",
        "SSE_HEARTBEAT_SECONDS": "5",
        "MAP_TILE_URL": TILE_URL,
        "TRACK_RATE_LIMIT": "1000/minute",
        "LOGIN_LIMIT_PER_IP": "1000 per 15 minutes",
        # Sessions are revoked behind the server's back (SQL) and the very next page load must see it.
        "SESSION_CACHE_SECONDS": "0",
    }
    root = tmp_path_factory.mktemp("console")
    settings["POD_STORAGE_DIR"] = str(root / "pod")  # proof photos and signatures of the browser tests
    with start_servers(root, names=("console",), **settings) as servers:
        yield f"http://127.0.0.1:{servers['console']}"


@pytest.fixture(scope="session")
def playwright():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`; make test does)"
        )
    with sync_playwright() as running:
        yield running


def launch(playwright, *extra_args):
    """Debian's Chromium, headless."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args]
    )


@pytest.fixture(scope="session")
def browser(playwright):
    browser = launch(playwright)
    yield browser
    browser.close()


class Pages:
    """New pages, each in its own browser context (its own sessionStorage: one user each).

    Any uncaught script error, or anything the Content-Security-Policy refused, fails the test.
    """

    def __init__(self, browser, base_url):
        self.browser = browser
        self.base_url = base_url
        self.contexts = []
        self.problems = []

    def new(self, viewport=DESKTOP, **options):
        context = self.browser.new_context(
            base_url=self.base_url, viewport=viewport, locale="en-GB", **options
        )
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda err: self.problems.append(f"script error: {err}"))
        page.on("console", self._console)
        return page

    def _console(self, message):
        if message.type == "error" and "Content Security Policy" in message.text:
            self.problems.append(f"CSP: {message.text}")

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser, console_url, app):
    """Open pages with pages.new(); the test fails on script errors and CSP refusals."""
    opened = Pages(browser, console_url)
    yield opened
    opened.close()
    assert not opened.problems, opened.problems


def login(page, user, password=PASSWORD):
    """Log `user` in through the console's form and wait for their role's first screen."""
    page.goto("/")
    form = page.locator("#login-form")
    form.get_by_label("Email or username").fill(user.login)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Log in").click()
    expect(page.locator("#who-name")).to_contain_text(user.login)


def shoot(page, name, doc=False):
    """Save a screenshot to tests/screenshots/ (and, with UPDATE_DOC_SCREENSHOTS=1, to docs/screenshots/)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
    if doc and os.environ.get("UPDATE_DOC_SCREENSHOTS") == "1":
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SHOTS / f"{name}.png")
    return path


def no_horizontal_scroll(page):
    """The page is no wider than its viewport."""
    width = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width[0] <= width[1], f"page is {width[0]} px wide in a {width[1]} px viewport"
