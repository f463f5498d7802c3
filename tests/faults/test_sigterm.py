"""SIGTERM to ``certify serve`` during traffic: in-flight requests finish, websockets close with 1012, exit 0.

A real ``certify serve`` process on PostgreSQL is stopped while a big
``certifySittings`` and a large query are being answered and subscribers
are connected on both websocket protocols (docs/RULES.md, "Realtime").
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from builders import build_world
from harness import TEST_SECRET, GraphQLClient, free_port, postgres_database
from ws_client import LEGACY_WS, ws_session

from models.enums import Role
from server.auth import TokenService
from server.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
SITTINGS = 1000
GRACE_SECONDS = 20
CERTIFY_ALL = """
mutation { certifySittings(input: {selection: {all: true}, idempotencyKey: "all"}) {
  certifiedCount creditBalance errors { code message } } }
"""
LARGE_QUERY = """
{ sittings(first: 500, orderBy: {field: TAKEN_AT, direction: ASC}) {
    totalCount edges { node { id score testTaker { name email sittings(first: 5) { totalCount } } } } } }
"""
STATUS_CHANGED = "subscription { sittingStatusChanged { status sitting { id } } }"
LIVE_SITTINGS = "subscription { liveSittings(first: 3) { totalCount } }"
BUSY = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_xid IS NOT NULL"


def start_server(env: dict[str, str], port: int) -> subprocess.Popen:
    command = [str(ROOT / ".venv" / "bin" / "certify"), "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True, stderr=subprocess.DEVNULL)


async def wait_ready(process: subprocess.Popen, url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=5) as http, asyncio.timeout(60):
        while True:
            assert process.poll() is None, "the server exited before it was ready"
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_sigterm_lets_in_flight_requests_finish_closes_websockets_with_1012_and_exits_0(tmp_path):
    async with postgres_database() as database_url:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "CERTIFY_DATABASE_URL": database_url,
            "CERTIFY_DATA_DIR": str(tmp_path / "data"),
            "CERTIFY_JWT_SECRET": TEST_SECRET,
            "CERTIFY_RENDER_ENABLED": "false",
            "CERTIFY_LOG_LEVEL": "warning",
            "CERTIFY_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        }
        tokens = TokenService(Settings(jwt_secret=TEST_SECRET, data_dir=tmp_path))
        platform_token = tokens.mint(role=Role.PLATFORM_ADMIN, subject="platform")
        process = start_server(env, port)
        try:
            await wait_ready(process, url)
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                platform = GraphQLClient(http, platform_token)
                world = await build_world(platform, sittings=SITTINGS, credits=SITTINGS + 5)
                other = await build_world(platform, sittings=1, credits=0, name="Other Org", prefix="other")
            admin = tokens.mint(role=Role.ORG_ADMIN, subject="admin", organisation_gid=world.organisation_id)
            watcher = tokens.mint(role=Role.ORG_ADMIN, subject="watcher", organisation_gid=other.organisation_id)

            async with (
                ws_session(url.replace("http", "ws") + "/graphql", watcher) as modern,
                ws_session(url.replace("http", "ws") + "/graphql", watcher, LEGACY_WS) as legacy,
                httpx.AsyncClient(base_url=url, timeout=60) as certifying_http,
                httpx.AsyncClient(base_url=url, timeout=60) as querying_http,
            ):
                # given subscribers on both protocols (of another organisation: no event reaches them)
                await modern.subscribe("status", STATUS_CHANGED)
                await modern.subscribe("live", LIVE_SITTINGS)
                assert await modern.data("live") == {"liveSittings": {"totalCount": 1}}
                await legacy.subscribe("status", STATUS_CHANGED)
                # and a big certification and a large query in flight
                certifying = asyncio.create_task(GraphQLClient(certifying_http, admin).post(CERTIFY_ALL))
                querying = asyncio.create_task(GraphQLClient(querying_http, admin).post(LARGE_QUERY))
                observer = await asyncpg.connect(database_url)
                try:
                    async with asyncio.timeout(10):
                        while await observer.fetchval(BUSY, database_url.rsplit("/", 1)[1]) == 0:
                            await asyncio.sleep(0.005)
                finally:
                    await observer.close()
                assert not certifying.done()

                # when the server gets SIGTERM
                stopped_at = time.monotonic()
                os.kill(process.pid, signal.SIGTERM)

                # then new connections are refused at once
                async with asyncio.timeout(2):
                    while not refuses_connections(port):
                        await asyncio.sleep(0.01)
                # websockets close with 1012 ("service restart", RFC 6455 7.4.1 via IANA): clients reconnect
                assert await modern.close_code(timeout=5) == 1012
                assert await legacy.close_code(timeout=5) == 1012
                # every in-flight request gets its whole answer
                certified = await certifying
                answered = await querying

            assert certified["data"] == {
                "certifySittings": {"certifiedCount": SITTINGS, "creditBalance": 5, "errors": []}
            }
            assert "errors" not in answered, answered
            assert answered["data"]["sittings"]["totalCount"] == SITTINGS
            assert len(answered["data"]["sittings"]["edges"]) == 500
            # and the process ends by itself with status 0 within the grace period
            returncode = await asyncio.to_thread(process.wait, GRACE_SECONDS + 10)
            assert returncode == 0
            assert time.monotonic() - stopped_at < GRACE_SECONDS
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

        # nothing half-written: every invariant of the data holds
        check = await asyncio.to_thread(
            subprocess.run,
            [str(ROOT / ".venv" / "bin" / "certify"), "check"],
            check=False,
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stdout.rstrip().endswith(": 0 violations"), check.stdout
