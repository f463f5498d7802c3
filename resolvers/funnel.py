"""The certification funnel: how the sittings moved through certification, and the median time of each step.

Rules: docs/RULES.md, "Analytics". Like :mod:`resolvers.analytics`, it counts
exactly the rows the ``sittings`` query would list for the same principal and
filter, in the database, in two statements: the status counts, then the
certified sittings joined to their certificates with each step's durations in
exact microseconds. On SQLite each median is found without sorting every
duration (:func:`_bounds_sql`), with an exact fallback when the sample
misses; PostgreSQL sorts them (quicker there than the sample's scans).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.enums import CertificateStatus, CertificationStatus
from resolvers import access
from resolvers.access import Operation
from resolvers.analytics import CERTIFIED_STATUSES, MICROSECONDS, filtered_sittings, sitting_statement
from resolvers.analytics_sql import duration, fetch, instant
from resolvers.principal import Principal
from resolvers.sittings import SittingFilter


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
    queryset = filtered_sittings(principal, spec)
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
    stmt = sitting_statement()
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


MEDIAN_SAMPLE = 4096
"""About how many durations per step the funnel samples to find where its median lies."""
MEDIAN_MARGIN = 32
"""Sample ranks kept on each side of the median's expected rank: 1/``MEDIAN_MARGIN`` of the sample, plus 16."""


async def _claims_and_issues(queryset) -> dict[str, list[int]]:
    """Step → values, in one statement: "claimed" / "issued" → ``[count]`` of the certified sittings of
    ``queryset`` whose certificate was claimed / issued; "claim" / "issue" → the step's one or two middle
    durations in microseconds (absent when the step has none).

    instants: the certified sittings' certificates with a claim or an issue, their times as
    :func:`resolvers.analytics_sql.instant`; steps: the durations; counts: the counts, N durations per
    step (each CTE materialized once). A step's middles are its durations at 0-based ranks
    (N - 1) / 2 and N / 2 in ascending order (:func:`_middles_sql`).
    """
    stmt = sitting_statement()
    certified = ", ".join(stmt.param(s.value) for s in CERTIFIED_STATUSES)
    sampled = not stmt.postgres
    sample, margin = (stmt.param(MEDIAN_SAMPLE), stmt.param(MEDIAN_MARGIN)) if sampled else ("", "")
    steps = (("claim", "to_claim"), ("issue", "to_issue"))
    rows = await fetch(
        stmt,
        f"WITH instants AS {'' if sampled else 'NOT '}MATERIALIZED (SELECT src.id AS id, "
        f"{instant(stmt, 'src.certified_at')} AS certified_at, "
        f"{instant(stmt, 'c.claimed_at')} AS claimed_at, {instant(stmt, 'c.issued_at')} AS issued_at "
        f"FROM ({stmt.subquery(queryset)}) AS src JOIN certificate AS c ON c.sitting_id = src.id "
        f"AND c.status <> {stmt.param(CertificateStatus.LAPSED.value)} "
        f"WHERE src.status IN ({certified}) AND (c.claimed_at IS NOT NULL OR c.issued_at IS NOT NULL)), "
        f"steps AS MATERIALIZED (SELECT id, {duration(stmt, 'claimed_at', 'certified_at')} AS to_claim, "
        f"{duration(stmt, 'issued_at', 'claimed_at')} AS to_issue, claimed_at, issued_at FROM instants), "
        f"counts AS MATERIALIZED (SELECT COUNT(claimed_at) AS claimed, COUNT(issued_at) AS issued, "
        f"COUNT(to_claim) AS claims, COUNT(to_issue) AS issues FROM steps)"
        + "".join(f", {_bounds_sql(step, column, sample, margin)}" for step, column in steps if sampled)
        + " SELECT 'claimed' AS step, claimed AS value FROM counts "
        "UNION ALL SELECT 'issued' AS step, issued AS value FROM counts UNION ALL "
        + " UNION ALL ".join(_middles_sql(step, column, sampled=sampled) for step, column in steps),
    )
    found: dict[str, list[int]] = {}
    for row in rows:
        found.setdefault(row["step"], []).append(int(row["value"]))
    return found


def _bounds_sql(step: str, column: str, sample: str, margin: str) -> str:
    """CTEs bounding a step's middle durations without sorting them all (a sampling selection, as Floyd and
    Rivest's): ``{step}_sample``: the durations of about ``sample`` sittings (those whose id is a multiple of
    N / sample); ``{step}_ranks``: the middles' ranks r1, r2 and the sample's size; ``{step}_edges``: the
    sampled durations ``margin``-th of the sample (plus 16) below and above where the middles should be;
    ``{step}_bounds``: those edges, how many durations lie below and between them, and ``ok`` (1) when
    both middles are proved to lie between them, each then at rank − below among the durations between.
    """
    ranks = f"{step}_ranks"
    offset = "CASE WHEN taken = 0 OR {at} < 0 THEN 0 WHEN {at} > taken - 1 THEN taken - 1 ELSE {at} END"
    expected = "{r} * taken / CASE WHEN total = 0 THEN 1 ELSE total END"
    spread = f"(taken / {margin} + 16)"
    lower = offset.format(at=f"{expected.format(r='r1')} - {spread}")
    upper = offset.format(at=f"{expected.format(r='r2')} + {spread}")
    edge = f"(SELECT v FROM {step}_sample ORDER BY v LIMIT 1 OFFSET (SELECT {{at}} FROM {ranks}))"
    return (
        f"{step}_sample AS MATERIALIZED (SELECT {column} AS v FROM steps WHERE {column} IS NOT NULL AND id % "
        f"(SELECT CASE WHEN {step}s / {sample} < 1 THEN 1 ELSE {step}s / {sample} END FROM counts) = 0), "
        f"{ranks} AS MATERIALIZED (SELECT ({step}s - 1) / 2 AS r1, {step}s / 2 AS r2, {step}s AS total, "
        f"(SELECT COUNT(*) FROM {step}_sample) AS taken FROM counts), "
        f"{step}_edges AS MATERIALIZED (SELECT {edge.format(at=lower)} AS lo, {edge.format(at=upper)} AS hi), "
        f"{step}_counted AS MATERIALIZED (SELECT SUM(CASE WHEN steps.{column} < e.lo THEN 1 ELSE 0 END) AS below, "
        f"SUM(CASE WHEN steps.{column} >= e.lo AND steps.{column} <= e.hi THEN 1 ELSE 0 END) AS inside "
        f"FROM {step}_edges AS e CROSS JOIN steps), "
        f"{step}_bounds AS MATERIALIZED (SELECT r.r1, r.r2, e.lo, e.hi, c.below, CASE WHEN e.lo IS NOT NULL "
        f"AND e.hi IS NOT NULL AND c.below <= r.r1 AND r.r2 < c.below + c.inside THEN 1 ELSE 0 END AS ok "
        f"FROM {ranks} AS r CROSS JOIN {step}_edges AS e CROSS JOIN {step}_counted AS c)"
    )


def _middles_sql(step: str, column: str, *, sampled: bool) -> str:
    """A step's one or two middle durations as rows (step, value).

    ``sampled`` (SQLite): between the bounds of :func:`_bounds_sql` when they
    hold them, sorting only those, else from all the step's durations in order
    (the exact fallback). Not ``sampled`` (PostgreSQL, whose sort of a few
    hundred thousand integers is quicker than the sample's extra scans): from
    all of them in order.
    """
    if not sampled:
        return (
            f"SELECT '{step}' AS step, v AS value FROM (SELECT {column} AS v FROM steps WHERE {column} IS NOT NULL "
            f"ORDER BY {column} LIMIT (SELECT 2 - {step}s % 2 FROM counts) "
            f"OFFSET (SELECT ({step}s - 1) / 2 FROM counts)) AS {step}_middle"
        )
    bounds = f"{step}_bounds"
    # The bounds row comes first (CROSS JOIN keeps that order on SQLite), so a branch whose ok does not
    # hold stops before reading a single duration.
    between = (
        f"SELECT steps.{column} AS v FROM {bounds} AS b CROSS JOIN steps WHERE b.ok = 1 "
        f"AND steps.{column} >= b.lo AND steps.{column} <= b.hi ORDER BY steps.{column} "
        f"LIMIT (SELECT r2 - r1 + 1 FROM {bounds}) "
        f"OFFSET (SELECT CASE WHEN ok = 1 THEN r1 - below ELSE 0 END FROM {bounds})"
    )
    everything = (
        f"SELECT steps.{column} AS v FROM {bounds} AS b CROSS JOIN steps WHERE b.ok = 0 "
        f"AND steps.{column} IS NOT NULL ORDER BY steps.{column} "
        f"LIMIT (SELECT r2 - r1 + 1 FROM {bounds}) OFFSET (SELECT r1 FROM {bounds})"
    )
    return (
        f"SELECT '{step}' AS step, v AS value FROM ({between}) AS {step}_between "
        f"UNION ALL SELECT '{step}' AS step, v AS value FROM ({everything}) AS {step}_everything"
    )
