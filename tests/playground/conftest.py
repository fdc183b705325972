"""The playground in a real browser: Debian's Chromium, driven by Playwright for Python.

Nothing downloads a browser: Playwright launches the system Chromium (``/usr/bin/chromium``,
or ``IMAGETUNE_TEST_CHROMIUM``). Where there is none, the browser tests skip with the
reason (a failure in CI). Every page a test opens is watched: a console error, an uncaught
exception or a Content-Security-Policy violation fails the test. Screenshots go to
``test-artifacts/playground/`` (ignored by git).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.databases import service_missing
from tests.support import ServerProcess, accounts_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = Path(os.environ.get("IMAGETUNE_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "playground"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# Reports every CSP violation as a console error, which the watcher below collects.
CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


def new_key(server: ServerProcess) -> str:
    """A fresh user's API key on ``server``, made as `imagetune keys create` makes it."""
    accounts = accounts_for(server.data_dir, server.env.get("IMAGETUNE_DATABASE_URL"))
    name = f"browser-{uuid.uuid4().hex[:8]}"
    accounts.create_user(name)
    return accounts.create_key(name).key


@dataclass
class Playground:
    """A browser tab on the playground, with everything it logs."""

    page: Page
    server: ServerProcess
    problems: list[str] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)

    def on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        text = message.text
        # Chromium logs every non-2xx fetch; those a test provokes on purpose are its point.
        failed = re.match(
            r"Failed to load resource: the server responded with a status of (\d+)", text
        )
        if failed and int(failed.group(1)) in self.expected_statuses:
            return
        self.problems.append(f"console error: {text}")

    def expect_http_error(self, status: int) -> None:
        """The test provokes answers with ``status``; Chromium's log of them is expected."""
        self.expected_statuses.add(status)

    def fill_key(self, key: str) -> None:
        self.page.get_by_label("API key").fill(key)

    def choose_image(self, name: str, data: bytes, mime: str = "image/png") -> None:
        self.page.get_by_label("Image").set_input_files(
            {"name": name, "mimeType": mime, "buffer": data}
        )

    @property
    def alert(self) -> Locator:
        return self.page.get_by_role("alert")

    @property
    def status(self) -> Locator:
        return self.page.get_by_role("status")

    def screenshots(self, name: str, focus: Locator | None = None) -> list[Path]:
        """Screenshots at 1280x800 and 390x844 (``focus`` scrolled into view); on the phone
        size, the page must not scroll sideways."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        paths = []
        for size in (DESKTOP, PHONE):
            self.page.set_viewport_size(size)
            if focus is not None:
                focus.scroll_into_view_if_needed()
            else:
                self.page.evaluate("window.scrollTo(0, 0)")
            if size is PHONE:
                overflow = self.page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{name}: the page scrolls sideways on a phone ({overflow}px)"
            path = ARTIFACTS / f"{name}-{size['width']}x{size['height']}.png"
            self.page.screenshot(path=str(path))
            paths.append(path)
        self.page.set_viewport_size(DESKTOP)
        return paths


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Per module, not per session: Playwright's sync API keeps an event loop running in
    # this thread while it is open, and later tests on the same pytest worker (the async
    # client's, with asyncio.run) must not find one.
    if not CHROMIUM.exists():
        service_missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("Playwright for Python is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def open_playground(browser: Browser) -> Iterator[Callable[[ServerProcess], Playground]]:
    """``open_playground(server)``: a fresh tab on the server's page, checked at the end for
    console errors, uncaught exceptions and CSP violations."""
    opened: list[Playground] = []

    def open_(server: ServerProcess) -> Playground:
        context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
        context.add_init_script(CSP_WATCH)
        page = context.new_page()
        page.set_default_timeout(20_000)
        tab = Playground(page, server)
        page.on("console", tab.on_console)
        page.on("pageerror", lambda error: tab.problems.append(f"uncaught: {error}"))
        opened.append(tab)
        response = page.goto(f"{server.base_url}/")
        assert response is not None
        assert response.status == 200
        return tab

    yield open_
    problems = [problem for tab in opened for problem in tab.problems]
    for tab in opened:
        tab.page.context.close()
    assert not problems, "\n".join(problems)
