"""Fixtures of the hostile-input tests: one threaded server, world and HTTP client per module (see hostile_support.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from harness import make_settings, postgres_database
from hostile_support import ThreadedServer, World, build_two_organisations


@pytest.fixture(scope="module")
def threaded_server(tmp_path_factory) -> Iterator[ThreadedServer]:
    """The real app on SQLite, served from a thread for the whole module; rate limits off so fuzzing is not throttled."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    server_settings = make_settings(tmp_path, f"sqlite://{tmp_path / 'certify.sqlite3'}", rate_limit_enabled=False)
    with ThreadedServer(server_settings) as server:
        yield server


@pytest.fixture(scope="module")
def world(threaded_server: ThreadedServer) -> World:
    return build_two_organisations(threaded_server)


@pytest.fixture(scope="module")
def http(threaded_server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=threaded_server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server_on_each_backend(request, tmp_path_factory) -> Iterator[ThreadedServer]:
    """Like ``threaded_server``, once on SQLite and once on a throwaway PostgreSQL database (``postgres_database``).

    Without ``CERTIFY_TEST_POSTGRES_URL`` the PostgreSQL case skips locally and fails under ``CI=true``.
    """
    tmp_path = tmp_path_factory.mktemp(f"hostile-{request.param}")
    if request.param == "sqlite":
        sqlite_url = f"sqlite://{tmp_path / 'certify.sqlite3'}"
        with ThreadedServer(make_settings(tmp_path, sqlite_url, rate_limit_enabled=False)) as server:
            yield server
        return
    # The fixture is synchronous (hypothesis drives the tests), so the async
    # context manager is entered and left on a loop of its own.
    with asyncio.Runner() as runner:
        database = postgres_database()
        url = runner.run(database.__aenter__())
        try:
            with ThreadedServer(make_settings(tmp_path, url, rate_limit_enabled=False)) as server:
                yield server
        finally:
            runner.run(database.__aexit__(None, None, None))


@pytest.fixture(scope="module")
def http_on_each_backend(server_on_each_backend: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_on_each_backend.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def world_on_each_backend(server_on_each_backend: ThreadedServer) -> World:
    return build_two_organisations(server_on_each_backend)
