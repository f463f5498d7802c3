"""``certify serve`` as an operator runs it: links follow the port served unless CERTIFY_PUBLIC_URL says otherwise."""

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
import pytest
from harness import TEST_SECRET, free_port

from models.enums import Role
from server.auth import TokenService
from server.cli import served_url
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CREATE = 'mutation { createOrganisation(input: {name: "Port Org"}) { organisation { id } } }'
EXPORT = "{ exportSittings { url } }"


@asynccontextmanager
async def certify_serve(tmp_path: Path, port: int, public_url: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """``certify serve --port port`` (SQLite in ``tmp_path``, no rendering), healthy, until the block ends."""
    env = {**os.environ, "CERTIFY_DATA_DIR": str(tmp_path / f"data-{port}"), "CERTIFY_JWT_SECRET": TEST_SECRET}
    for name in ("CERTIFY_PUBLIC_URL", "CERTIFY_DATABASE_URL", "CERTIFY_HTTP_KEEP_ALIVE_SECONDS"):
        env.pop(name, None)
    env |= {"CERTIFY_RENDER_ENABLED": "false", **({"CERTIFY_PUBLIC_URL": public_url} if public_url else {})}
    command = [
        sys.executable,
        "-c",
        "from server.cli import main; raise SystemExit(main())",
        "serve",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            async with asyncio.timeout(60):
                while True:
                    try:
                        if (await http.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.2)
            yield http
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


async def export_url(tmp_path: Path, port: int, public_url: str | None) -> str:
    """Start ``certify serve --port port``, ask an analyst's export URL, stop it."""
    tokens = TokenService(Settings(jwt_secret=TEST_SECRET, data_dir=tmp_path))
    async with certify_serve(tmp_path, port, public_url) as http:
        platform = {"Authorization": f"Bearer {tokens.mint(role=Role.PLATFORM_ADMIN, subject='p')}"}
        made = (await http.post("/graphql", json={"query": CREATE}, headers=platform)).json()
        org = made["data"]["createOrganisation"]["organisation"]["id"]
        analyst = tokens.mint(role=Role.ANALYST, subject="a", organisation_gid=org)
        answer = await http.post("/graphql", json={"query": EXPORT}, headers={"Authorization": f"Bearer {analyst}"})
        return answer.json()["data"]["exportSittings"]["url"]


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def answer_on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Send HEALTH on an open connection; the status line of its answer (b"" when the server had closed it)."""
    writer.write(HEALTH)
    await writer.drain()
    status = await reader.readline()
    if status:
        head = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
        await reader.readexactly(int(head.split("content-length:")[1].split("\r\n")[0]))
    return status.strip()


@pytest.mark.slow
async def test_an_idle_connection_is_kept_past_a_load_balancers_sixty_seconds_default_not_uvicorns_five(tmp_path):
    # given the server as an operator starts it, and one HTTP/1.1 connection to it that has been answered
    async with certify_serve(tmp_path, free_port()) as http:
        port = http.base_url.port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            assert await answer_on(reader, writer) == b"HTTP/1.1 200 OK"

            # when the connection stays idle for longer than uvicorn's own keep-alive of 5 s
            await asyncio.sleep(6.5)

            # then the next request on it is answered, as a client reusing its pooled connection expects
            assert await answer_on(reader, writer) == b"HTTP/1.1 200 OK"
        finally:
            writer.close()
    assert Settings().http_keep_alive_seconds == 75


@pytest.mark.slow
async def test_links_follow_the_port_served_unless_the_public_url_is_set(tmp_path):
    # given two free ports
    first, second = free_port(), free_port()

    # when the server runs on each, once without CERTIFY_PUBLIC_URL and once with it
    own = await export_url(tmp_path, first, None)
    configured = await export_url(tmp_path, second, "https://certify.example.org")

    # then the first link names the port served, the second the configured address
    assert own.startswith(f"http://127.0.0.1:{first}/exports/"), own
    assert configured.startswith("https://certify.example.org/exports/"), configured


def test_the_served_url_names_a_wildcard_host_as_loopback():
    assert served_url("0.0.0.0", 8080) == "http://127.0.0.1:8080"
    assert served_url("::", 8080) == "http://127.0.0.1:8080"
    assert served_url("10.1.2.3", 9000) == "http://10.1.2.3:9000"
    assert served_url("::1", 9000) == "http://[::1]:9000"
