"""Tortoise configuration, migration entry points, and how to tell a database that is down from a failing statement."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import asyncpg
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import DBConnectionError

MODEL_MODULES = ["models"]
MIGRATIONS_MODULE = "models.migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise config dict for database_url (sqlite://path or postgres://…).

    A SQLite database runs on :mod:`models.sqlite_reads`, whose reads outside a
    transaction do not wait for one (docs/ARCHITECTURE.md, "Database connections").
    """
    connection: str | dict[str, Any] = database_url
    if urlsplit(database_url).scheme == "sqlite":
        connection = {**expand_db_url(database_url), "engine": "models.sqlite_reads"}
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def migrate(database_url: str) -> None:
    """Create or upgrade the schema of database_url with Tortoise's migration tool."""
    from tortoise import Tortoise
    from tortoise.migrations.api.migrate import migrate as run_migrations

    try:
        await run_migrations(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


def forget_compiled_statements() -> None:
    """Drop Tortoise's per-connection-name cache of compiled INSERT/DELETE statements.

    The cache is keyed by connection name only, so a process that opens
    "default" on SQLite and later on PostgreSQL (the test suite does) would
    reuse SQLite placeholders. Called whenever the ORM is (re)initialised.
    """
    from tortoise.backends.base import executor

    executor.EXECUTOR_CACHE.clear()


UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset or unreachable while connecting
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08: the connection does not exist or failed
    asyncpg.exceptions.OperatorInterventionError,  # 57P01-03: shutting down, crashed, starting up
    # A statement sent on a connection still reading the server's FATAL goodbye ("cannot switch to
    # state …; another operation (2) is in progress"): asyncpg refuses it before sending anything.
    asyncpg.exceptions.InternalClientError,
    DBConnectionError,
)
"""Errors meaning the database cannot be reached right now (docs/RULES.md, "Faults"), as opposed to a bad statement."""


def database_unavailable(error: BaseException | None) -> bool:
    """True when ``error``, or an error it was raised from or while handling, says the database is unreachable.

    The chain matters: a transaction cut by a PostgreSQL restart surfaces as
    asyncpg's ``InterfaceError`` from the rollback, raised while handling the
    ``ConnectionDoesNotExistError`` that ended the statement. The asyncpg pool
    replaces closed connections on the next acquire, so requests succeed again
    once the server is back, without a restart of this process.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UNAVAILABLE_ERRORS):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False
