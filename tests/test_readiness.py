"""GET /readyz: the database, the broadcaster and the renderer each answer, or the response says which does not."""

from __future__ import annotations

import asyncio

import pytest
from harness import live_server, make_settings


async def test_ready_when_everything_answers(server):
    # when a running server (rendering off in tests) is asked whether it is ready
    response = await server.http.get("/readyz")

    # then it is, check by check
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "broadcaster": "ok", "renderer": "disabled"},
    }


@pytest.mark.chromium
async def test_a_renderer_that_cannot_start_makes_the_service_unavailable_and_says_why(tmp_path, sqlite_url):
    # given a server whose Chromium path leads nowhere
    settings = make_settings(tmp_path, sqlite_url, render_enabled=True, chromium_path=str(tmp_path / "no-chromium"))
    async with live_server(settings) as server:
        # when it is asked whether it is alive and whether it is ready
        alive = await server.http.get("/healthz")
        ready = await server.http.get("/readyz")

    # then it is alive, serving the API, but not ready: the renderer says why
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok" and body["checks"]["broadcaster"] == "ok"
    assert body["checks"]["renderer"] == (
        f"Chromium is not running: Chromium path '{tmp_path / 'no-chromium'}' is configured but is not an executable file."
    )


@pytest.mark.chromium
async def test_a_renderer_that_closed_its_idle_chromium_stays_ready(tmp_path, sqlite_url):
    # given a rendering server whose Chromium closes after 1 s without a render
    settings = make_settings(tmp_path, sqlite_url, render_enabled=True, render_browser_idle_seconds=1)
    async with live_server(settings) as server:
        renderer = server.state.renderer
        warm = await server.http.get("/readyz")
        assert (renderer.start_error, renderer.idle_closed, renderer.browser_pid is not None) == (None, False, True)

        # when it has been idle long enough for Chromium and its driver to be closed
        deadline = asyncio.get_running_loop().time() + 10
        while renderer.browser_pid is not None or renderer.processes():
            assert asyncio.get_running_loop().time() < deadline, "Chromium was not closed for idleness"
            await asyncio.sleep(0.05)
        asleep = await server.http.get("/readyz")
        alive = await server.http.get("/healthz")

    # then the service is ready the whole time, its renderer check passing
    expected = {"status": "ready", "checks": {"database": "ok", "broadcaster": "ok", "renderer": "ok"}}
    assert (warm.status_code, warm.json()) == (200, expected)
    assert (asleep.status_code, asleep.json()) == (200, expected)
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert (renderer.idle_closed, renderer.launches) == (False, 1)  # closed with the server at the end
