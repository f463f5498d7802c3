"""Set-based SQL that the ORM's query builder cannot express (UPDATE … RETURNING, INSERT … SELECT, window functions).

Statements are written once with ``{}`` placeholders and rendered for the
connection's dialect (``?n`` for SQLite, ``$n`` for PostgreSQL), numbered so that
values and inlined ORM subqueries may appear in any order. Also the one way
verbs open a transaction (:func:`transaction`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient, TransactionContextPooled
from tortoise.backends.sqlite.client import SqliteTransactionContext
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models import Sitting
from models.transitions import sources_of

log = logging.getLogger(__name__)

_PG_PARAM = re.compile(r"\$(\d+)")
_SQLITE_PARAM = re.compile(r"\?")


class Statement:
    """Builds one parameterised statement for ``conn``'s dialect.

    Use :meth:`param` for every value and :meth:`subquery` to inline a
    Tortoise query (its parameters are renumbered).
    """

    def __init__(self, conn: BaseDBAsyncClient):
        self.conn = conn
        self.postgres = conn.capabilities.dialect == "postgres"
        self.params: list[Any] = []

    def param(self, value: Any) -> str:
        """Add ``value``; return its placeholder. Datetimes are encoded as the ORM stores them."""
        if isinstance(value, datetime):
            value = db_datetime(value, self.conn)
        self.params.append(value)
        return f"${len(self.params)}" if self.postgres else f"?{len(self.params)}"

    def one_of(self, values: Sequence[str]) -> str:
        """SQL text that is true when the expression before it is one of ``values`` (texts), as one parameter.

        ``= ANY($n::text[])`` on PostgreSQL, ``IN (SELECT value FROM json_each(?n))`` on SQLite: one
        statement text and one parameter for any number of values, no chunks under the drivers' limits, and
        both databases look each value up in the column's index.
        """
        if self.postgres:
            return f"= ANY({self.param(list(values))}::text[])"
        return f"IN (SELECT value FROM json_each({self.param(orjson.dumps(list(values)).decode())}))"

    def grouped(self, expression: str) -> str:
        """SQL text of the whole number ``expression`` with commas between thousands ("1,000,000"), as
        :func:`resolvers.wording.number` writes it (``to_char`` on PostgreSQL, ``printf('%,d')`` on SQLite)."""
        if self.postgres:
            return f"to_char({expression}, 'FM999,999,999,999,990')"
        return f"printf('%,d', {expression})"

    def subquery(self, queryset: QuerySet | Any) -> str:
        """Inline ``queryset`` (e.g. ``.values_list("id", flat=True)``) as SQL text."""
        queryset._choose_db_if_not_chosen()
        queryset._make_query()
        sql, params = queryset.query.get_parameterized_sql()
        offset = len(self.params)
        if self.postgres:
            sql = _PG_PARAM.sub(lambda m: f"${int(m.group(1)) + offset}", sql)
        else:
            numbers = iter(range(offset + 1, offset + len(params) + 1))
            sql = _SQLITE_PARAM.sub(lambda m: f"?{next(numbers)}", sql)
        self.params.extend(params)
        return sql

    async def fetch(self, sql: str) -> list[dict[str, Any]]:
        """Run ``sql`` (a SELECT, or a write with RETURNING); return its rows as dicts."""
        return await self.conn.execute_query_dict(sql, self.params)

    async def run(self, sql: str) -> int:
        """Run a write without RETURNING; return the number of rows it affected."""
        rowcount, _ = await self.conn.execute_query(sql, self.params)
        return rowcount


async def leading_rows_per_group(
    queryset: QuerySet, *, group: str, order: str, descending: bool, limit: int
) -> list[Any]:
    """The first ``limit`` rows of ``queryset`` for each value of column ``group``, in one statement.

    Rows are ranked within their group by ``order`` then by primary key, both
    ``descending`` or both ascending (``ROW_NUMBER() OVER (PARTITION BY …)``
    over the queryset as a derived table, the same SQL on SQLite and
    PostgreSQL), and come back as model instances ordered by group, then rank.
    ``group`` and ``order`` are column names of the queryset's model.

    Raises:
        ValueError: ``group`` or ``order`` is not a column of the model.
    """
    model = queryset.model
    columns = set(model._meta.fields_db_projection.values())
    if group not in columns or order not in columns:
        raise ValueError(f"{model.__name__} has no column {group!r} or {order!r}")
    stmt = Statement(model._meta.db)
    direction = "DESC" if descending else "ASC"
    pk = model._meta.db_pk_column
    rows = await stmt.fetch(
        f'SELECT * FROM (SELECT page.*, ROW_NUMBER() OVER (PARTITION BY page."{group}" '
        f'ORDER BY page."{order}" {direction}, page."{pk}" {direction}) AS group_rank '
        f"FROM ({stmt.subquery(queryset)}) AS page) AS ranked "
        f'WHERE group_rank <= {stmt.param(limit)} ORDER BY "{group}", group_rank'
    )
    # The row has every column of the model (and group_rank, which is ignored): build it as the ORM does.
    return [model._init_from_db(**row) for row in rows]


def db_datetime(value: datetime, conn: BaseDBAsyncClient) -> Any:
    """Encode an aware datetime exactly as Tortoise stores it on ``conn``."""
    field = Sitting._meta.fields_map["taken_at"]
    if conn.capabilities.dialect == "postgres":
        return value
    return field.to_db_value(value, Sitting)


async def lock_organisation(conn: BaseDBAsyncClient, organisation_id: int) -> bool:
    """Take the organisation's row lock for this transaction (no-op on SQLite); False if absent.

    Every credit-spending or selection change locks the organisation first,
    so concurrent calls for one organisation serialise in one order and
    cannot deadlock on sitting rows.
    """
    stmt = Statement(conn)
    suffix = " FOR UPDATE" if stmt.postgres else ""
    rows = await stmt.fetch(f"SELECT id FROM organisation WHERE id = {stmt.param(organisation_id)}{suffix}")
    return bool(rows)


async def change_status(conn: BaseDBAsyncClient, model: type, pk: int, target: Any, **changes: Any) -> bool:
    """Move row ``pk`` of ``model`` to status ``target`` with one conditional UPDATE; True when it moved.

    The UPDATE applies only while the row is in a status the transition table
    allows before ``target`` (:func:`models.transitions.sources_of`), so a
    concurrent change makes it miss instead of overwriting (docs/RULES.md,
    "Status transitions"). ``changes``: the other columns to set.
    """
    updated = await model.filter(id=pk, status__in=sources_of(target)).using_db(conn).update(status=target, **changes)
    return bool(updated)


def transaction():
    """The one way verbs open a transaction (default connection).

    On PostgreSQL it is :class:`PooledTransaction`, which survives a
    database restart; on SQLite :class:`SqliteTransaction`, which survives the
    request being cancelled (docs/RULES.md, "Faults").
    """
    context = in_transaction("default")
    if isinstance(context, TransactionContextPooled):
        return PooledTransaction(context.client, context._pool_init_lock)
    if isinstance(context, SqliteTransactionContext):
        return SqliteTransaction(context.connection, context._trxlock)
    return context


async def _complete(work: Awaitable[None]) -> None:
    """Await ``work`` to its end even if this task is cancelled meanwhile; re-raise the cancellation afterwards.

    aiosqlite runs each statement in its own thread: a cancelled await does not
    stop it, so the ROLLBACK that must follow it has to be waited for.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


class SqliteTransaction(SqliteTransactionContext):
    """Tortoise's SQLite transaction, safe against the request being cancelled at any point (docs/RULES.md, "Faults").

    SQLite has one connection per process behind one lock. Tortoise 1.1
    keeps that lock forever when the task is cancelled during ``BEGIN`` (a
    request cut off by ``request_timeout_seconds``), so every later query
    waits, and a ``BEGIN`` that ran anyway in aiosqlite's thread leaves a
    transaction open that the next ``BEGIN`` would commit half-done. Here a
    cancelled ``BEGIN`` is rolled back and the lock released, and the final
    ROLLBACK or COMMIT always runs to its end. A COMMIT that fails (``database
    is locked`` when a reader's lock outlasts the busy timeout, a deferred
    constraint) leaves SQLite's transaction open, which the next ``BEGIN``
    would commit: it is rolled back, then its error raised.
    """

    __slots__ = ()

    async def __aenter__(self) -> TransactionalDBClient:
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            await self.connection.begin()
        except BaseException:
            with suppress(Exception):
                await _complete(self.connection._connection.rollback())
            self._trxlock.release()
            raise
        self.token = get_connections().set(self.connection_name, self.connection)
        return self.connection

    async def __aexit__(self, exc_type: type[BaseException] | None, exc_val: object, exc_tb: object) -> None:
        try:
            if not self.connection._finalized:
                if exc_type is None:
                    await self._commit()
                elif exc_type is not TransactionManagementError:
                    await _complete(self.connection.rollback())
        finally:
            get_connections().reset(self.token)
            self._trxlock.release()

    async def _commit(self) -> None:
        """COMMIT; when it fails, roll back (a no-op once nothing is open) and raise its error."""
        try:
            await _complete(self.connection.commit())
        except BaseException:
            try:
                await _complete(self.connection._connection.rollback())
            except Exception as error:  # noqa: BLE001 - the COMMIT's error is the one to raise
                log.warning("could not roll back after a failed commit: %r", error)
            raise


class PooledTransaction(TransactionContextPooled):
    """Tortoise's pooled transaction, with the pool connection always handed back and a commit never reported failed.

    Tortoise 1.1 leaks the pool connection when ``BEGIN`` fails (a connection
    the server has just closed), so a restart could drain the pool and make
    every later request wait; and it raises when handing a connection back
    fails after a successful ``COMMIT`` (a restart's FATAL message arriving
    just after the commit), reporting a committed change as failed. asyncpg
    closes such a connection itself and the pool opens a new one on demand.
    """

    __slots__ = ()

    async def __aenter__(self) -> TransactionalDBClient:
        await self.ensure_connection()
        self.client._connection = await self.client._parent._pool.acquire()
        self.token = get_connections().set(self.connection_name, self.client)
        try:
            await self.client.begin()
        except BaseException:
            get_connections().reset(self.token)
            await self._hand_back()
            raise
        return self.client

    async def __aexit__(self, exc_type: type[BaseException] | None, exc_val: object, exc_tb: object) -> None:
        try:
            if not self.client._finalized:
                if exc_type is None:
                    await self.client.commit()
                elif exc_type is not TransactionManagementError:
                    await self.client.rollback()
        finally:
            get_connections().reset(self.token)
            await self._hand_back()

    async def _hand_back(self) -> None:
        pool = self.client._parent._pool
        if pool is None:
            return
        try:
            await pool.release(self.client._connection)
        except Exception as error:  # noqa: BLE001 - asyncpg has closed the connection; the pool replaces it
            log.warning("a database connection broke while being returned to the pool: %r", error)


async def insert_rows(
    conn: BaseDBAsyncClient,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """INSERT ``rows`` (values in the order of ``columns``) into ``table``; the ``returning`` columns of the new
    rows as dicts, in no particular order ([] without ``returning``).

    No model instance is built: recording 1,000 sittings through ``bulk_create`` spent more time in
    Tortoise's per-field ``__setattr__`` and conversions than in the database. On PostgreSQL the rows go
    as one JSON parameter of one statement (``json_populate_recordset`` over the table's own row type, so
    every value is cast to its column's type): 1,000 sittings in about 27 ms, against 33 ms for asyncpg's
    ``executemany`` of the same rows and 66–100 ms for it under ``plan_cache_mode = force_custom_plan``
    (each row planned again, its foreign-key checks too), measured on the development machine. On SQLite,
    ``executemany`` (one prepared statement), or with ``returning`` multi-row VALUES … RETURNING by
    :data:`INSERT_CHUNK_ROWS`. Datetimes are encoded as the ORM stores them; enums must be passed as their
    values.
    """
    if not rows:
        return []
    names = ", ".join(f'"{column}"' for column in columns)
    back = " RETURNING " + ", ".join(f'"{column}"' for column in returning) if returning else ""
    if conn.capabilities.dialect == "postgres":
        records = orjson.dumps([dict(zip(columns, row, strict=True)) for row in rows]).decode()
        sql = f'INSERT INTO "{table}" ({names}) SELECT {names} FROM json_populate_recordset(NULL::"{table}", $1::json)'
        return await conn.execute_query_dict(sql + back, [records])
    encoded = [[db_datetime(v, conn) if isinstance(v, datetime) else v for v in row] for row in rows]
    marks = f"({', '.join('?' * len(columns))})"
    if not returning:
        await conn.execute_many(f'INSERT INTO "{table}" ({names}) VALUES {marks}', encoded)
        return []
    inserted: list[dict[str, Any]] = []
    for part in chunks(encoded, INSERT_CHUNK_ROWS):
        sql = f'INSERT INTO "{table}" ({names}) VALUES {", ".join([marks] * len(part))}{back}'
        inserted += await conn.execute_query_dict(sql, [value for row in part for value in row])
    return inserted


INSERT_CHUNK_ROWS = 500
"""Rows per multi-row INSERT on SQLite: 500 rows of a dozen columns stay far below SQLite's 32,766 parameters."""


def chunks(values: Sequence[Any], size: int = 500) -> list[Sequence[Any]]:
    """Split ``values`` into lists of at most ``size`` (keeps IN lists under driver limits)."""
    return [values[i : i + size] for i in range(0, len(values), size)]
