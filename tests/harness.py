"""The test harness: a fresh database per test and the real app served by uvicorn over real HTTP.

Fixtures built on it live in conftest.py; test modules import helpers from here.

Backends: SQLite always; PostgreSQL when ``CERTIFY_TEST_POSTGRES_URL`` is set
(default ``postgres://postgres@127.0.0.1:5432`` under ``CI=true``). Tests that
need PostgreSQL or Redis skip locally when the server is absent, and fail
under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from gql.ids import to_global_id
from models.enums import Role
from server.app import create_app
from server.auth import TokenService
from server.settings import Settings
from server.uvicorn_ws import WebSocketProtocol

IN_CI = os.environ.get("CI", "").lower() == "true"
PORTRAIT = Path(__file__).resolve().parent / "data" / "portrait.jpg"
POSTGRES_ROOT = os.environ.get("CERTIFY_TEST_POSTGRES_URL") or ("postgres://postgres@127.0.0.1:5432" if IN_CI else None)
REDIS_URL = os.environ.get("CERTIFY_TEST_REDIS_URL") or ("redis://127.0.0.1:6379" if IN_CI else None)
TEST_SECRET = "test-secret-0123456789abcdef0123456789abcdef"
TEST_FILE_URL_SECRET = "test-file-url-secret-0123456789abcdef0123456789"


def unavailable(what: str) -> None:
    """Skip locally, fail under CI=true: CI must run every backend."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true")
    pytest.skip(f"{what} not configured")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SCHEMAS: dict[str, str] = {}
"""Per test process, per backend: a database migrated once (a SQLite file's path, a PostgreSQL database's name).

Each test's database is a copy of it, so a test starts on the current schema in about 0.1 s instead of the
1–3 s that running every migration takes (the server's own ``migrate`` at startup then finds nothing to do).
"""
PROJECT = Path(__file__).resolve().parent.parent


async def migrated(database_url: str) -> None:
    """Run every migration on ``database_url`` in a child process.

    A child, because Tortoise's connections are process-wide: migrating here would close those of a
    test that had Tortoise open on another database.
    """
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import asyncio, sys; from models.db import migrate; asyncio.run(migrate(sys.argv[1]))",
        database_url, cwd=PROJECT,
    )
    if await child.wait() != 0:
        raise RuntimeError(f"migrating the test schema on {database_url} failed")


async def migrated_sqlite_url(path: Path) -> str:
    """``sqlite://{path}``: a fresh SQLite database already holding the current schema."""
    if "sqlite" not in SCHEMAS:
        schema = Path(tempfile.mkdtemp(prefix="certify-schema-")) / "schema.sqlite3"
        await migrated(f"sqlite://{schema}")
        SCHEMAS["sqlite"] = str(schema)
    shutil.copyfile(SCHEMAS["sqlite"], path)
    return f"sqlite://{path}"


async def create_postgres_database(admin: asyncpg.Connection, name: str) -> None:
    """Create ``name`` as a copy of this process's migrated PostgreSQL database (migrated on first use)."""
    if "postgres" not in SCHEMAS:
        schema = f"certify_schema_{uuid.uuid4().hex[:12]}"
        await admin.execute(f'CREATE DATABASE "{schema}"')
        try:
            await migrated(f"{POSTGRES_ROOT}/{schema}")
        except BaseException:
            await admin.execute(f'DROP DATABASE IF EXISTS "{schema}" WITH (FORCE)')
            raise
        SCHEMAS["postgres"] = schema
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{SCHEMAS["postgres"]}"')


async def drop_schemas() -> None:
    """Drop this process's migrated PostgreSQL database and SQLite file (at the end of the test session)."""
    if "sqlite" in SCHEMAS:
        shutil.rmtree(Path(SCHEMAS.pop("sqlite")).parent, ignore_errors=True)
    if "postgres" in SCHEMAS:
        admin = await asyncpg.connect(f"{POSTGRES_ROOT}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{SCHEMAS.pop("postgres")}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def postgres_database(*, schema: bool = True) -> AsyncIterator[str]:
    """Create a throwaway database on the shared PostgreSQL server, holding the current schema unless ``schema``
    is false (then empty, as a new deployment's); drop it afterwards."""
    if POSTGRES_ROOT is None:
        unavailable("PostgreSQL (CERTIFY_TEST_POSTGRES_URL)")
    name = f"certify_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{POSTGRES_ROOT}/postgres")
    try:
        if schema:
            await create_postgres_database(admin, name)
        else:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{POSTGRES_ROOT}/{name}"
    finally:
        admin = await asyncpg.connect(f"{POSTGRES_ROOT}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for a test server: own data dir and DB, fast outbox, known secret."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "jwt_secret": TEST_SECRET,
        "file_url_secret": TEST_FILE_URL_SECRET,
        "outbox_poll_seconds": 0.1,
        "render_enabled": False,
        # Each server its own channels, should it share a Redis with another test's.
        "channel_prefix": f"test-{uuid.uuid4().hex[:12]}:",
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class GraphQLClient:
    """A GraphQL client over real HTTP; ``token`` goes in the Authorization header."""

    http: httpx.AsyncClient
    token: str | None = None

    async def post(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        token = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        """Execute and assert there are no GraphQL errors; return ``data``."""
        body = await self.post(query, variables, token)
        assert "errors" not in body, body
        return body["data"]

    def as_(self, token: str | None) -> GraphQLClient:
        return GraphQLClient(self.http, token)


@dataclass
class LiveServer:
    """A uvicorn server running the real app on 127.0.0.1:port in this event loop."""

    settings: Settings
    port: int
    app: Any
    server: uvicorn.Server
    http: httpx.AsyncClient
    tokens: TokenService = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = TokenService(self.settings)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def state(self):
        return self.app.state.certify

    def token(self, role: Role, *, org: int | None = None, test_taker: int | None = None, subject: str | None = None, ttl: int = 3600) -> str:
        return self.tokens.mint(
            role=role,
            subject=subject or f"{role.value}-user",
            organisation_gid=to_global_id("Organisation", org) if org is not None else None,
            test_taker_gid=to_global_id("TestTaker", test_taker) if test_taker is not None else None,
            ttl_seconds=ttl,
        )

    def client(self, token: str | None = None) -> GraphQLClient:
        return GraphQLClient(self.http, token)

    def platform(self) -> GraphQLClient:
        return self.client(self.token(Role.PLATFORM_ADMIN, subject="platform"))


@asynccontextmanager
async def live_server(settings: Settings, *, port: int | None = None) -> AsyncIterator[LiveServer]:
    """Serve ``create_app(settings)`` with uvicorn on ``port`` (default: a free one) until the block ends."""
    app = create_app(settings)
    # The listening socket is bound here and handed to uvicorn: a port picked free and bound later can be
    # taken meanwhile by another test process, and uvicorn's SystemExit would end the whole test session.
    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", port or 0))
    port = listening.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws=WebSocketProtocol, ws_per_message_deflate=False,
        timeout_keep_alive=settings.http_keep_alive_seconds,  # as `certify serve`: a test's pooled connection is not closed under it
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listening]))
    for _ in range(400):
        if server.started or task.done():
            break
        await asyncio.sleep(0.025)
    if not server.started:
        listening.close()
        await task
        raise RuntimeError("server did not start")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        try:
            yield LiveServer(settings, port, app, server, http)
        finally:
            server.should_exit = True
            try:
                await asyncio.wait_for(task, 30)
            finally:
                listening.close()


