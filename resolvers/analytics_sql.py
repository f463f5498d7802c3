"""SQL expressions of the analytics that differ between SQLite and PostgreSQL, built to give equal answers.

Every function adds its values to a :class:`resolvers.sql.Statement` as
parameters and returns SQL text for that statement's dialect; only the time
zone's offsets, integers computed by the service, are written into the text.
Columns are SQL expressions of ours (``src.taken_at``), never user input.
SQLite must be 3.38 or later (``unixepoch``).

How timestamps are stored, which the SQLite expressions rely on: Tortoise
writes an aware datetime as its ISO text with a space,
``YYYY-MM-DD HH:MM:SS[.ffffff]+HH:MM`` (six fraction digits when there is a
fraction; the service writes UTC), and PostgreSQL holds ``timestamptz``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from resolvers.sql import Statement, transaction
from resolvers.time_zones import OffsetSpan


def _shift(stmt: Statement, offset_seconds: int) -> str:
    """How far ahead of UTC to move a timestamp: an integer of seconds (PostgreSQL) or a modifier (SQLite)."""
    seconds = int(offset_seconds)
    return str(seconds) if stmt.postgres else f"'{seconds:+d} seconds'"


def month_key(stmt: Statement, column: str, spans: Sequence[OffsetSpan]) -> str:
    """A value naming the calendar month of timestamp ``column`` in the zone of ``spans`` (NULL for NULL).

    Group by it, then turn it into ``'YYYY-MM'`` with :func:`month_text`.
    ``spans``: :func:`resolvers.time_zones.offset_spans` over at least the
    column's values. The shift is chosen per row by
    ``CASE WHEN column < start₁ THEN offset₀ … ELSE offsetₙ END`` (each start
    a parameter), so each row costs one date computation: PostgreSQL
    truncates the shifted UTC time to its month (the text is made once per
    group), SQLite's ``strftime`` reads the stored offset and shifts from UTC.
    """
    if len(spans) == 1:
        shift = _shift(stmt, spans[0].offset_seconds)
    else:
        branches = " ".join(
            f"WHEN {column} < {stmt.param(later.starts)} THEN {_shift(stmt, span.offset_seconds)}"
            for span, later in pairwise(spans)
        )
        shift = f"CASE {branches} ELSE {_shift(stmt, spans[-1].offset_seconds)} END"
    if stmt.postgres:
        return f"date_trunc('month', ({column} AT TIME ZONE 'UTC') + make_interval(secs => {shift}))"
    # The fraction is left out: SQLite rounds it to the millisecond, which moves 23:59:59.9995 and later into
    # the next day, and no month starts within a second (offsets are whole seconds).
    whole_seconds = f"substr({column}, 1, 19) || substr({column}, -6)"
    return f"strftime('%Y-%m', {whole_seconds}, {shift})"


def utc_month_key(stmt: Statement, column: str) -> str:
    """The :func:`month_key` of ``column`` in UTC, written as the SQLite analytics indexes hold it.

    SQLite: ``strftime('%Y-%m', column)``, the expression indexed by
    ``sitting_analytics_taken`` and ``sitting_analytics_certified`` (migration
    0005), so a GROUP BY that lists the index's columns in order reads the
    index without sorting. PostgreSQL: the UTC time truncated to its month,
    the same type as :func:`month_key`'s.
    """
    if stmt.postgres:
        return f"date_trunc('month', {column} AT TIME ZONE 'UTC')"
    return f"strftime('%Y-%m', {column})"


def month_text(stmt: Statement, key: str) -> str:
    """``'YYYY-MM'`` of a :func:`month_key` value (NULL for NULL)."""
    return f"to_char({key}, 'YYYY-MM')" if stmt.postgres else key


def _sqlite_microseconds(column: str) -> str:
    """Microseconds since 1970-01-01T00:00Z of a stored SQLite timestamp, exact.

    SQLite's date functions round to the millisecond, so ``unixepoch`` of a
    time whose fraction f (microseconds) is 999,500 or more gives the next
    second. ``(f + 500) % 10⁶ − 500`` is f below that and f − 10⁶ from it,
    which takes the round-up back; parsing the whole text once is about
    three times cheaper than rebuilding it without its fraction.
    ``tests/resolvers/test_analytics_sql.py`` pins the rounding on every
    fraction edge.
    """
    fraction = f"CASE WHEN substr({column}, 20, 1) = '.' THEN CAST(substr({column}, 21, 6) AS INTEGER) ELSE 0 END"
    return f"(unixepoch({column}) * 1000000 + ({fraction} + 500) % 1000000 - 500)"


def instant(stmt: Statement, column: str) -> str:
    """Timestamp ``column`` in the form :func:`duration` subtracts: SQLite's exact microseconds, PostgreSQL's own."""
    return column if stmt.postgres else _sqlite_microseconds(column)


def duration(stmt: Statement, later: str, earlier: str) -> str:
    """``later - earlier`` of two :func:`instant` values as a BIGINT of microseconds, exact (NULL if either is).

    PostgreSQL subtracts the timestamps (an exact interval) and reads its
    seconds as a double, exact to well under a microsecond for durations
    below about 70 years, then rounds; its numeric ``EXTRACT`` would be
    exact too but several times slower per row.
    """
    if stmt.postgres:
        return f"CAST(round(date_part('epoch', {later} - {earlier}) * 1000000) AS BIGINT)"
    return f"({later} - {earlier})"


def floor_divide(stmt: Statement, column: str, divisor: int) -> str:
    """``floor(column / divisor)`` in integers for a positive ``divisor``, negative values included.

    Both databases truncate integer division toward zero, so the remainder is
    first made non-negative; BIGINT keeps ``remainder + divisor`` in range.
    """
    value = f"CAST({column} AS BIGINT)"
    width = stmt.param(int(divisor))
    return f"(({value} - (({value} % {width}) + {width}) % {width}) / {width})"


def middle_values(value: str, position: str, count: str) -> tuple[str, str]:
    """Aggregates giving the lower and upper middle of ``count`` values, ``position`` being each one's running rank.

    ``position``: for each row, how many values are at or below it in
    ascending ``value`` order (``ROW_NUMBER()``, or a running ``SUM`` of
    counts when equal values are grouped). The middles are the values at
    positions ``(count + 1) / 2`` and ``count / 2 + 1`` in integer division (one
    and the same for an odd count); the median is their mean, as PostgreSQL's
    ``percentile_cont(0.5)``. ``count`` must be an integer expression (CAST a
    SUM to BIGINT: on PostgreSQL it is NUMERIC and would divide exactly).
    """
    return (
        f"MIN(CASE WHEN {position} >= ({count} + 1) / 2 THEN {value} END)",
        f"MIN(CASE WHEN {position} >= {count} / 2 + 1 THEN {value} END)",
    )


ANALYTICS_WORK_MEM = "64MB"
"""PostgreSQL memory per sort or hash of one analytics statement: a million sittings sort and hash in memory."""
PARALLEL_TUPLE_COST = "0.01"
"""PostgreSQL's planned cost of each row a parallel worker hands on, for a statement that joins on parallel
workers and then aggregates every row in one process (the funnel's medians): with the default 0.1 the
planner keeps a join of a million sittings on one core."""


async def fetch(stmt: Statement, sql: str, *, parallel_rows: bool = False) -> list[dict[str, Any]]:
    """Run the analytics statement ``sql`` with ``stmt``'s parameters; return its rows.

    On PostgreSQL it runs in its own transaction with ``SET LOCAL work_mem``
    (:data:`ANALYTICS_WORK_MEM`), so its sorts and hashes stay in memory
    instead of spilling to disk, and without JIT compilation (a few hundred
    milliseconds per statement, more than it saves here); ``parallel_rows``
    also sets :data:`PARALLEL_TUPLE_COST`. The settings end with the
    transaction.
    """
    if not stmt.postgres:
        return await stmt.fetch(sql)
    settings = f"SET LOCAL work_mem = '{ANALYTICS_WORK_MEM}'; SET LOCAL jit = off"
    if parallel_rows:
        settings += f"; SET LOCAL parallel_tuple_cost = {PARALLEL_TUPLE_COST}"
    async with transaction() as conn:
        await conn.execute_script(settings)
        return await conn.execute_query_dict(sql, stmt.params)
