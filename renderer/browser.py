"""One warm Chromium per process that prints certificates to PDF and PNG.

Every render gets a fresh document in an isolated browser context with
JavaScript disabled and every non-``data:`` request aborted (docs/RULES.md,
"Rendering"). A context serves at most ``renders_per_context`` renders, one at
a time, and is closed after any failure: with no script, no network and no
storage there is nothing one certificate's document can leave for the next,
and reusing the page saves the ~0.1 CPU-second that a new renderer process
costs (BENCHMARKS.md, "rendering"). ``renders_per_context=1`` gives every render
its own context. A browser that died is relaunched once per render; one that
stops answering (a render past its deadline, then no reply to a DevTools call
within 2 s) is killed and relaunched, and what is left of a dead browser is
killed and reaped (:func:`renderer.chromium.adopt_orphans`). Concurrency and
time per render are bounded. The tabs themselves (one context, its page,
printing) are :mod:`renderer.page`.

With ``browser_idle_close_s`` set, Chromium is closed (its processes gone) and
Playwright's Node driver stopped once no render has run for that long: between
bursts of renders the two hold ≈ 300 MB RSS for nothing (docs/ARCHITECTURE.md,
"Memory"). The next render starts both again, once for all renders arriving
together, and takes ≈ 0.6 s instead of ≈ 0.1 s warm (the launch); renders that
arrive while the close runs wait for it, then launch (:mod:`renderer.idle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Self

from playwright.async_api import Error as PlaywrightError

from renderer.chromium import BrowserGone, LaunchedChromium, Process, adopt_orphans, clear_orphans, find_chromium
from renderer.driver import LAUNCH_ARGS, Driver  # noqa: F401 - LAUNCH_ARGS re-exported for tests and benchmarks
from renderer.idle import IdleWatch
from renderer.page import RenderedCertificate, Tab, close_tab
from renderer.template import CertificateData, CertificatePage

# A context idle this long is closed, and its renderer process ends with it: the next render after a
# quiet spell opens a new one (≈ 0.1 CPU-second) instead of three renderers holding ≈ 150 MB between bursts.
IDLE_CLOSE_S = 10.0
log = logging.getLogger(__name__)
# Playwright reports a dead browser or page with one of these in the message.
GONE_MARKERS = ("has been closed", "target closed", "browser closed", "crashed", "disconnected")


class RenderError(Exception):
    """A certificate could not be rendered: timeout, Chromium failure, or renderer not running."""


class CertificateRenderer:
    """A warm headless Chromium shared by all renders of this process.

    Use ``async with CertificateRenderer() as renderer`` or ``start()`` /
    ``close()``. At most ``max_concurrency`` renders run at once, others wait
    (waiting does not count against ``timeout_s``, in seconds). Each render
    takes an idle browser context or opens one; a context is closed after
    ``renders_per_context`` renders, after any failed render and once idle for
    ``idle_close_s`` seconds (its renderer process ends with it), so there are
    never more than ``max_concurrency`` contexts open. If Chromium or the
    Playwright driver dies, the next render relaunches it (one launch however
    many renders notice) and each affected render is retried once.
    With ``browser_idle_close_s`` (seconds; None: never), Chromium is closed
    and the driver stopped once no render has been in progress (running or
    waiting) for that long since the last one ended or ``start``; the next
    render launches both again (``idle_closed`` meanwhile).
    ``launches`` counts launches (1 + relaunches), ``contexts_opened`` the
    browser contexts opened so far.

    Raises (from the constructor):
        ValueError: a limit out of range (``browser_idle_close_s`` must be above 0 or None).

    Raises (from ``start``):
        ChromiumNotFound: no Chromium binary (see ``find_chromium``).
        RenderError: Chromium failed to start.
    """

    start_error: str | None = None

    def __init__(
        self,
        *,
        chromium_path: str | None = None,
        max_concurrency: int = 3,
        timeout_s: float = 20.0,
        renders_per_context: int = 100,
        idle_close_s: float = IDLE_CLOSE_S,
        browser_idle_close_s: float | None = None,
    ) -> None:
        if max_concurrency < 1 or timeout_s <= 0 or renders_per_context < 1:
            raise ValueError("max_concurrency and renders_per_context must be >= 1 and timeout_s > 0")
        self.chromium_path = chromium_path
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.renders_per_context = renders_per_context
        self.idle_close_s = idle_close_s
        self._idle_timer: asyncio.TimerHandle | None = None
        self.launches = 0
        self.contexts_opened = 0
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._lock = asyncio.Lock()
        self._driver = Driver()
        self._executable = ""
        self._launch: asyncio.Task[LaunchedChromium] | None = None
        self._idle: list[Tab] = []
        self._cleanups: set[asyncio.Task[None]] = set()
        self._watch = IdleWatch(browser_idle_close_s, self._close_for_idleness)
        self._asleep = False  # closed for idleness: the next render launches again

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def executable(self) -> str:
        """Path of the Chromium binary in use ("" before ``start``)."""
        return self._executable

    @property
    def browser_idle_close_s(self) -> float | None:
        """Seconds without a render after which Chromium and the driver are closed (None: never)."""
        return self._watch.after_s

    @property
    def idle_closed(self) -> bool:
        """Whether Chromium is down for idleness: being closed, closed, or launching for the first render since."""
        launch = self._launch
        return self._asleep and (launch is None or not launch.done())

    async def start(self) -> None:
        """Start Playwright and launch Chromium now (even after an idle close); does nothing if already running."""
        if self._launch is not None:
            return
        await self._watch.stop()
        self._asleep = False
        playwright = await self._driver.start()
        try:
            self._executable = find_chromium(self.chromium_path, bundled=playwright.chromium.executable_path)
            adopt_orphans()
            self._launch = asyncio.create_task(self._new_chromium(None))
            await self._launch
        except BaseException as exc:
            self.start_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            await self.close()
            raise
        self._watch.arm()

    async def close(self) -> None:
        """Close Chromium and Playwright and wait until Chromium's processes are gone (in any state)."""
        await self._watch.stop()  # an idle close in progress ends first
        self._asleep = False
        launch, self._launch = self._launch, None
        await self._shut_down(launch)

    async def _close_for_idleness(self) -> None:
        """Close Chromium and stop the driver: no render for ``browser_idle_close_s``; the next render relaunches."""
        async with self._lock:  # renders arriving now wait in _chromium, then launch
            launch = self._launch
            if self._watch.active or launch is None or not launch.done():
                return
            self._launch, self._asleep = None, True
            await self._shut_down(launch)
        log.info("Chromium and its driver closed after %g s without a render", self._watch.after_s)

    async def _shut_down(self, launch: asyncio.Task[LaunchedChromium] | None) -> None:
        """Close the contexts, the browser of ``launch`` (until its processes are gone) and the driver."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)
        self._idle.clear()  # closed with the browser
        if launch is not None:
            with contextlib.suppress(Exception):
                await (await launch).dispose()
        await self._driver.stop()
        if self._executable:  # anything of Chromium's the driver left is now this process's to reap
            await clear_orphans(self._executable)

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
        """Browser contexts currently open, idle or rendering (at most ``max_concurrency``)."""
        chromium = self._current()
        return len(chromium.browser.contexts) if chromium else 0

    def idle_contexts(self) -> int:
        """Open browser contexts waiting for their next render."""
        return len(self._idle)

    async def render(self, data: CertificateData, *, timeout_s: float | None = None) -> RenderedCertificate:
        """Print ``data`` as a one-page A4 landscape PDF and a PNG.

        Every text gets the largest size at which it fits its box, or is
        clamped with an ellipsis at the smallest, its full text kept in the
        PDF's text layer and metadata (``renderer.template.FIT_RULES``).
        ``timeout_s`` overrides the renderer's per-render limit (seconds).

        Raises:
            RenderError: timed out, Chromium failed twice, or the renderer is not running.
        """
        with self._watch.busy():
            # Off the event loop: a large photo takes ~25 ms to scale (Pillow releases the GIL).
            page = await asyncio.to_thread(CertificatePage, data)
            return await self._render(page, timeout_s)

    async def render_page(self, html: str, *, timeout_s: float | None = None) -> RenderedCertificate:
        """Print an HTML document with the same isolation as ``render`` (lower level)."""
        with self._watch.busy():
            return await self._render(html, timeout_s)

    async def _render(self, document: str | CertificatePage, timeout_s: float | None) -> RenderedCertificate:
        limit = self.timeout_s if timeout_s is None else timeout_s
        async with self._semaphore:
            attempt = asyncio.ensure_future(self._render_with_retry(document))
            try:
                done, _ = await asyncio.wait({attempt}, timeout=limit)
            except BaseException:
                attempt.cancel()
                await asyncio.wait({attempt})
                raise
            if attempt in done:
                return attempt.result()
            # Cancelled first, so that a browser killed below is not retried by this render.
            attempt.cancel()
            await self._replace_if_hung()
            await asyncio.wait({attempt})
            attempt.add_done_callback(_retrieve)
            raise RenderError(f"rendering took longer than {limit} s")

    async def _replace_if_hung(self) -> None:
        """After a render's deadline: a browser that does not answer a DevTools call is killed and relaunched.

        A stopped or stuck Chromium keeps its socket open, so Playwright never
        reports it gone; without this every later render would wait for its
        deadline too. Killing it first also lets the timed-out render's
        clean-up give up at once instead of waiting for the hung browser.
        """
        chromium = self._current()
        if chromium is None or await chromium.answers():
            return
        log.warning(
            "Chromium (pid %s) did not answer after a render deadline: killing and relaunching it", chromium.pid
        )
        await chromium.kill()
        with contextlib.suppress(Exception):
            await self._chromium(replacing=chromium)

    async def _render_with_retry(self, document: str | CertificatePage) -> RenderedCertificate:
        chromium = await self._chromium()
        try:
            return await self._render_once(chromium, document)
        except BrowserGone:
            pass
        except PlaywrightError as exc:
            if chromium.browser.is_connected() and not _says_gone(exc):
                raise RenderError(f"Chromium failed: {exc.message}") from exc
        chromium = await self._chromium(replacing=chromium)
        try:
            return await self._render_once(chromium, document)
        except (BrowserGone, PlaywrightError) as exc:
            raise RenderError(f"Chromium failed again after a relaunch: {exc}") from exc

    async def _render_once(self, chromium: LaunchedChromium, document: str | CertificatePage) -> RenderedCertificate:
        tab = self._idle_tab(chromium)
        # Shielded so that a timeout while the context is being opened cannot
        # orphan it: _discard waits for it and closes it.
        opening = asyncio.ensure_future(self._open_tab(chromium) if tab is None else _ready(tab))

        async def print_page() -> RenderedCertificate:
            return await (await asyncio.shield(opening)).print(document)

        try:
            rendered = await chromium.unless_gone(print_page())
        except BaseException:
            await self._discard(opening, chromium)
            raise
        tab = opening.result()
        tab.renders += 1
        if tab.renders >= self.renders_per_context or self._current() is not chromium:
            await self._discard(opening, chromium)
        else:
            tab.idle_since = asyncio.get_running_loop().time()
            self._idle.append(tab)
            self._arm_idle_close()
        return rendered

    def _arm_idle_close(self) -> None:
        if self._idle_timer is None and self._idle:
            due = min(tab.idle_since for tab in self._idle) + self.idle_close_s
            self._idle_timer = asyncio.get_running_loop().call_at(due, self._close_idle)

    def _close_idle(self) -> None:
        """Close the contexts idle for ``idle_close_s``: each keeps a renderer process (≈ 50 MB PSS) alive."""
        self._idle_timer = None
        chromium = self._current()
        cutoff = asyncio.get_running_loop().time() - self.idle_close_s
        for tab in [tab for tab in self._idle if tab.idle_since <= cutoff]:
            self._idle.remove(tab)
            if chromium is not None:
                opened = asyncio.get_running_loop().create_future()
                opened.set_result(tab)
                cleanup = asyncio.ensure_future(close_tab(opened, chromium))
                self._cleanups.add(cleanup)
                cleanup.add_done_callback(self._cleanups.discard)
        self._arm_idle_close()

    def _idle_tab(self, chromium: LaunchedChromium) -> Tab | None:
        """An idle context of ``chromium``; those of a previous browser are dropped."""
        while self._idle:
            tab = self._idle.pop()
            if tab.chromium is chromium:
                return tab
        return None

    async def _open_tab(self, chromium: LaunchedChromium) -> Tab:
        tab = await Tab.open(chromium)
        self.contexts_opened += 1
        return tab

    async def _discard(self, opening: asyncio.Future[Tab], chromium: LaunchedChromium) -> None:
        # Its own task, shielded: a second cancellation cannot stop the close.
        cleanup = asyncio.ensure_future(close_tab(opening, chromium))
        self._cleanups.add(cleanup)
        cleanup.add_done_callback(self._cleanups.discard)
        await asyncio.shield(cleanup)

    def _current(self) -> LaunchedChromium | None:
        launch = self._launch
        if launch is None or not launch.done() or launch.cancelled() or launch.exception():
            return None
        return launch.result()

    async def _chromium(self, *, replacing: LaunchedChromium | None = None) -> LaunchedChromium:
        """The live browser; launched again (once, for all waiters) if dead, ``replacing`` or closed for idleness."""
        async with self._lock:
            launch = self._launch
            if launch is None and self._asleep:
                launch = self._launch = asyncio.create_task(self._new_chromium(None))
            elif launch is None:
                reason = f" (Chromium could not start: {self.start_error})" if self.start_error else ""
                raise RenderError(f"the renderer is not running{reason}")
            elif launch.done():
                self._asleep = False  # any launch after an idle close has ended
                previous = self._current()
                if previous is None or previous is replacing or not previous.browser.is_connected():
                    launch = self._launch = asyncio.create_task(self._new_chromium(previous))
        return await asyncio.shield(launch)

    async def _new_chromium(self, previous: LaunchedChromium | None) -> LaunchedChromium:
        if previous is not None:
            await previous.dispose()
            await clear_orphans(self._executable)
        try:
            browser = await self._driver.launch(self._executable)
        except PlaywrightError as exc:
            raise RenderError(f"Chromium failed to start: {exc.message}") from exc
        except Exception as exc:  # the driver itself did not start
            raise RenderError(f"Playwright's driver failed to start: {exc}") from exc
        self.launches += 1
        return await LaunchedChromium.attach(browser)


async def render_certificate(renderer: CertificateRenderer, data: CertificateData) -> RenderedCertificate:
    """Render ``data`` with the process's warm ``renderer``; see ``CertificateRenderer.render``."""
    return await renderer.render(data)


def _says_gone(exc: PlaywrightError) -> bool:
    message = str(exc).lower()
    return any(marker in message for marker in GONE_MARKERS)


async def _ready(tab: Tab) -> Tab:
    return tab


def _retrieve(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()  # a failure after the deadline is the timeout's, already reported
