"""Playwright's Node driver, started when needed, and the Chromium browsers launched through it.

:class:`renderer.browser.CertificateRenderer` starts the driver at ``start``,
restarts it when a launch fails (the driver itself may have died) and stops
it with the browser, at ``close`` and after an idle spell
(:mod:`renderer.idle`): the driver alone is ≈ 120 MB RSS (docs/ARCHITECTURE.md, "Memory").
"""

from __future__ import annotations

import os

from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from renderer.chromium import quietly

LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # One process instead of three while no render runs (a renderer per busy context joins it):
    # GPU compositing (software) in the browser process, no zygotes. Each extra process maps the
    # same ≈ 50 MB of Chromium again, which counts in every RSS (docs/ARCHITECTURE.md, "Memory").
    "--in-process-gpu",
    "--no-zygote",
    # Frames drawn only when asked (the headless shell; Chromium ignores it): one per certificate,
    # the one its PNG is taken from (renderer.page.Tab.screenshot), instead of a frame composited
    # after the page loads, after its text is fitted and after it is printed (≈ 12 ms CPU each time).
    "--deterministic-mode",
)
# The Playwright driver (Node) inherits the environment: 1 MB young-generation semi-spaces instead
# of 16 MB keep ≈ 35 MB less of it resident, at the cost of more (sub-millisecond) scavenges.
DRIVER_NODE_OPTIONS = "--max-semi-space-size=1"


class Driver:
    """Playwright's driver process: ``playwright`` while it runs, None while stopped."""

    def __init__(self) -> None:
        self.playwright: Playwright | None = None

    async def start(self) -> Playwright:
        """The running driver, started first if stopped (``NODE_OPTIONS`` set to ``DRIVER_NODE_OPTIONS`` unless set).

        Raises:
            Exception: whatever Playwright raises when its driver cannot start.
        """
        if self.playwright is None:
            os.environ.setdefault("NODE_OPTIONS", DRIVER_NODE_OPTIONS)  # an operator's own value wins
            self.playwright = await async_playwright().start()
        return self.playwright

    async def launch(self, executable: str) -> Browser:
        """A headless Chromium (``executable``, ``LAUNCH_ARGS``); if that fails the driver is restarted and it is tried once more.

        Raises:
            playwright.async_api.Error: the second launch failed too.
            Exception: the driver could not start (see ``start``).
        """
        try:
            return await self._launch(executable)
        except PlaywrightError:
            await self.stop()
            return await self._launch(executable)

    async def stop(self) -> None:
        """Stop the driver, if it runs (giving up after ``CLEANUP_TIMEOUT_S``); never raises."""
        playwright, self.playwright = self.playwright, None
        if playwright is not None:
            await quietly(playwright.stop())

    async def _launch(self, executable: str) -> Browser:
        playwright = await self.start()
        return await playwright.chromium.launch(executable_path=executable, args=list(LAUNCH_ARGS), headless=True)
