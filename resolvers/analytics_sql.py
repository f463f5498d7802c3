"""SQL expressions of the analytics that differ between SQLite and PostgreSQL, built to give equal answers.

Every function adds its values to a :class:`resolvers.sql.Statement` as
parameters and returns SQL text for that statement's dialect. Columns are
SQL expressions of ours (``src.taken_at``), never user input.

How timestamps are stored, which the SQLite expressions rely on: Tortoise
writes an aware datetime as its ISO text with a space,
``YYYY-MM-DD HH:MM:SS[.ffffff]+HH:MM`` (six fraction digits when there is a
fraction; the service writes UTC), and PostgreSQL holds ``timestamptz``.
"""

from __future__ import annotations

from collections.abc import Sequence

from resolvers.sql import Statement
from resolvers.time_zones import OffsetSpan


def _shifted_month(stmt: Statement, column: str, offset_seconds: int) -> str:
    """``'YYYY-MM'`` of ``column`` moved ``offset_seconds`` ahead of UTC."""
    seconds = int(offset_seconds)
    if stmt.postgres:
        return f"to_char(({column} AT TIME ZONE 'UTC') + make_interval(secs => {seconds}), 'YYYY-MM')"
    # strftime reads the stored offset, so the shift starts from UTC.
    return f"strftime('%Y-%m', {column}, '{seconds:+d} seconds')"


def month_of(stmt: Statement, column: str, spans: Sequence[OffsetSpan]) -> str:
    """The calendar month (``'YYYY-MM'``, NULL for NULL) of timestamp ``column`` in the zone of ``spans``.

    ``spans``: :func:`resolvers.time_zones.offset_spans` over at least the
    column's values. One span is one expression; more become
    ``CASE WHEN column < start₁ THEN month(offset₀) … ELSE month(offsetₙ) END``
    with each start a parameter.
    """
    if len(spans) == 1:
        return _shifted_month(stmt, column, spans[0].offset_seconds)
    branches = [
        f"WHEN {column} < {stmt.param(later.starts)} THEN {_shifted_month(stmt, column, span.offset_seconds)}"
        for span, later in zip(spans, spans[1:])
    ]
    return f"CASE {' '.join(branches)} ELSE {_shifted_month(stmt, column, spans[-1].offset_seconds)} END"


def epoch_microseconds(stmt: Statement, column: str) -> str:
    """Microseconds since 1970-01-01T00:00Z of timestamp ``column``, exact (a BIGINT; NULL for NULL).

    SQLite's date functions keep milliseconds only, so its whole seconds come
    from the text up to the seconds plus its offset and the microseconds from
    the fraction's digits. PostgreSQL's ``EXTRACT(EPOCH …)`` is an exact numeric.
    """
    if stmt.postgres:
        return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"
    seconds = f"CAST(strftime('%s', substr({column}, 1, 19) || substr({column}, -6)) AS INTEGER)"
    fraction = f"CASE WHEN substr({column}, 20, 1) = '.' THEN CAST(substr({column}, 21, 6) AS INTEGER) ELSE 0 END"
    return f"({seconds} * 1000000 + {fraction})"


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
