"""What the browser tests share: Debian's Chromium driven by Playwright, and every test here skipped, saying how
to install it, where it is missing (`.ci/run` installs it)."""

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skipped before their services and broker start (every conftest hears of every test: only ours here)."""
    if shutil.which("chromium") is not None:
        return
    missing = pytest.mark.skip(
        reason="Chromium is not installed: `apt-get install -y chromium` (Debian) runs the browser tests."
    )
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(missing)


@pytest.fixture
async def chromium():
    """A headless Chromium of the test's own (`playwright install` cannot fetch one here: Debian's is used)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking"],
        )
        yield browser
        await browser.close()
