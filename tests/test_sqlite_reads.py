"""SQLite's read connections (models/sqlite_reads.py): reads outside a transaction do not wait for one, and see
every commit; a transaction reads its own writes; a reader never writes."""

from __future__ import annotations

import asyncio
from contextlib import suppress

import pytest
from tortoise import Tortoise
from tortoise.connection import connections
from tortoise.exceptions import OperationalError

from models import Organisation
from models.db import migrate, tortoise_config
from models.sqlite_reads import READERS, SqliteClientWithReaders, only_reads
from resolvers.sql import transaction


@pytest.fixture
async def sqlite_db(sqlite_url):
    await migrate(sqlite_url)
    await Tortoise.init(config=tortoise_config(sqlite_url))
    try:
        yield sqlite_url
    finally:
        await Tortoise.close_connections()


async def name_of(pk: int) -> str:
    return (await Organisation.get(id=pk)).name


async def test_a_read_during_a_transaction_answers_at_once_with_the_last_committed_state(sqlite_db):
    # given an organisation, and a reader started before the transaction (so outside it)
    organisation = await Organisation.create(name="Acme")
    go = asyncio.Event()

    async def read_when_told() -> str:
        await go.wait()
        return await name_of(organisation.id)

    outside = asyncio.create_task(read_when_told())
    # when a transaction renames it and stays open
    async with transaction() as conn:
        await Organisation.filter(id=organisation.id).using_db(conn).update(name="Renamed")
        # then the transaction reads its own write
        assert await name_of(organisation.id) == "Renamed"
        # and a read outside it answers while it is still open, with what was committed
        go.set()
        assert await asyncio.wait_for(outside, timeout=5) == "Acme"
    # and once it commits, the next read outside sees it
    assert await name_of(organisation.id) == "Renamed"


async def test_concurrent_reads_spread_over_the_readers_and_a_reader_refuses_writes(sqlite_db):
    client = connections.get("default")
    assert isinstance(client, SqliteClientWithReaders)
    assert len(client._readers) == READERS == 2
    await Organisation.create(name="Acme")
    counts = await asyncio.gather(*(Organisation.all().count() for _ in range(8)))
    assert counts == [1] * 8
    assert all(reader._connection is not None for reader in client._readers)
    with pytest.raises(OperationalError, match="attempt to write a readonly database"):
        await client._readers[0].execute_query("UPDATE organisation SET name = 'x'")
    assert await name_of((await Organisation.first()).id) == "Acme"


SLOW_READ = (
    "SELECT (WITH RECURSIVE counter(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM counter WHERE n < 1000000000) "
    "SELECT count(*) FROM counter)"
)
"""A plain SELECT that runs for minutes unless interrupted."""


async def interrupt_until_free(reader) -> None:
    """Interrupt ``reader``'s statement until the reader answers ``SELECT 1`` (an interrupt between statements does
    nothing), for at most 10 s."""
    for _ in range(20):
        reader._connection._conn.interrupt()
        with suppress(TimeoutError):
            assert await asyncio.wait_for(reader.execute_query_dict("SELECT 1 AS one"), timeout=0.5) == [{"one": 1}]
            return
    raise AssertionError("the reader's statement never ended")


async def test_a_cancelled_read_counts_until_its_statement_ends_so_the_next_read_goes_to_the_other_reader(sqlite_db):
    client = connections.get("default")
    await Organisation.create(name="Acme")
    # given a long read running on the first reader
    slow = asyncio.create_task(client.execute_query(SLOW_READ))
    await asyncio.sleep(0.2)
    try:
        assert client._waiting == [1, 0]
        # when the task awaiting it is cancelled (aiosqlite's thread goes on running the statement)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        # then the read still counts on its reader
        assert client._waiting == [1, 0]
        # and the next read goes to the other reader, answering while the long one still runs
        assert await asyncio.wait_for(Organisation.all().count(), timeout=5) == 1
        assert client._waiting == [1, 0]
    finally:
        await interrupt_until_free(client._readers[0])
    # then, once its statement has ended, its reader counts nothing
    assert client._waiting == [0, 0]
    assert await Organisation.all().count() == 1


async def test_an_in_memory_database_keeps_its_one_connection():
    await Tortoise.init(config=tortoise_config("sqlite://:memory:"))
    try:
        client = connections.get("default")
        assert client._readers == []
        await Tortoise.generate_schemas()
        await Organisation.create(name="Acme")
        assert await Organisation.all().count() == 1
    finally:
        await Tortoise.close_connections()


async def test_a_database_not_in_wal_mode_keeps_its_one_connection(sqlite_url):
    await Tortoise.init(config=tortoise_config(f"{sqlite_url}?journal_mode=DELETE"))
    try:
        assert connections.get("default")._readers == []
    finally:
        await Tortoise.close_connections()


@pytest.mark.parametrize(
    ("query", "reads"),
    [
        ('SELECT "id" FROM "sitting"', True),
        ("  select 1", True),
        ('UPDATE "sitting" SET "status"=?', False),
        ("WITH t AS (SELECT 1) UPDATE sitting SET status = 'x'", False),
        ("INSERT INTO organisation (name) VALUES ('x') RETURNING id", False),
    ],
)
def test_only_plain_selects_go_to_a_reader(query, reads):
    assert only_reads(query) is reads
