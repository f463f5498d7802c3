"""Tortoise configuration and migration entry points."""

from __future__ import annotations

from typing import Any

MODEL_MODULES = ["models"]
MIGRATIONS_MODULE = "models.migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise config dict for database_url (sqlite://path or postgres://…)."""
    return {
        "connections": {"default": database_url},
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
