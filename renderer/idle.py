"""When no render has run for a while: the watch that closes Chromium and its Playwright driver.

Between bursts of renders an idle Chromium (≈ 190 MB RSS) and Playwright's
Node driver (≈ 120 MB) hold ≈ 300 MB for nothing (docs/ARCHITECTURE.md,
"Memory"). :class:`IdleWatch` counts the renders in progress (running or
waiting for a slot) and, once none has run for ``after_s`` seconds, runs the
renderer's close coroutine in a task of its own; the renderer launches again
for the next render (:class:`renderer.browser.CertificateRenderer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

log = logging.getLogger(__name__)


class IdleWatch:
    """Calls ``close()`` once no render has been in progress for ``after_s`` seconds (never when None).

    ``busy()`` wraps one render, from its arrival to its end (waiting for a
    slot included). Between ``arm()`` and ``stop()`` the clock starts at
    ``arm()`` and again whenever the last render in progress ends. ``close``
    runs at most once at a time, in a task; it must itself give up if a
    render arrived between the timer and its start (``active`` says how many
    are in progress). A failure of ``close`` is logged, never raised.

    Raises (from the constructor):
        ValueError: ``after_s`` is not None and not above 0.
    """

    def __init__(self, after_s: float | None, close: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if after_s is not None and not after_s > 0:
            raise ValueError("browser_idle_close_s must be above 0 seconds, or None")
        self.after_s = after_s
        self.active = 0
        self._close = close
        self._armed = False
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def closing(self) -> bool:
        """Whether ``close`` is running now."""
        return self._task is not None and not self._task.done()

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Count one render in progress for the length of the ``with`` block (no close may start meanwhile)."""
        self.active += 1
        self._cancel_timer()
        try:
            yield
        finally:
            self.active -= 1
            self._start_clock()

    def arm(self) -> None:
        """Watch from now on: start the clock (unless a render is in progress or there is no limit)."""
        self._armed = True
        self._start_clock()

    async def stop(self) -> None:
        """Stop watching and wait for a ``close`` in progress to end (it is not interrupted)."""
        self._armed = False
        self._cancel_timer()
        if self._task is not None:
            await asyncio.wait({self._task})

    def _start_clock(self) -> None:
        if self._armed and self.after_s is not None and not self.active and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.after_s, self._fire)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        if self.active or self.closing:
            return
        self._task = asyncio.get_running_loop().create_task(self._close(), name="certify-chromium-idle-close")
        self._task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("closing the idle Chromium failed", exc_info=error)
