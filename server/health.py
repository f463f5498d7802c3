"""``GET /healthz`` (the process is up) and ``GET /readyz`` (what it depends on answers), for load balancers and operators.

``/readyz`` checks, each within :data:`CHECK_SECONDS`: the database
(``SELECT 1`` on the ORM's connection), the event broadcaster (the hub's
backend is connected), and the renderer (Chromium is running, or closed for
idleness until the next render, when rendering is on in this process;
``"in worker processes"``, which passes, when ``certify worker`` renders).
It answers 200 when every check passes and 503 otherwise, with one line per
check: ``"ok"``, ``"disabled"`` or what failed, in a few words (no stack, no
connection string).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise import connections

from server.state import AppState

CHECK_SECONDS = 2.0
"""How long one check may take before it counts as failed."""
EXTERNAL = "in worker processes"
"""The renderer check's answer when ``CERTIFY_IN_PROCESS_WORKERS=false``: it passes."""
PASSING = ("ok", "disabled", EXTERNAL)


async def health(request: Request) -> Response:
    """``GET /healthz``: 200 ``{"status": "ok"}`` once started, 503 ``"starting"`` before."""
    state: AppState = request.app.state.certify
    return JSONResponse({"status": "ok" if state.ready else "starting"}, status_code=200 if state.ready else 503)


async def readiness(request: Request) -> Response:
    """``GET /readyz``: ``{"status": "ready" | "unavailable", "checks": {name: result}}``, 200 or 503."""
    state: AppState = request.app.state.certify
    checks = {
        "database": await _database(),
        "broadcaster": "ok" if state.hub is not None and state.hub.connected else "not connected",
        "renderer": _renderer(state),
    }
    ready = state.ready and all(result in PASSING for result in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )


async def _database() -> str:
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await connections.get("default").execute_query("SELECT 1")
    except TimeoutError:
        return f"no answer within {CHECK_SECONDS:g} s"
    except Exception as error:  # noqa: BLE001 - any failure is the answer, named by its kind only
        return f"unreachable ({type(error).__name__})"
    return "ok"


def _renderer(state: AppState) -> str:
    if not state.settings.render_enabled:
        return "disabled"
    if not state.settings.in_process_workers:
        # `certify worker` processes render; their Chromium shows as renderingDelayed on the certificates.
        return EXTERNAL
    renderer = state.renderer
    if renderer is not None and renderer.idle_closed:
        return "ok"  # closed while no render needs it; the next render launches it again
    if renderer is None or renderer.browser_pid is None:
        reason = renderer.start_error if renderer is not None and renderer.start_error else "not started"
        return f"Chromium is not running: {reason}"
    return "ok"
