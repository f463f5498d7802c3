"""GET /readyz: the database, the broadcaster and the renderer each answer, or the response says which does not."""

from __future__ import annotations

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
