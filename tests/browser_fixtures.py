"""Pages opened in Debian's chromium at a phone's width, driven by Playwright (its own browsers are never
downloaded).

The chromium command line cannot do this: headless, it makes no window narrower than 500 CSS pixels
(``--window-size=390,844`` gives a page 500 wide), so a page that overflows 390 would pass unseen. Playwright
sets the viewport itself, as a phone's browser would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PHONE = {"width": 390, "height": 844}
"""A phone's viewport in CSS pixels (an iPhone 12 to 15)."""


def on_a_phone(page: Path, screenshot: Path | None = None) -> tuple[int, int]:
    """``(scroll width, viewport width)`` of the document at *page* in chromium at :data:`PHONE`'s size; a
    screenshot of the first screen too, if asked for. The page is read, never changed."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            tab = browser.new_page(viewport={"width": PHONE["width"], "height": PHONE["height"]})
            tab.goto(page.as_uri())
            widths = tab.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if screenshot is not None:
                tab.screenshot(path=str(screenshot))
        finally:
            browser.close()
    return int(widths[0]), int(widths[1])
