"""Finding the Chromium binary and watching processes through /proc."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from renderer import ChromiumNotFound, chromium, find_chromium


def test_a_configured_path_wins():
    assert find_chromium(sys.executable, bundled="/nowhere/chrome") == sys.executable


@pytest.mark.parametrize("configured", ["/nonexistent/chromium", "{tmp}"])
def test_a_configured_path_that_cannot_run_is_an_error_not_a_fallback(configured, tmp_path):
    not_executable = tmp_path / "chromium"
    not_executable.write_text("#!/bin/sh\n")
    path = configured.format(tmp=not_executable)

    with pytest.raises(ChromiumNotFound, match="not an executable file"):
        find_chromium(path)


def test_without_a_system_chromium_playwright_s_own_is_used(monkeypatch):
    monkeypatch.setattr(chromium, "SYSTEM_CHROMIUMS", ("/nonexistent/chromium",))

    assert find_chromium(None, bundled=sys.executable) == sys.executable


def test_no_chromium_at_all_names_the_places_looked_at(monkeypatch):
    monkeypatch.setattr(chromium, "SYSTEM_CHROMIUMS", ("/nonexistent/chromium",))

    with pytest.raises(ChromiumNotFound, match="/nonexistent/chromium, /nowhere/chrome"):
        find_chromium(None, bundled="/nowhere/chrome")


def test_process_tree_sees_children_until_they_are_gone():
    child = subprocess.Popen(["sleep", "30"])
    try:
        tree = chromium.process_tree(os.getpid())
        (process,) = [p for p in tree if p.pid == child.pid]
        assert chromium.still_running(tree) >= {process}
    finally:
        child.kill()
        child.wait()
    assert not chromium.still_running({process})
    assert chromium.process_tree(child.pid) == frozenset()


def test_a_reused_pid_is_not_the_same_process():
    me = next(p for p in chromium.process_tree(os.getpid()) if p.pid == os.getpid())

    assert chromium.still_running({me}) == {me}
    assert not chromium.still_running({me._replace(started=me.started - 1)})
