"""The app's lifespan (server/app.py) changes the interpreter's GIL switch interval and freezes the GC while it
runs, and gives both back when it ends, so that a process starting many apps one after another (a test session)
keeps its own values."""

from __future__ import annotations

import gc
import sys

from harness import live_server, make_settings

from server.app import GIL_SWITCH_INTERVAL_S


async def test_the_switch_interval_and_the_gc_are_given_back_when_the_app_stops(tmp_path, sqlite_url):
    # given an interpreter with its own switch interval and nothing frozen
    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    gc.unfreeze()
    try:
        # when an app runs
        async with live_server(make_settings(tmp_path, sqlite_url)):
            # then it uses its interval, with the objects allocated at start-up frozen
            assert sys.getswitchinterval() == GIL_SWITCH_INTERVAL_S == 0.0005
            assert gc.get_freeze_count() > 0
        # and once it has stopped, the interpreter has its interval back and nothing frozen
        assert sys.getswitchinterval() == 0.004
        assert gc.get_freeze_count() == 0
    finally:
        sys.setswitchinterval(previous)
