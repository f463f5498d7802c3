"""Fixtures over the harness (tests/harness.py): databases per backend and live servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from harness import LiveServer, live_server, make_settings, postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request, tmp_path) -> AsyncIterator[str]:
    """A fresh database URL per test, for each backend."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'certify.sqlite3'}"
    else:
        async with postgres_database() as url:
            yield url


@pytest.fixture
async def sqlite_url(tmp_path) -> str:
    """A fresh SQLite database URL, for tests whose subject is not the database."""
    return f"sqlite://{tmp_path / 'certify.sqlite3'}"


@pytest.fixture
async def server(tmp_path, database_url) -> AsyncIterator[LiveServer]:
    """The real app over real HTTP, on each database backend."""
    async with live_server(make_settings(tmp_path, database_url)) as srv:
        yield srv


@pytest.fixture
async def sqlite_server(tmp_path, sqlite_url) -> AsyncIterator[LiveServer]:
    """The real app over real HTTP on SQLite only."""
    async with live_server(make_settings(tmp_path, sqlite_url)) as srv:
        yield srv
