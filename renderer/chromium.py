"""Locating the Chromium binary and watching its processes.

The project runs the distribution's Chromium (Debian ``apt-get install
chromium``) through Playwright's ``executable_path``; ``playwright install``
is optional (DESIGN.md, "Facts about the stack").
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

SYSTEM_CHROMIUMS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


class ChromiumNotFound(RuntimeError):
    """No usable Chromium executable: a deployment problem, not a render failure."""


def find_chromium(configured: str | None = None, *, bundled: str | None = None) -> str:
    """Return the path of the Chromium executable to launch.

    Order: ``configured`` (an explicit setting; it must exist), then
    ``/usr/bin/chromium``, ``/usr/bin/chromium-browser``, then ``bundled``
    (Playwright's own download, ``playwright.chromium.executable_path``, known
    only once Playwright runs).

    Raises:
        ChromiumNotFound: the configured path is missing or not executable, or
            none of the candidates exists.
    """
    if configured:
        if _is_executable(configured):
            return configured
        raise ChromiumNotFound(
            f"Chromium path {configured!r} is configured but is not an executable file."
        )
    candidates = [*SYSTEM_CHROMIUMS, *([bundled] if bundled else [])]
    for candidate in candidates:
        if _is_executable(candidate):
            return candidate
    raise ChromiumNotFound(
        "No Chromium found; looked at "
        + ", ".join(candidates)
        + ". Install it (apt-get install -y chromium) or configure its path."
    )


def process_tree(root_pid: int) -> frozenset[int]:
    """Pids of ``root_pid`` and all its live descendants, read from ``/proc``.

    Zombies (exited, not yet reaped) count as gone. Empty if ``root_pid`` is
    gone. Linux only.
    """
    children: dict[int, list[int]] = {}
    alive: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _read_stat(int(entry.name))
        if stat is None:
            continue
        state, ppid = stat
        if state != "Z":
            alive.add(int(entry.name))
            children.setdefault(ppid, []).append(int(entry.name))
    if root_pid not in alive:
        return frozenset()
    found, todo = set(), [root_pid]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return frozenset(found)


def live_pids(pids: frozenset[int] | set[int]) -> frozenset[int]:
    """The subset of ``pids`` still running (not gone, not a zombie)."""
    return frozenset(pid for pid in pids if (_read_stat(pid) or ("Z",))[0] != "Z")


def kill_chromium(pids: frozenset[int]) -> None:
    """SIGKILL those of ``pids`` that are still Chromium processes (a pid may have been reused)."""
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"chrom" in command:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _read_stat(pid: int) -> tuple[str, int] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; fields follow the last ')'.
    state, ppid = text.rsplit(")", 1)[1].split()[:2]
    return state, int(ppid)


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)
