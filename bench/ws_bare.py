"""The fan-out baseline: a minimal Starlette app that sends the same bytes to every connected websocket.

``GET /ws`` (websocket) accepts any client (and the ``graphql-transport-ws``
subprotocol when offered) and keeps it until it closes; ``POST /broadcast``
sends the request body, as one text frame, to every connected client, one
``await websocket.send_text`` after another, and answers 204 when all are
sent. :func:`serve_bare` runs it with uvicorn in its own process, with the
transport settings ``certify serve`` uses (uvloop, httptools, websockets'
sans-I/O protocol, no permessage-deflate), so the two differ only in what
the application does per event (the performance issue's figure 4 baseline).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

ROOT = Path(__file__).resolve().parents[1]
CLIENTS: set[WebSocket] = set()


async def subscriber(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="graphql-transport-ws" if "graphql-transport-ws" in offered else None)
    CLIENTS.add(websocket)
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        CLIENTS.discard(websocket)


async def broadcast(request: Request) -> Response:
    text = (await request.body()).decode()
    for websocket in list(CLIENTS):
        try:
            await websocket.send_text(text)
        except Exception:  # noqa: BLE001 - a client that left meanwhile
            CLIENTS.discard(websocket)
    return Response(status_code=204)


async def count(request: Request) -> Response:
    return Response(str(len(CLIENTS)))


app = Starlette(
    routes=[WebSocketRoute("/ws", subscriber), Route("/broadcast", broadcast, methods=["POST"]), Route("/count", count)]
)


@asynccontextmanager
async def serve_bare(port: int) -> AsyncIterator[tuple[str, int]]:
    """Run :data:`app` on 127.0.0.1:``port`` in a child process; yields ``(http url, pid)``; stopped afterwards."""
    command = [
        sys.executable, "-m", "uvicorn", "bench.ws_bare:app", "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
        "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)  # noqa: ASYNC220 - started once
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as http, asyncio.timeout(30):
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the bare websocket server exited with {process.returncode}")
                try:
                    if (await http.get("/count")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        yield url, process.pid
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
