"""A Tortoise engine for SQLite files whose plain reads do not wait for a transaction.

Tortoise's SQLite client runs every statement on one connection behind one
lock, and a transaction holds that lock to its end: a page of sittings read
during a bulk certification waited for the whole certification, and the live
queries it wakes re-read their pages one after another. Here statements outside
a transaction that only read (``SELECT …``) go to one of ``READERS`` further
connections opened with ``PRAGMA query_only``. In WAL mode (Tortoise's default)
each reads the last committed state in its own aiosqlite thread while the write
connection is busy, and sees every commit made before it starts, so a request
still reads its own earlier writes.

Everything else is unchanged: writes, scripts, and every statement inside a
transaction (Tortoise's transaction client is a separate class on the write
connection, so a transaction reads its own uncommitted writes). A misrouted
write fails loudly on a reader ("attempt to write a readonly database").
Used for every SQLite file by :func:`models.db.tortoise_config`; an in-memory
database keeps the one connection (another connection would open another
database).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from typing import Any

from tortoise.backends.sqlite.client import SqliteClient

READERS = 2
"""Read connections per process, so that two reads can run side by side in SQLite's threads (one per core of the
development machine; one reader against two was not measured)."""


def only_reads(query: str) -> bool:
    """True when ``query`` is a plain ``SELECT`` (a ``WITH`` may precede an UPDATE in SQLite, so it is not one)."""
    return query.lstrip()[:6].upper() == "SELECT"


class SqliteClientWithReaders(SqliteClient):
    """Tortoise's :class:`SqliteClient` with its reads outside a transaction on ``READERS`` read-only connections.

    Credentials as Tortoise's SQLite engine takes them (``file_path`` and
    pragmas). A read goes to the reader with the fewest reads in flight; a
    read whose caller was cancelled stays in flight until its statement ends
    in the reader's thread, which a cancellation does not stop.
    """

    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        one_connection = file_path == ":memory:" or "mode=memory" in file_path
        # Outside WAL a reader's lock can make the writer's COMMIT fail: readers only beside a WAL writer.
        one_connection = one_connection or str(self.pragmas.get("journal_mode", "WAL")).upper() != "WAL"
        pragmas = {"journal_mode": "WAL", **self.pragmas, "query_only": 1}
        names = [f"{self.connection_name}-reader-{n}" for n in range(0 if one_connection else READERS)]
        self._readers = [SqliteClient(file_path, connection_name=name, **pragmas) for name in names]
        self._waiting = [0] * len(self._readers)

    async def close(self) -> None:
        """Close the write connection and every reader."""
        await super().close()
        for reader in self._readers:
            await reader.close()

    async def _read(self, method: str, query: str, values: list | None) -> Any:
        index = min(range(len(self._readers)), key=self._waiting.__getitem__)
        self._waiting[index] += 1
        cancelled = False
        try:
            return await getattr(self._readers[index], method)(query, values)
        except asyncio.CancelledError:
            # A cancelled await does not stop the statement in aiosqlite's thread, and the reader's next statement
            # waits for it: the read counts until a marker queued behind it has run, so the next read goes elsewhere.
            cancelled = True
            drained = asyncio.ensure_future(self._queued_behind(index))
            drained.add_done_callback(partial(self._ended, index))
            raise
        finally:
            if not cancelled:
                self._waiting[index] -= 1

    async def _queued_behind(self, index: int) -> None:
        """Return once every statement queued on reader ``index``'s aiosqlite thread so far has ended."""
        connection = self._readers[index]._connection
        if connection is not None:
            await connection._execute(lambda: None)

    def _ended(self, index: int, drained: asyncio.Future) -> None:
        self._waiting[index] -= 1
        if not drained.cancelled():
            drained.exception()  # retrieved: a reader closed meanwhile fails the marker, and no one awaits it

    async def execute_query(self, query: str, values: list | None = None) -> tuple[int, Sequence[dict]]:
        """As Tortoise's, on a reader when ``query`` only reads."""
        if self._readers and only_reads(query):
            return await self._read("execute_query", query, values)
        return await super().execute_query(query, values)

    async def execute_query_dict(self, query: str, values: list | None = None) -> list[dict]:
        """As Tortoise's, on a reader when ``query`` only reads."""
        if self._readers and only_reads(query):
            return await self._read("execute_query_dict", query, values)
        return await super().execute_query_dict(query, values)


client_class = SqliteClientWithReaders
"""The class Tortoise instantiates for this engine (``engine: "models.sqlite_reads"``)."""
