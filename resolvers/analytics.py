"""What analysts ask of the sittings: grouped score statistics and a score histogram (the funnel: resolvers/funnel.py).

Rules: docs/RULES.md, "Analytics". Each verb counts exactly the rows the
``sittings`` query would list for the same principal and filter
(:func:`resolvers.sittings.apply_filter` over
:func:`resolvers.access.visible_sittings`): that queryset becomes the SQL of
a derived table, and everything is grouped, ranked and counted by the
database (one statement per verb, plus an indexed
look-up of the time range for months); no sitting row is loaded into
Python. The same statements run on SQLite and PostgreSQL and give the same
answers; the dialects differ only in :mod:`resolvers.analytics_sql`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from models import Sitting
from models.enums import CertificationStatus
from resolvers import access
from resolvers.access import Operation
from resolvers.analytics_sql import (
    fetch,
    floor_divide,
    middle_values,
    month_key,
    month_text,
    utc_month_key,
)
from resolvers.errors import BadArgument
from resolvers.principal import Principal
from resolvers.sittings import SittingFilter, apply_filter
from resolvers.sql import Statement
from resolvers.time_zones import OffsetSpan, offset_spans, parse_time_zone, utc_month_start_windows

MAX_GROUPS = 10_000
MAX_BUCKETS = 10_000
CERTIFIED_STATUSES = (CertificationStatus.IN_PROGRESS, CertificationStatus.CERTIFIED)
"""A sitting counts as certified once its certificate is granted (docs/RULES.md, "Sitting statuses")."""
MICROSECONDS = 1_000_000


class Dimension(StrEnum):
    """What ``sittingAggregates`` may group by; values equal the contract's ``SittingDimension``."""

    TEST = "TEST"
    STATUS = "STATUS"
    TAKEN_MONTH = "TAKEN_MONTH"
    CERTIFIED_MONTH = "CERTIFIED_MONTH"
    ORGANISATION = "ORGANISATION"


# The source column of each dimension; the month dimensions are taken from it in the time zone.
_COLUMNS = {
    Dimension.TEST: "test_id",
    Dimension.STATUS: "status",
    Dimension.TAKEN_MONTH: "taken_at",
    Dimension.CERTIFIED_MONTH: "certified_at",
    Dimension.ORGANISATION: "organisation_id",
}
_MONTHS = (Dimension.TAKEN_MONTH, Dimension.CERTIFIED_MONTH)
_STATUS_ORDER = {status: n for n, status in enumerate(CertificationStatus)}


@dataclass(frozen=True, slots=True)
class SittingGroup:
    """One combination of the grouped dimensions (the others are None) and its statistics.

    ``count`` sittings; ``average_score`` their exact mean (SUM / COUNT as a
    float, not rounded); ``median_score`` the middle score, or the mean of the
    two middle ones for an even count; min / max scores. Every statistic is
    None when ``count`` is 0. Months are ``"YYYY-MM"``.
    """

    count: int
    average_score: float | None = None
    median_score: float | None = None
    min_score: int | None = None
    max_score: int | None = None
    test_id: int | None = None
    status: CertificationStatus | None = None
    taken_month: str | None = None
    certified_month: str | None = None
    organisation_id: int | None = None


@dataclass(frozen=True, slots=True)
class ScoreBucket:
    """``count`` sittings scored in [``start``, ``end``)."""

    start: int
    end: int
    count: int


def filtered_sittings(principal: Principal, spec: SittingFilter | None):
    """The queryset of the sittings ``principal`` may list with ``spec``, as ``sittings`` lists them.

    Raises BadArgument for a malformed filter.
    """
    return apply_filter(access.visible_sittings(principal), spec)


def sitting_statement() -> Statement:
    """A new statement on the sittings' connection (:class:`resolvers.sql.Statement`)."""
    return Statement(Sitting._meta.db)


def as_instant(value: Any) -> datetime | None:
    """A timestamp as the driver returns it (PostgreSQL: datetime; SQLite: the stored ISO text) as a datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


@dataclass(frozen=True, slots=True)
class _MonthColumn:
    """A timestamp column grouped by month: the zone's offsets over its values, and where months may differ from UTC's."""

    spans: list[OffsetSpan]
    windows: list[tuple[datetime, datetime]]


async def _month_columns(zone, columns: Sequence[str]) -> dict[str, _MonthColumn]:
    """Column → its :class:`_MonthColumn` over every sitting's value of it (indexed MIN / MAX, one statement).

    The range is the whole table's, a superset of any filter's, so it costs
    four index look-ups instead of a scan.
    """
    if not columns:
        return {}
    stmt = sitting_statement()
    parts = [
        f'(SELECT {edge}("{column}") FROM "sitting") AS {edge}_{column}'
        for column in columns
        for edge in ("min", "max")
    ]
    row = (await stmt.fetch(f"SELECT {', '.join(parts)}"))[0]
    found = {}
    for column in columns:
        earliest, latest = as_instant(row[f"min_{column}"]), as_instant(row[f"max_{column}"])
        spans = offset_spans(zone, earliest, latest)
        found[column] = _MonthColumn(spans, utc_month_start_windows(spans, earliest, latest))
    return found


def _dedupe(group_by: Sequence[Dimension] | None) -> tuple[Dimension, ...]:
    return tuple(dict.fromkeys(group_by or ()))


async def sitting_aggregates(
    *,
    principal: Principal,
    spec: SittingFilter | None = None,
    group_by: Sequence[Dimension] | None = None,
    time_zone: str | None = None,
) -> list[SittingGroup]:
    """Count and score statistics of the sittings ``principal`` may list with ``spec``, per group.

    ``group_by``: dimensions in the order to sort by (repeats are ignored).
    None or empty: one group of all sittings (count 0 and None statistics
    when there are none). Months are calendar months of ``time_zone`` (an
    IANA name, default UTC), daylight-saving changes included; a sitting
    never certified has the CERTIFIED_MONTH None. Groups are ordered by the
    dimensions in the order given, each ascending with None last: tests and
    organisations by id, statuses in workflow order (UNSELECTED, SELECTED,
    IN_PROGRESS, CERTIFIED, INELIGIBLE), months oldest first.

    The median comes from one statement: sittings counted per (group, score),
    then a running SUM of those counts per group; the middle scores are the
    smallest whose running count reaches positions (N + 1) / 2 and N / 2 + 1.

    Raises:
        Forbidden: the role may not run analytics, or groups by ORGANISATION without being a platform admin.
        BadArgument: a malformed filter, an unknown time zone, or more than 10,000 groups.
    """
    access.require(principal, Operation.SITTING_AGGREGATES)
    dimensions = _dedupe(group_by)
    if Dimension.ORGANISATION in dimensions:
        access.require_every_organisation(principal, "group by ORGANISATION")
    zone = parse_time_zone(time_zone)
    queryset = filtered_sittings(principal, spec)
    months = await _month_columns(zone, [_COLUMNS[d] for d in dimensions if d in _MONTHS])
    stmt = sitting_statement()
    rows = await fetch(stmt, _aggregates_sql(stmt, queryset, dimensions, months))
    if len(rows) > MAX_GROUPS:
        raise BadArgument(f"more than {MAX_GROUPS:,} groups: narrow the filter or group by fewer dimensions")
    groups = [_group(row, dimensions) for row in rows]
    return sorted(groups, key=lambda group: _sort_key(group, dimensions))


# The SQLite indexes of migration 0005 per month dimension, and their key before the month and the score.
_SQLITE_INDEXES = {
    Dimension.TAKEN_MONTH: "sitting_analytics_taken",
    Dimension.CERTIFIED_MONTH: "sitting_analytics_certified",
}
_INDEX_KEY = ("organisation_id", "test_id", "status")
_FROM_SITTING = ' FROM "sitting"'  # how the ORM's SQL names the table


def _aggregates_sql(stmt: Statement, queryset, dimensions: Sequence[Dimension], months: dict) -> str:
    """counted: sittings per (group key d0…, score); running: each key's running count in score order and its
    total; then one row per key (at most MAX_GROUPS + 1) with the statistics.

    Months are counted in two parts that add up exactly. First every sitting under its UTC month
    (:func:`_counted_in_utc`), which SQLite reads in order from an index. Then the sittings in a
    :func:`resolvers.time_zones.utc_month_start_windows` window, the only ones whose month in the zone can
    differ, are taken out of their UTC group (count −1 each) and put into their zone's group
    (:func:`resolvers.analytics_sql.month_key`, +1 each); groups whose counts cancel out are dropped.

    counted is MATERIALIZED so that PostgreSQL hashes the million rows into the few (key, score) pairs
    instead of sorting them all for the window functions that follow.
    """
    names = "".join(f"d{n}, " for n in range(len(dimensions)))
    parts = [_counted_in_utc(stmt, queryset, dimensions, months)]
    windows = [(column, window) for column, month in months.items() for window in month.windows]
    if windows:
        near = any_of(
            [
                f'("{column}" >= {stmt.param(start)} AND "{column}" < {stmt.param(end)})'
                for column, (start, end) in windows
            ]
        )
        for sign, exact in (("-", False), ("", True)):
            keys = [_key(stmt, d, months, exact=exact) for d in dimensions]
            parts.append(
                f"SELECT {''.join(f'{key} AS d{n}, ' for n, key in enumerate(keys))}src.score AS score, "
                f"{sign}COUNT(*) AS n FROM ({_source(stmt, queryset)}) AS src "
                f'WHERE src.id IN (SELECT "id" FROM "sitting" WHERE {near}) '
                f"GROUP BY {''.join(k + ', ' for k in keys)}src.score"
            )
    outputs = "".join(
        f"{month_text(stmt, f'd{n}') if d in _MONTHS else f'd{n}'} AS d{n}, " for n, d in enumerate(dimensions)
    )
    partition = f"PARTITION BY {names[:-2]}" if dimensions else ""
    lower, upper = middle_values("score", "upto", "total")
    return (
        f"WITH counted AS MATERIALIZED (SELECT {names}score, CAST(SUM(n) AS BIGINT) AS n "
        f"FROM ({' UNION ALL '.join(parts)}) AS parts GROUP BY {names}score HAVING SUM(n) <> 0), "
        f"running AS (SELECT {names}score, n, "
        f"CAST(SUM(n) OVER ({partition} ORDER BY score ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) "
        f"AS upto, CAST(SUM(n) OVER ({partition}) AS BIGINT) AS total FROM counted) "
        f"SELECT {outputs}CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(score * n) AS BIGINT) AS score_sum, "
        f"MIN(score) AS min_score, MAX(score) AS max_score, {lower} AS lower_middle, {upper} AS upper_middle "
        f"FROM running {'GROUP BY ' + names[:-2] if dimensions else ''} LIMIT {stmt.param(MAX_GROUPS + 1)}"
    )


def any_of(conditions: Sequence[str]) -> str:
    """``conditions`` joined by OR as a balanced tree of parentheses, so SQLite's parser nests them about
    log₂(n) deep rather than n (its limit is 1,000: 56 years of month starts in two columns pass it)."""
    if len(conditions) <= 2:
        return " OR ".join(conditions)
    middle = len(conditions) // 2
    return f"({any_of(conditions[:middle])}) OR ({any_of(conditions[middle:])})"


def _source(stmt: Statement, queryset) -> str:
    return stmt.subquery(queryset.values("id", "score", *sorted(set(_COLUMNS.values()))))


def _key(stmt: Statement, dimension: Dimension, months: dict, *, exact: bool) -> str:
    """The SQL of ``dimension``'s group key: its column, or its month in UTC or (``exact``) in the zone."""
    column = f"src.{_COLUMNS[dimension]}"
    if dimension not in _MONTHS:
        return column
    if exact:
        return month_key(stmt, column, months[_COLUMNS[dimension]].spans)
    return utc_month_key(stmt, column)


def _counted_in_utc(stmt: Statement, queryset, dimensions: Sequence[Dimension], months: dict) -> str:
    """Sittings per (d0…, score), months in UTC.

    On SQLite, with at most one month dimension, the sittings are first grouped by the whole key of the
    analytics index of that month's column (taken_at when there is none): organisation, test, status,
    UTC month, score, the index's own order, so the database streams the index instead of sorting a
    million rows; then those groups are added up by the dimensions asked for. Elsewhere (PostgreSQL
    hashes; both months on SQLite) the sittings are grouped by the dimensions at once.
    """
    month_dimensions = [d for d in dimensions if d in _MONTHS]
    if stmt.postgres or len(month_dimensions) > 1:
        keys = [_key(stmt, d, months, exact=False) for d in dimensions]
        return (
            f"SELECT {''.join(f'{key} AS d{n}, ' for n, key in enumerate(keys))}src.score AS score, COUNT(*) AS n "
            f"FROM ({_source(stmt, queryset)}) AS src GROUP BY {''.join(k + ', ' for k in keys)}src.score"
        )
    month = month_dimensions[0] if month_dimensions else Dimension.TAKEN_MONTH
    index_key = [f"src.{column}" for column in _INDEX_KEY] + [utc_month_key(stmt, f"src.{_COLUMNS[month]}")]
    position = {d: n for n, d in enumerate((Dimension.ORGANISATION, Dimension.TEST, Dimension.STATUS, month))}
    picked = "".join(f"k{position[d]} AS d{n}, " for n, d in enumerate(dimensions))
    # Named, because with a selective filter the planner may take a narrower index and sort what it finds.
    source = _source(stmt, queryset)
    if _FROM_SITTING not in source:
        raise RuntimeError(f"the sittings query no longer reads {_FROM_SITTING!r}: {source}")
    source = source.replace(_FROM_SITTING, f'{_FROM_SITTING} INDEXED BY "{_SQLITE_INDEXES[month]}"', 1)
    return (
        f"SELECT {picked}score, n FROM (SELECT {''.join(f'{k} AS k{n}, ' for n, k in enumerate(index_key))}"
        f"src.score AS score, COUNT(*) AS n FROM ({source}) AS src "
        f"GROUP BY {''.join(k + ', ' for k in index_key)}src.score) AS by_index"
    )


def _group(row: dict[str, Any], dimensions: Sequence[Dimension]) -> SittingGroup:
    values = {d: row[f"d{n}"] for n, d in enumerate(dimensions)}
    count = int(row["n"] or 0)
    status = values.get(Dimension.STATUS)
    return SittingGroup(
        count=count,
        average_score=int(row["score_sum"]) / count if count else None,
        median_score=(int(row["lower_middle"]) + int(row["upper_middle"])) / 2 if count else None,
        min_score=row["min_score"] if count else None,
        max_score=row["max_score"] if count else None,
        test_id=values.get(Dimension.TEST),
        status=CertificationStatus(status) if status is not None else None,
        taken_month=values.get(Dimension.TAKEN_MONTH),
        certified_month=values.get(Dimension.CERTIFIED_MONTH),
        organisation_id=values.get(Dimension.ORGANISATION),
    )


def _sort_key(group: SittingGroup, dimensions: Sequence[Dimension]) -> tuple:
    key: list[tuple[bool, Any]] = []
    for dimension in dimensions:
        value = {
            Dimension.TEST: group.test_id,
            Dimension.STATUS: _STATUS_ORDER.get(group.status) if group.status is not None else None,
            Dimension.TAKEN_MONTH: group.taken_month,
            Dimension.CERTIFIED_MONTH: group.certified_month,
            Dimension.ORGANISATION: group.organisation_id,
        }[dimension]
        key.append((value is None, value if value is not None else 0))
    return tuple(key)


async def score_histogram(
    *, principal: Principal, spec: SittingFilter | None = None, bucket_width: int
) -> list[ScoreBucket]:
    """The sittings ``principal`` may list with ``spec``, counted per score bucket [k·width, (k+1)·width).

    Buckets run from the lowest to the highest non-empty one, lowest first,
    empty buckets between them included (count 0); no sittings, no buckets.
    Scores are floored into buckets (a negative score would fall below 0).

    Raises:
        Forbidden: the role may not run analytics.
        BadArgument: ``bucket_width`` below 1, a malformed filter, or more than 10,000 buckets.
    """
    access.require(principal, Operation.SCORE_HISTOGRAM)
    if bucket_width < 1:
        raise BadArgument("bucketWidth must be at least 1")
    queryset = filtered_sittings(principal, spec)
    stmt = sitting_statement()
    bucket = floor_divide(stmt, "src.score", bucket_width)
    source = stmt.subquery(queryset.values("score"))
    rows = await fetch(
        stmt,
        f"SELECT bucket, COUNT(*) AS n FROM (SELECT {bucket} AS bucket FROM ({source}) AS src) AS scored "
        f"GROUP BY bucket",
    )
    counts = {int(row["bucket"]): int(row["n"]) for row in rows}
    if not counts:
        return []
    lowest, highest = min(counts), max(counts)
    if highest - lowest + 1 > MAX_BUCKETS:
        raise BadArgument(f"more than {MAX_BUCKETS:,} buckets: use a wider bucketWidth or narrow the filter")
    return [
        ScoreBucket(start=k * bucket_width, end=(k + 1) * bucket_width, count=counts.get(k, 0))
        for k in range(lowest, highest + 1)
    ]
