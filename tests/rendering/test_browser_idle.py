"""Chromium and Playwright's driver closed after a spell without renders, and launched again for the next one (real Chromium).

A process "of the renderer" is a descendant of this test process running the
renderer's Chromium (its executable, or the binary a wrapper script such as
``/usr/bin/chromium-headless-shell`` runs, by name) or Playwright's Node driver.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from certificate_samples import SAMPLE, certificate, new_renderer, started

from renderer import CertificateRenderer, RenderError
from renderer.chromium import process_tree, still_running

pytestmark = pytest.mark.chromium

IDLE_S = 1.0


def descendants() -> list[int]:
    """Pids of the processes below this one."""
    me = os.getpid()
    return [process.pid for process in process_tree(me) if process.pid != me]


def chromium_pids(renderer: CertificateRenderer) -> list[int]:
    """Descendants of this process whose executable (or its command name) is the renderer's Chromium."""
    names = {Path(renderer.executable).name, Path(os.path.realpath(renderer.executable)).name}
    found = []
    for pid in descendants():
        try:
            exe = Path(os.readlink(f"/proc/{pid}/exe")).name
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if exe in names or any(name[:15] == comm for name in names):
            found.append(pid)
    return found


def driver_pids() -> list[int]:
    """Descendants of this process running Playwright's driver (Node)."""
    found = []
    for pid in descendants():
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if arguments[0].endswith(b"node") and any(b"playwright" in argument for argument in arguments):
            found.append(pid)
    return found


async def wait_until_idle_closed(renderer: CertificateRenderer, *, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while renderer.browser_pid is not None or renderer.processes():
        assert time.monotonic() < deadline, f"Chromium still running {within} s after the idle close was due"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the driver stops after the browser


@pytest.fixture
async def dozing() -> CertificateRenderer:
    """A started renderer whose Chromium and driver close after 1 s without a render; closed at the end."""
    renderer = await started(new_renderer(browser_idle_close_s=IDLE_S))
    try:
        yield renderer
    finally:
        await renderer.close()
    assert (chromium_pids(renderer), driver_pids()) == ([], [])


def test_the_idle_close_must_be_above_zero_seconds():
    with pytest.raises(ValueError, match="above 0"):
        CertificateRenderer(browser_idle_close_s=0)
    assert CertificateRenderer().browser_idle_close_s is None


async def test_after_a_render_and_a_spell_without_one_no_chromium_process_nor_driver_is_left(dozing):
    # given a render, and the renderer's processes while it is warm
    await dozing.render(SAMPLE)
    warm = dozing.processes()
    assert len(chromium_pids(dozing)) >= 1 and len(driver_pids()) == 1
    assert dozing.idle_closed is False

    # when nothing is rendered for 1.5 s
    await asyncio.sleep(1.5)

    # then Chromium and its driver are gone, and the renderer says why
    assert (dozing.processes(), dozing.browser_pid, dozing.open_contexts()) == (frozenset(), None, 0)
    assert not still_running(warm)
    assert (chromium_pids(dozing), driver_pids()) == ([], [])
    assert (dozing.idle_closed, dozing.launches) == (True, 1)


async def test_the_next_render_after_an_idle_close_launches_chromium_again(dozing):
    # given Chromium closed for idleness
    await dozing.render(SAMPLE)
    first_pid = dozing.browser_pid
    await wait_until_idle_closed(dozing)

    # when the next certificate is rendered
    rendered = await dozing.render(certificate(holder_name="Ana Lima"))

    # then it is a PDF, printed by a second launch
    assert rendered.pdf.startswith(b"%PDF")
    assert rendered.png.startswith(b"\x89PNG")
    assert dozing.launches == 2
    assert dozing.idle_closed is False
    assert dozing.browser_pid not in (None, first_pid)
    assert len(driver_pids()) == 1


async def test_renders_arriving_together_after_an_idle_close_share_one_launch(dozing):
    # given Chromium closed for idleness
    await wait_until_idle_closed(dozing)
    assert dozing.launches == 1

    # when 3 renders start at once
    results = await asyncio.gather(*(dozing.render(certificate(holder_name=f"Holder {n}")) for n in range(3)))

    # then the 3 certificates are printed by one more launch
    assert [result.pdf[:4] for result in results] == [b"%PDF"] * 3
    assert len({result.pdf_sha256 for result in results}) == 3
    assert dozing.launches == 2
    assert dozing.contexts_opened == 3


async def test_a_render_arriving_while_the_idle_close_runs_waits_for_it_then_launches(dozing):
    # given a warm Chromium whose idle close has begun and not ended (the driver, stopped last, still runs)
    await dozing.render(SAMPLE)
    warm = dozing.processes()
    deadline = time.monotonic() + 10
    while not dozing.idle_closed:
        assert time.monotonic() < deadline, "the idle close did not begin"
        await asyncio.sleep(0.001)
    assert (dozing.browser_pid, len(driver_pids())) == (None, 1)

    # when a render arrives
    rendered = await dozing.render(SAMPLE)

    # then it succeeds on a new browser, the old one gone
    assert rendered.pdf.startswith(b"%PDF")
    assert dozing.launches == 2
    assert not still_running(warm)
    assert dozing.browser_pid not in {process.pid for process in warm}


async def test_renders_less_than_the_idle_time_apart_keep_the_same_chromium(dozing):
    # given a render every 0.5 s for 2.5 s (2.5 times the idle time)
    await dozing.render(SAMPLE)
    pid = dozing.browser_pid
    for _ in range(5):
        await asyncio.sleep(0.5)
        await dozing.render(SAMPLE)

    # then the browser was never closed
    assert (dozing.launches, dozing.browser_pid, dozing.idle_closed) == (1, pid, False)


async def test_close_after_an_idle_close_leaves_nothing_and_refuses_further_renders():
    # given a renderer whose Chromium was closed for idleness
    renderer = await started(new_renderer(browser_idle_close_s=IDLE_S))
    await renderer.render(SAMPLE)
    warm = renderer.processes()
    await wait_until_idle_closed(renderer)

    # when it is closed
    await renderer.close()

    # then nothing of it is left, and it renders no more
    assert (chromium_pids(renderer), driver_pids()) == ([], [])
    assert not still_running(warm)
    assert (renderer.idle_closed, renderer.browser_pid, renderer.launches) == (False, None, 1)
    with pytest.raises(RenderError, match="not running"):
        await renderer.render(SAMPLE)
