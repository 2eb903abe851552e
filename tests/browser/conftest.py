"""What the browser tests share: Debian's Chromium driven by Playwright, and every test here skipped, saying how
to install it, where it is missing (`.ci/run` installs it)."""

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(autouse=True)
def chromium_installed() -> None:
    if shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed: `apt-get install -y chromium` (Debian) runs the browser tests.")


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
