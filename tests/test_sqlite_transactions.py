"""SQLite transactions (resolvers/sql.py, ``SqliteTransaction``): a COMMIT that fails rolls the transaction back."""

from __future__ import annotations

import sqlite3

import pytest
from tortoise import Tortoise

from models import Organisation
from models.db import migrate, tortoise_config
from resolvers.sql import transaction


@pytest.fixture
async def rollback_journal_db(tmp_path):
    """A migrated SQLite file in rollback-journal mode (where a reader's lock makes COMMIT busy); yields its path.

    A busy COMMIT gives up after 100 ms (``busy_timeout``) instead of 5 s.
    """
    path = tmp_path / "certify.sqlite3"
    url = f"sqlite://{path}?journal_mode=DELETE&busy_timeout=100"
    await migrate(url)
    await Tortoise.init(config=tortoise_config(url))
    try:
        yield path
    finally:
        await Tortoise.close_connections()


async def test_a_commit_that_fails_is_rolled_back_so_the_next_transaction_does_not_commit_its_work(
    rollback_journal_db,
):
    # given another connection reading the file, which holds its shared lock until it ends
    other = sqlite3.connect(rollback_journal_db, isolation_level=None)
    try:
        other.execute("BEGIN")
        assert other.execute("SELECT count(*) FROM organisation").fetchall() == [(0,)]

        # when a transaction writes and its COMMIT cannot take the lock
        with pytest.raises(sqlite3.OperationalError, match="^database is locked$"):
            async with transaction() as conn:
                await Organisation.create(name="Abandoned", using_db=conn)

        # and, once the reader is gone, the next transaction writes and commits
        other.execute("ROLLBACK")
        async with transaction() as conn:
            await Organisation.create(name="Kept", using_db=conn)

        # then only the second transaction's work is in the database
        assert other.execute("SELECT name FROM organisation ORDER BY id").fetchall() == [("Kept",)]
    finally:
        other.close()
