"""Fixtures over the harness (tests/harness.py): databases per backend, Tortoise on one, and live servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from harness import LiveServer, drop_schemas, live_server, make_settings, migrated_sqlite_url, postgres_database
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from models.db import migrate, tortoise_config

SERIAL_FOLDERS = ("faults",)
"""Test folders whose subject is timing under faults: ``make test`` runs them alone, after the rest ran two at a time."""


def pytest_collection_modifyitems(config, items) -> None:
    """Mark every test under a :data:`SERIAL_FOLDERS` folder ``serial``."""
    for item in items:
        if any(part in SERIAL_FOLDERS for part in item.path.relative_to(config.rootpath).parts[:-1]):
            item.add_marker(pytest.mark.serial)


def pytest_sessionfinish(session) -> None:
    """Drop the migrated databases the test databases were copied from."""
    asyncio.run(drop_schemas())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request, tmp_path) -> AsyncIterator[str]:
    """A fresh database URL per test, for each backend, holding the current schema."""
    if request.param == "sqlite":
        yield await migrated_sqlite_url(tmp_path / "certify.sqlite3")
    else:
        async with postgres_database() as url:
            yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[str]:
    """A migrated, empty database with Tortoise initialised on it, for tests that call code directly; yields its URL.

    The global fallback makes the Tortoise context visible to every task the
    test starts, not only to this fixture's task.
    """
    # Tortoise caches each model's compiled INSERT per connection *name*
    # ("default") for the whole process; without this, a PostgreSQL test
    # after a SQLite one would reuse SQLite's "?" placeholders.
    EXECUTOR_CACHE.clear()
    await migrate(database_url)
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    try:
        yield database_url
    finally:
        await Tortoise.close_connections()


@pytest.fixture
async def sqlite_url(tmp_path) -> str:
    """A fresh SQLite database URL holding the current schema, for tests whose subject is not the database."""
    return await migrated_sqlite_url(tmp_path / "certify.sqlite3")


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
