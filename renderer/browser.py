"""One warm Chromium per process that prints certificates to PDF and PNG.

Each render gets a fresh browser context with JavaScript disabled and every
non-``data:`` request aborted (DESIGN.md, "Rendering"); a browser that died is
relaunched once per render; concurrency and time per render are bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any, Self

from playwright.async_api import (
    Browser,
    BrowserContext,
    Playwright,
    Route,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from renderer.chromium import (
    CLEANUP_TIMEOUT_S,
    BrowserGone,
    LaunchedChromium,
    Process,
    find_chromium,
    quietly,
)
from renderer.template import CertificateData, render_html

LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
# A4 landscape at 96 dpi: 297 x 210 mm.
VIEWPORT = {"width": 1123, "height": 794}
CONTEXT_OPTIONS: dict[str, Any] = {
    "java_script_enabled": False,
    "viewport": VIEWPORT,
    "device_scale_factor": 1,
    "service_workers": "block",
    "accept_downloads": False,
    "locale": "en-GB",
    "timezone_id": "UTC",
    "color_scheme": "light",
}
# Playwright reports a dead browser or page with one of these in the message.
GONE_MARKERS = ("has been closed", "target closed", "browser closed", "crashed", "disconnected")


class RenderError(Exception):
    """A certificate could not be rendered: timeout, Chromium failure, or renderer not running."""


@dataclass(frozen=True, slots=True)
class RenderedCertificate:
    """A printed certificate.

    ``pdf``: one A4 landscape page. ``png``: 1123 x 794 px screenshot (96 dpi).
    ``pdf_sha256``: hex digest of ``pdf``. ``requests_blocked``: requests the
    page tried to make outside ``data:`` URLs, all aborted (0 for a normal
    certificate).
    """

    pdf: bytes
    png: bytes
    pdf_sha256: str
    requests_blocked: int


class CertificateRenderer:
    """A warm headless Chromium shared by all renders of this process.

    Use ``async with CertificateRenderer() as renderer`` or ``start()`` /
    ``close()``. At most ``max_concurrency`` renders run at once, others wait
    (waiting does not count against ``timeout_s``, in seconds). If Chromium
    or the Playwright driver dies, the next render relaunches it (one launch
    however many renders notice) and each affected render is retried once.
    ``launches`` counts launches (1 + relaunches).

    Raises (from ``start``):
        ChromiumNotFound: no Chromium binary (see ``find_chromium``).
        RenderError: Chromium failed to start.
    """

    start_error: str | None = None

    def __init__(
        self, *, chromium_path: str | None = None, max_concurrency: int = 2, timeout_s: float = 20.0
    ) -> None:
        if max_concurrency < 1 or timeout_s <= 0:
            raise ValueError("max_concurrency must be >= 1 and timeout_s > 0")
        self.chromium_path = chromium_path
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.launches = 0
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._executable = ""
        self._launch: asyncio.Task[LaunchedChromium] | None = None
        self._cleanups: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start Playwright and launch Chromium; does nothing if already started."""
        if self._launch is not None:
            return
        self._playwright = await async_playwright().start()
        try:
            self._executable = find_chromium(
                self.chromium_path, bundled=self._playwright.chromium.executable_path
            )
            self._launch = asyncio.create_task(self._new_chromium(None))
            await self._launch
        except BaseException as exc:
            self.start_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            await self.close()
            raise

    async def close(self) -> None:
        """Close Chromium and Playwright and wait until Chromium's processes are gone."""
        launch, self._launch = self._launch, None
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)
        if launch is not None:
            with contextlib.suppress(Exception):
                await (await launch).dispose()
        if self._playwright is not None:
            await quietly(self._playwright.stop())
            self._playwright = None

    @property
    def browser_pid(self) -> int | None:
        """Pid of the current Chromium browser process, if running."""
        chromium = self._current()
        return chromium.pid if chromium else None

    def processes(self) -> frozenset[Process]:
        """The current Chromium process tree (browser, zygotes, GPU, renderers...)."""
        chromium = self._current()
        return chromium.processes() if chromium else frozenset()

    def open_contexts(self) -> int:
        """Browser contexts currently open (each render opens and closes one)."""
        chromium = self._current()
        return len(chromium.browser.contexts) if chromium else 0

    async def render(
        self, data: CertificateData, *, timeout_s: float | None = None
    ) -> RenderedCertificate:
        """Print ``data`` as a one-page A4 landscape PDF and a PNG.

        ``timeout_s`` overrides the renderer's per-render limit (seconds).

        Raises:
            RenderError: timed out, Chromium failed twice, or the renderer is not running.
        """
        return await self.render_page(render_html(data), timeout_s=timeout_s)

    async def render_page(self, html: str, *, timeout_s: float | None = None) -> RenderedCertificate:
        """Print an HTML document with the same isolation as ``render`` (lower level)."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        async with self._semaphore:
            try:
                async with asyncio.timeout(limit):
                    return await self._render_with_retry(html)
            except TimeoutError as exc:
                raise RenderError(f"rendering took longer than {limit} s") from exc

    async def _render_with_retry(self, html: str) -> RenderedCertificate:
        chromium = await self._chromium()
        try:
            return await self._render_once(chromium, html)
        except BrowserGone:
            pass
        except PlaywrightError as exc:
            if chromium.browser.is_connected() and not _says_gone(exc):
                raise RenderError(f"Chromium failed: {exc.message}") from exc
        chromium = await self._chromium(replacing=chromium)
        try:
            return await self._render_once(chromium, html)
        except (BrowserGone, PlaywrightError) as exc:
            raise RenderError(f"Chromium failed again after a relaunch: {exc}") from exc

    async def _render_once(self, chromium: LaunchedChromium, html: str) -> RenderedCertificate:
        blocked = 0

        async def block(route: Route) -> None:
            nonlocal blocked
            with contextlib.suppress(PlaywrightError):
                if route.request.url.startswith("data:"):
                    await route.continue_()
                else:
                    blocked += 1
                    await route.abort("blockedbyclient")

        async def print_page() -> tuple[bytes, bytes]:
            context = await asyncio.shield(opening)
            await context.route("**/*", block)
            page = await context.new_page()
            await page.set_content(html, wait_until="load")
            pdf = await page.pdf(format="A4", landscape=True, print_background=True)
            return pdf, await page.screenshot(type="png", full_page=False)

        # Shielded so that a timeout while the context is being created cannot
        # orphan it: _discard_context waits for it and closes it.
        opening = asyncio.ensure_future(chromium.browser.new_context(**CONTEXT_OPTIONS))
        try:
            pdf, png = await chromium.unless_gone(print_page())
        finally:
            await self._discard_context(opening, chromium)
        return RenderedCertificate(
            pdf=pdf, png=png, pdf_sha256=hashlib.sha256(pdf).hexdigest(), requests_blocked=blocked
        )

    async def _discard_context(
        self, opening: asyncio.Future[BrowserContext], chromium: LaunchedChromium
    ) -> None:
        # Its own task, shielded: a second cancellation cannot stop the close.
        cleanup = asyncio.ensure_future(_close_context(opening, chromium))
        self._cleanups.add(cleanup)
        cleanup.add_done_callback(self._cleanups.discard)
        await asyncio.shield(cleanup)

    def _current(self) -> LaunchedChromium | None:
        launch = self._launch
        if launch is None or not launch.done() or launch.cancelled() or launch.exception():
            return None
        return launch.result()

    async def _chromium(self, *, replacing: LaunchedChromium | None = None) -> LaunchedChromium:
        """The live browser; relaunched (once, for all waiters) if dead or ``replacing``."""
        async with self._lock:
            launch = self._launch
            if launch is None:
                reason = f" (Chromium could not start: {self.start_error})" if self.start_error else ""
                raise RenderError(f"the renderer is not running{reason}")
            if launch.done():
                previous = self._current()
                if previous is None or previous is replacing or not previous.browser.is_connected():
                    launch = self._launch = asyncio.create_task(self._new_chromium(previous))
        return await asyncio.shield(launch)

    async def _new_chromium(self, previous: LaunchedChromium | None) -> LaunchedChromium:
        if previous is not None:
            await previous.dispose()
        assert self._playwright is not None
        try:
            browser = await self._launch_browser()
        except PlaywrightError:
            # The Node driver itself may have died: restart it once.
            await quietly(self._playwright.stop())
            self._playwright = await async_playwright().start()
            try:
                browser = await self._launch_browser()
            except PlaywrightError as exc:
                raise RenderError(f"Chromium failed to start: {exc.message}") from exc
        self.launches += 1
        return await LaunchedChromium.attach(browser)

    async def _launch_browser(self) -> Browser:
        assert self._playwright is not None
        return await self._playwright.chromium.launch(
            executable_path=self._executable, args=list(LAUNCH_ARGS), headless=True
        )


async def render_certificate(renderer: CertificateRenderer, data: CertificateData) -> RenderedCertificate:
    """Render ``data`` with the process's warm ``renderer``; see ``CertificateRenderer.render``."""
    return await renderer.render(data)


def _says_gone(exc: PlaywrightError) -> bool:
    message = str(exc).lower()
    return any(marker in message for marker in GONE_MARKERS)


async def _close_context(opening: asyncio.Future[BrowserContext], chromium: LaunchedChromium) -> None:
    """Close the context once it exists; give up at once if Chromium is gone (nothing to close)."""
    if opening.cancelled():
        return
    with contextlib.suppress(Exception):
        context = await asyncio.wait_for(chromium.unless_gone(asyncio.shield(opening)), CLEANUP_TIMEOUT_S)
        await asyncio.wait_for(chromium.unless_gone(context.close()), CLEANUP_TIMEOUT_S)
    opening.cancel()  # no-op once done
