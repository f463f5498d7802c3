"""What analysts ask of the sittings: grouped score statistics, a score histogram and the certification funnel.

Rules: docs/RULES.md, "Analytics". Each verb counts exactly the rows the
``sittings`` query would list for the same principal and filter
(:func:`resolvers.sittings.apply_filter` over
:func:`resolvers.access.visible_sittings`): that queryset becomes the SQL of
a derived table, and everything is grouped, ranked and counted by the
database (one statement per verb, two for the funnel, plus an indexed
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
    duration,
    fetch,
    floor_divide,
    instant,
    middle_values,
    month_key,
    month_text,
)
from resolvers.errors import BadArgument
from resolvers.principal import Principal
from resolvers.sittings import SittingFilter, apply_filter
from resolvers.sql import Statement
from resolvers.time_zones import OffsetSpan, offset_spans, parse_time_zone

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


@dataclass(frozen=True, slots=True)
class CertificationFunnel:
    """How many of the filtered sittings reached each step, and the median time between steps (seconds, or None)."""

    recorded: int
    eligible: int
    certified: int
    claimed: int
    issued: int
    median_seconds_to_claim: float | None
    median_seconds_to_issue: float | None


def _sittings(principal: Principal, spec: SittingFilter | None):
    return apply_filter(access.visible_sittings(principal), spec)


def _statement() -> Statement:
    return Statement(Sitting._meta.db)


def as_instant(value: Any) -> datetime | None:
    """A timestamp as the driver returns it (PostgreSQL: datetime; SQLite: the stored ISO text) as a datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


async def _sitting_spans(zone, columns: Sequence[str]) -> dict[str, list[OffsetSpan]]:
    """Column → the zone's offset spans over every sitting's value of it (indexed MIN / MAX, one statement).

    The range is the whole table's, a superset of any filter's, so it costs
    four index look-ups instead of a scan.
    """
    if not columns:
        return {}
    stmt = _statement()
    parts = [
        f'(SELECT {edge}("{column}") FROM "sitting") AS {edge}_{column}'
        for column in columns
        for edge in ("min", "max")
    ]
    row = (await stmt.fetch(f"SELECT {', '.join(parts)}"))[0]
    return {
        column: offset_spans(zone, as_instant(row[f"min_{column}"]), as_instant(row[f"max_{column}"]))
        for column in columns
    }


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
    queryset = _sittings(principal, spec)
    spans = await _sitting_spans(zone, [_COLUMNS[d] for d in dimensions if d in _MONTHS])
    stmt = _statement()
    rows = await fetch(stmt, _aggregates_sql(stmt, queryset, dimensions, spans))
    if len(rows) > MAX_GROUPS:
        raise BadArgument(f"more than {MAX_GROUPS:,} groups: narrow the filter or group by fewer dimensions")
    groups = [_group(row, dimensions) for row in rows]
    return sorted(groups, key=lambda group: _sort_key(group, dimensions))


def _aggregates_sql(stmt: Statement, queryset, dimensions: Sequence[Dimension], spans) -> str:
    """keyed: each sitting's group key d0… and score; counted: rows per (key, score); running: the running
    count per key in score order and the key's total; then one row per key (at most MAX_GROUPS + 1).

    counted is MATERIALIZED so that PostgreSQL hashes the million rows into the few (key, score) pairs
    instead of sorting them all for the window functions that follow.
    """
    keys, outputs = [], []
    for n, dimension in enumerate(dimensions):
        column = f"src.{_COLUMNS[dimension]}"
        month = dimension in _MONTHS
        keys.append(f"{month_key(stmt, column, spans[_COLUMNS[dimension]]) if month else column} AS d{n}, ")
        outputs.append(f"{month_text(stmt, f'd{n}') if month else f'd{n}'} AS d{n}, ")
    names = "".join(f"d{n}, " for n in range(len(dimensions)))
    partition = f"PARTITION BY {names[:-2]}" if dimensions else ""
    lower, upper = middle_values("score", "upto", "total")
    source = stmt.subquery(queryset.values("score", *sorted(set(_COLUMNS.values()))))
    return (
        f"WITH keyed AS (SELECT {''.join(keys)}src.score AS score FROM ({source}) AS src), "
        f"counted AS MATERIALIZED (SELECT {names}score, COUNT(*) AS n FROM keyed GROUP BY {names}score), "
        f"running AS (SELECT {names}score, n, "
        f"CAST(SUM(n) OVER ({partition} ORDER BY score ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) "
        f"AS upto, CAST(SUM(n) OVER ({partition}) AS BIGINT) AS total FROM counted) "
        f"SELECT {''.join(outputs)}CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(score * n) AS BIGINT) AS score_sum, "
        f"MIN(score) AS min_score, MAX(score) AS max_score, {lower} AS lower_middle, {upper} AS upper_middle "
        f"FROM running {'GROUP BY ' + names[:-2] if dimensions else ''} LIMIT {stmt.param(MAX_GROUPS + 1)}"
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
    queryset = _sittings(principal, spec)
    stmt = _statement()
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


async def certification_funnel(*, principal: Principal, spec: SittingFilter | None = None) -> CertificationFunnel:
    """How the sittings ``principal`` may list with ``spec`` moved through certification.

    recorded: all of them; eligible: not INELIGIBLE; certified: IN_PROGRESS or
    CERTIFIED; claimed: certified with a claim submitted (``claimed_at``);
    issued: certified with a certificate that is or was ISSUED (``issued_at``).
    Medians: of the seconds from the sitting's ``certified_at`` to the first
    claim, and from the first claim to ``issued_at``, over the certified
    sittings that have both times; exact to the microsecond on both
    databases (the mean of the two middle durations in microseconds, / 10⁶);
    None when there is none.

    Raises:
        Forbidden: the role may not run analytics.
        BadArgument: a malformed filter.
    """
    access.require(principal, Operation.CERTIFICATION_FUNNEL)
    queryset = _sittings(principal, spec)
    recorded, eligible, certified = await _status_counts(queryset.values("status"))
    steps = await _claims_and_issues(queryset.values("id", "status", "certified_at"))
    return CertificationFunnel(
        recorded=recorded,
        eligible=eligible,
        certified=certified,
        claimed=steps["claimed"][0],
        issued=steps["issued"][0],
        median_seconds_to_claim=_median_seconds(steps.get("claim")),
        median_seconds_to_issue=_median_seconds(steps.get("issue")),
    )


def _median_seconds(middles: list[int] | None) -> float | None:
    """The mean of the one or two middle durations (microseconds), in seconds; None without any."""
    if not middles:
        return None
    return sum(middles) / len(middles) / MICROSECONDS


async def _status_counts(queryset) -> tuple[int, int, int]:
    """(recorded, eligible, certified) of the sittings of ``queryset``: one scan, no join."""
    stmt = _statement()
    certified = ", ".join(stmt.param(s.value) for s in CERTIFIED_STATUSES)
    ineligible = stmt.param(CertificationStatus.INELIGIBLE.value)
    row = (
        await fetch(
            stmt,
            f"SELECT COUNT(*) AS recorded, SUM(CASE WHEN src.status <> {ineligible} THEN 1 ELSE 0 END) AS eligible, "
            f"SUM(CASE WHEN src.status IN ({certified}) THEN 1 ELSE 0 END) AS certified "
            f"FROM ({stmt.subquery(queryset)}) AS src",
        )
    )[0]
    return int(row["recorded"]), int(row["eligible"] or 0), int(row["certified"] or 0)


async def _claims_and_issues(queryset) -> dict[str, list[int]]:
    """Step → values, in one statement: "claimed" / "issued" → ``[count]`` of the certified sittings of
    ``queryset`` whose certificate was claimed / issued; "claim" / "issue" → the step's one or two middle
    durations in microseconds (absent when the step has none).

    instants: the certified sittings' certificates with a claim or an issue, their times as
    :func:`resolvers.analytics_sql.instant`; steps: the durations; counts: the counts, N durations per
    step (each CTE materialized once). A step's middles are its durations in order from offset
    (N - 1) / 2: two of them for an even N, one for an odd N.
    """
    stmt = _statement()
    certified = ", ".join(stmt.param(s.value) for s in CERTIFIED_STATUSES)
    middle = (
        "SELECT '{step}' AS step, v AS value FROM (SELECT {column} AS v FROM steps WHERE {column} IS NOT NULL "
        "ORDER BY {column} LIMIT (SELECT 2 - {step}s % 2 FROM counts) "
        "OFFSET (SELECT ({step}s - 1) / 2 FROM counts)) AS {step}_middle"
    )
    middles = " UNION ALL ".join(
        middle.format(step=step, column=column) for step, column in (("claim", "to_claim"), ("issue", "to_issue"))
    )
    rows = await fetch(
        stmt,
        f"WITH instants AS MATERIALIZED (SELECT {instant(stmt, 'src.certified_at')} AS certified_at, "
        f"{instant(stmt, 'c.claimed_at')} AS claimed_at, {instant(stmt, 'c.issued_at')} AS issued_at "
        f"FROM ({stmt.subquery(queryset)}) AS src JOIN certificate AS c ON c.sitting_id = src.id "
        f"WHERE src.status IN ({certified}) AND (c.claimed_at IS NOT NULL OR c.issued_at IS NOT NULL)), "
        f"steps AS MATERIALIZED (SELECT {duration(stmt, 'claimed_at', 'certified_at')} AS to_claim, "
        f"{duration(stmt, 'issued_at', 'claimed_at')} AS to_issue, claimed_at, issued_at FROM instants), "
        f"counts AS MATERIALIZED (SELECT COUNT(claimed_at) AS claimed, COUNT(issued_at) AS issued, "
        f"COUNT(to_claim) AS claims, COUNT(to_issue) AS issues FROM steps) "
        f"SELECT 'claimed' AS step, claimed AS value FROM counts "
        f"UNION ALL SELECT 'issued' AS step, issued AS value FROM counts UNION ALL {middles}",
    )
    steps: dict[str, list[int]] = {}
    for row in rows:
        steps.setdefault(row["step"], []).append(int(row["value"]))
    return steps
