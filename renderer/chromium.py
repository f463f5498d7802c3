"""Locating the Chromium binary, and one launched Chromium with its processes.

The project runs the distribution's Chromium through Playwright's
``executable_path``; ``playwright install`` is optional (README.md,
"Rendering"). Debian's ``chromium-headless-shell`` is preferred to the
full ``chromium``: it is the same Blink without the browser UI, and opening a
context with its page costs about a third as much CPU (BENCHMARKS.md, "rendering").
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import NamedTuple, TypeVar

from playwright.async_api import Browser
from playwright.async_api import Error as PlaywrightError

SYSTEM_CHROMIUMS = ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium", "/usr/bin/chromium-browser")
# How long closing a context or a browser may take before we give up on it.
CLEANUP_TIMEOUT_S = 5.0
# How long a browser past a render's deadline has to answer a DevTools call
# before it counts as hung (a healthy one answers in milliseconds, even busy).
PROBE_TIMEOUT_S = 2.0
T = TypeVar("T")
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


class ChromiumNotFound(RuntimeError):
    """No usable Chromium executable: a deployment problem, not a render failure."""


class BrowserGone(Exception):
    """Chromium disconnected during a render attempt (internal: the render is retried)."""


def find_chromium(configured: str | None = None, *, bundled: str | None = None) -> str:
    """Return the path of the Chromium executable to launch.

    Order: ``configured`` (an explicit setting; it must exist), then
    ``/usr/bin/chromium-headless-shell``, ``/usr/bin/chromium``,
    ``/usr/bin/chromium-browser``, then ``bundled``
    (Playwright's own download, ``playwright.chromium.executable_path``, known
    only once Playwright runs).

    Raises:
        ChromiumNotFound: the configured path is missing or not executable, or
            none of the candidates exists.
    """
    if configured:
        if _is_executable(configured):
            return configured
        raise ChromiumNotFound(f"Chromium path {configured!r} is configured but is not an executable file.")
    candidates = [*SYSTEM_CHROMIUMS, *([bundled] if bundled else [])]
    for candidate in candidates:
        if _is_executable(candidate):
            return candidate
    raise ChromiumNotFound(
        "No Chromium found; looked at "
        + ", ".join(candidates)
        + ". Install it (apt-get install -y chromium-headless-shell) or configure its path."
    )


class Process(NamedTuple):
    """A process, told apart from a later one reusing its pid by its start time."""

    pid: int
    started: int  # clock ticks since boot, /proc/<pid>/stat field 22


def process_tree(root_pid: int) -> frozenset[Process]:
    """``root_pid`` and all its running descendants, read from ``/proc`` (Linux).

    Zombies (exited, not yet reaped) count as gone. Empty if ``root_pid`` is gone.
    """
    children: dict[int, list[Process]] = {}
    running: dict[int, Process] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _read_stat(int(entry.name))) is not None:
            process, ppid = stat
            running[process.pid] = process
            children.setdefault(ppid, []).append(process)
    if root_pid not in running:
        return frozenset()
    found: set[Process] = set()
    todo = [running[root_pid]]
    while todo:
        process = todo.pop()
        if process not in found:
            found.add(process)
            todo.extend(children.get(process.pid, ()))
    return frozenset(found)


def still_running(processes: Iterable[Process]) -> frozenset[Process]:
    """Those of ``processes`` still running: same pid and start time, not a zombie."""
    return frozenset(p for p in processes if (stat := _read_stat(p.pid)) is not None and stat[0] == p)


def kill_processes(processes: Iterable[Process]) -> None:
    """SIGKILL those of ``processes`` still running (never a later process with a reused pid)."""
    for process in still_running(processes):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)


def adopt_orphans() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``); False if refused.

    When the browser process dies abruptly its zygote and renderer
    processes lose their parent. Without this they are handed to PID 1,
    which in a container without an init never reaps them: they stay as
    zombies. As their subreaper this process reaps them (:func:`clear_orphans`).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


async def clear_orphans(executable: str, *, timeout_s: float = 1.0) -> int:
    """Kill and reap the Chromium processes handed to this process (see :func:`adopt_orphans`); return how many were reaped.

    An adopted orphan is a process whose parent is this process and whose
    command is ``executable``'s: this process never starts Chromium itself
    (Playwright's driver does), so such a process is what is left of a dead
    browser, never a child other code is waiting for. Live ones get
    SIGKILL; zombies are reaped; waits up to ``timeout_s`` seconds for them.
    """
    command = Path(executable).name[:15]  # /proc/<pid>/comm keeps 15 characters
    reaped = 0
    for _ in range(max(1, int(timeout_s / 0.05))):
        orphans = _orphans(command)
        if not orphans:
            break
        for pid, zombie in orphans:
            with contextlib.suppress(ChildProcessError, ProcessLookupError):
                if not zombie:
                    os.kill(pid, signal.SIGKILL)
                elif os.waitpid(pid, os.WNOHANG)[0]:  # noqa: ASYNC222 - WNOHANG never blocks
                    reaped += 1
        await asyncio.sleep(0.05)
    return reaped


def _orphans(command: str) -> list[tuple[int, bool]]:
    """(pid, is a zombie) of this process's children running ``command``."""
    me, found = os.getpid(), []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and text[text.find("(") + 1 : text.rfind(")")] == command:
            found.append((int(entry.name), fields[0] == "Z"))
    return found


def _read_stat(pid: int) -> tuple[Process, int] | None:
    """(process, parent pid) for a running ``pid``; None if gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; fields follow the last ')'.
    fields = text.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return Process(pid, int(fields[19])), int(fields[1])


class LaunchedChromium:
    """One launched browser: its Playwright handle, its process tree, whether it disconnected.

    ``frames_on_demand``: whether its pages draw a frame only when asked
    (``HeadlessExperimental.beginFrame``, :meth:`renderer.page.Tab.screenshot`);
    set to False once the browser answers that it does not. ``frame_lock`` is
    held while one of its pages draws such a frame: the headless shell
    crashes when two pages draw at once.
    """

    def __init__(self, browser: Browser, pid: int | None) -> None:
        self.browser = browser
        self.pid = pid
        self.frames_on_demand = True
        self.frame_lock = asyncio.Lock()
        self.gone = asyncio.Event()
        browser.on("disconnected", lambda _: self.gone.set())
        if not browser.is_connected():
            self.gone.set()

    @classmethod
    async def attach(cls, browser: Browser) -> LaunchedChromium:
        """Wrap a just-launched ``browser``, asking it (over CDP) for its process id."""
        return cls(browser, await _browser_pid(browser))

    def processes(self) -> frozenset[Process]:
        """The browser process and its descendants still running (empty once it died)."""
        return process_tree(self.pid) if self.pid else frozenset()

    async def unless_gone(self, work: Awaitable[T]) -> T:
        """Await ``work``, or cancel it and raise BrowserGone once Chromium disconnects.

        Playwright 1.65 can leave a call pending forever when Chromium is killed
        under it (seen with ``new_page``); without this the render would only
        end at its timeout.
        """
        task = asyncio.ensure_future(work)
        watch = asyncio.ensure_future(self.gone.wait())
        try:
            done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
            task.cancel()  # no-op once done
            task.add_done_callback(_retrieve)
        if task in done:
            return task.result()
        raise BrowserGone("Chromium disconnected during the render")

    async def answers(self, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
        """Whether the browser answers a DevTools ``Browser.getVersion`` within ``timeout_s`` seconds.

        False once it has disconnected, and for a browser that is stopped
        (SIGSTOP) or stuck: its socket stays open but nothing comes back.
        """
        if self.gone.is_set():
            return False
        try:
            async with asyncio.timeout(timeout_s):
                session = await self.unless_gone(self.browser.new_browser_cdp_session())
                await self.unless_gone(session.send("Browser.getVersion"))
                await self.unless_gone(session.detach())
        except (TimeoutError, BrowserGone, PlaywrightError):
            return False
        return True

    async def kill(self) -> None:
        """SIGKILL every process of the browser (a stopped one too) and wait until Playwright sees it gone.

        The driver, the browser's parent, reaps it; waits at most ``CLEANUP_TIMEOUT_S``.
        """
        kill_processes(self.processes())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.gone.wait(), CLEANUP_TIMEOUT_S)

    async def dispose(self) -> None:
        """Close the browser and make sure none of its processes survive."""
        processes = self.processes()
        await quietly(self.browser.close())
        for _ in range(50):
            if not still_running(processes):
                return
            await asyncio.sleep(0.05)
        kill_processes(processes)


async def quietly(awaitable: Awaitable[object]) -> None:
    """Await a clean-up step, ignoring its failure and giving up after CLEANUP_TIMEOUT_S."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(awaitable, CLEANUP_TIMEOUT_S)


def _retrieve(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()  # mark a late failure as seen: the caller has moved on


async def _browser_pid(browser: Browser) -> int | None:
    """The browser process id, from CDP ``SystemInfo.getProcessInfo``."""
    try:
        session = await browser.new_browser_cdp_session()
        try:
            info = await session.send("SystemInfo.getProcessInfo")
        finally:
            await session.detach()
    except PlaywrightError:
        return None
    return next((p["id"] for p in info["processInfo"] if p["type"] == "browser"), None)


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)
