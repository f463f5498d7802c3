"""The certification funnel: how the sittings moved through certification, and the median time of each step.

Rules: docs/RULES.md, "Analytics". Like :mod:`resolvers.analytics`, it counts
exactly the rows the ``sittings`` query would list for the same principal and
filter, in the database, in two statements run side by side (outside a
transaction): the status counts, then the certified sittings joined to their
certificates with each step's durations in exact microseconds.

PostgreSQL aggregates the join in one pass (``percentile_cont`` sorts each
step's durations; the join runs on parallel workers). SQLite keeps each
joined row's times as whole seconds (``unixepoch``, a fraction of the cost of
the exact microseconds), bounds each step's middle durations from a sample of
those seconds, and computes the exact microseconds only for the few rows near
the middle (:func:`_sqlite_medians_sql`), with an exact fallback over every
row when the sample misses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import TransactionalDBClient

from models import Sitting
from models.enums import CertificateStatus, CertificationStatus
from resolvers import access
from resolvers.access import Operation
from resolvers.analytics import CERTIFIED_STATUSES, MICROSECONDS, filtered_sittings, sitting_statement
from resolvers.analytics_sql import duration, fetch, instant
from resolvers.principal import Principal
from resolvers.sittings import SittingFilter
from resolvers.sql import Statement


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
    (recorded, eligible, certified), steps = await _side_by_side(
        _status_counts(queryset.values("status")), _claims_and_issues(queryset.values("id", "status", "certified_at"))
    )
    return CertificationFunnel(
        recorded=recorded,
        eligible=eligible,
        certified=certified,
        claimed=int(steps["claimed"]),
        issued=int(steps["issued"]),
        median_seconds_to_claim=_seconds(steps["claim"]),
        median_seconds_to_issue=_seconds(steps["issue"]),
    )


async def _side_by_side(*works: Awaitable[Any]) -> list[Any]:
    """The results of ``works`` in order: run at once on separate connections, or one after another inside a
    transaction (whose one connection runs one statement at a time)."""
    if isinstance(Sitting._meta.db, TransactionalDBClient):
        return [await work for work in works]
    return list(await asyncio.gather(*works))


def _seconds(microseconds: float | None) -> float | None:
    """A median in microseconds (an integer or the mean of two, exact in a float) in seconds; None for None."""
    return None if microseconds is None else microseconds / MICROSECONDS


async def _status_counts(queryset) -> tuple[int, int, int]:
    """(recorded, eligible, certified) of the sittings of ``queryset``: one read of their statuses, grouped."""
    stmt = sitting_statement()
    rows = await fetch(
        stmt, f"SELECT src.status AS status, COUNT(*) AS n FROM ({stmt.subquery(queryset)}) AS src GROUP BY src.status"
    )
    counts = {row["status"]: int(row["n"]) for row in rows}
    certified = sum(counts.get(status.value, 0) for status in CERTIFIED_STATUSES)
    recorded = sum(counts.values())
    return recorded, recorded - counts.get(CertificationStatus.INELIGIBLE.value, 0), certified


MEDIAN_SAMPLE = 16384
"""About how many joined rows the SQLite funnel samples to find where each step's median lies."""
MEDIAN_MARGIN = 48
"""Sample ranks kept on each side of a step's sampled median: 1/``MEDIAN_MARGIN`` of its sample, plus 16."""
_STEPS = (("claim", "claimed_at", "certified_at"), ("issue", "issued_at", "claimed_at"))
"""Each step: its name, the later and the earlier time its duration runs between."""


async def _claims_and_issues(queryset) -> dict[str, float | None]:
    """Step → value: "claimed" / "issued" → how many certified sittings of ``queryset`` have a claimed / issued certificate;
    "claim" / "issue" → the step's median duration in microseconds (None when it has none), in one statement.

    The rows: the certified sittings of ``queryset`` joined to their current (not LAPSED) certificate
    when it was claimed or issued. A step's duration is its later time minus its earlier one, when both
    are set.
    """
    stmt = sitting_statement()
    certified = ", ".join(stmt.param(s.value) for s in CERTIFIED_STATUSES)
    joined = (
        f"FROM ({stmt.subquery(queryset)}) AS src JOIN certificate AS c ON c.sitting_id = src.id "
        f"AND c.status <> {stmt.param(CertificateStatus.LAPSED.value)} "
        f"WHERE src.status IN ({certified}) AND (c.claimed_at IS NOT NULL OR c.issued_at IS NOT NULL)"
    )
    if stmt.postgres:
        return (await fetch(stmt, _postgres_sql(stmt, joined), parallel_rows=True))[0]
    found: dict[str, list[int]] = {}
    for row in await fetch(stmt, _sqlite_medians_sql(stmt, joined)):
        found.setdefault(row["step"], []).append(row["value"])
    return {step: _mean(found.get(step)) for step in ("claimed", "issued", "claim", "issue")}


def _mean(values: list[int] | None) -> float | None:
    """The count of "claimed" / "issued" (one value), or a step's median: the mean of its one or two middles."""
    if not values:
        return None
    return sum(values) / len(values) if len(values) > 1 else values[0]


def _time(stmt: Statement, column: str) -> str:
    """The joined row's ``column``: the sitting's ``certified_at``, the certificate's other times."""
    return f"src.{column}" if column == "certified_at" else f"c.{column}"


def _postgres_sql(stmt: Statement, joined: str) -> str:
    """One row: claimed, issued, and each step's ``percentile_cont(0.5)`` of its durations in microseconds.

    The durations are BIGINTs below 2⁵³ cast to double, so the mean of the two middles is exact
    (``lo + (hi − lo) × 0.5``), as the mean in integers would be.
    """
    medians = ", ".join(
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST("
        f"{duration(stmt, _time(stmt, later), _time(stmt, earlier))} AS DOUBLE PRECISION)) AS {step}"
        for step, later, earlier in _STEPS
    )
    return f"SELECT COUNT(c.claimed_at) AS claimed, COUNT(c.issued_at) AS issued, {medians} {joined}"


def _coarse(step: str, alias: str = "s") -> str:
    """A step's duration in whole seconds from ``steps``' ``unixepoch`` times: within 2 s of the exact one."""
    later, earlier = next((later, earlier) for name, later, earlier in _STEPS if name == step)
    return f"({alias}.{later} - {alias}.{earlier})"


def _exact(stmt: Statement, step: str) -> tuple[str, str]:
    """(a step's exact duration in microseconds, the joins from ``steps AS s`` that it reads its times from)."""
    later, earlier = next((later, earlier) for name, later, earlier in _STEPS if name == step)
    # CROSS JOIN: SQLite keeps the order written, reading each row's texts by rowid after its row of steps.
    joins = "CROSS JOIN certificate AS c ON c.id = s.cid"
    if "certified_at" in (later, earlier):
        joins += f' CROSS JOIN "{Sitting._meta.db_table}" AS src ON src.id = s.id'
    exact = duration(stmt, instant(stmt, _time(stmt, later)), instant(stmt, _time(stmt, earlier)))
    return exact, joins


def _sqlite_medians_sql(stmt: Statement, joined: str) -> str:
    """Rows (step, value): ("claimed", n), ("issued", n), and each step's one or two middle durations in
    microseconds, in ascending order (none when the step has none).

    steps: the joined rows (sitting id, certificate id, the three times as ``unixepoch`` seconds);
    every, sample: the rows whose sitting id is a multiple of (rows / ``MEDIAN_SAMPLE``), their
    durations in seconds; {step}_edges: :func:`_edges_sql`; tallies: the counts, and the rows surely
    below each step's lower edge; band: the exact durations of the rows that may lie between a step's
    edges; {step}_bounds: the middles' ranks r1 = (N − 1) / 2 and r2 = N / 2 (N durations), how many
    durations lie below the edges, and ``ok`` when both middles lie between them
    (:func:`_middles_sql`). Every table but ``steps`` has a few rows or a few percent of them.
    """
    sample, margin = stmt.param(MEDIAN_SAMPLE), stmt.param(MEDIAN_MARGIN)
    exact = {step: _exact(stmt, step) for step, _, _ in _STEPS}
    in_band = {step: f"{_coarse(step)} BETWEEN {step[0]}e.band_lo AND {step[0]}e.band_hi" for step, _, _ in _STEPS}
    edges = "claim_edges AS ce CROSS JOIN issue_edges AS ie"
    ctes = [
        (
            f"steps AS MATERIALIZED (SELECT src.id AS id, c.id AS cid, unixepoch(src.certified_at) AS certified_at, "
            f"unixepoch(c.claimed_at) AS claimed_at, unixepoch(c.issued_at) AS issued_at {joined})"
        ),
        (
            f"every AS MATERIALIZED (SELECT CASE WHEN n / {sample} < 1 THEN 1 ELSE n / {sample} END AS m "
            "FROM (SELECT COUNT(*) AS n FROM steps))"
        ),
        (
            f"sample AS MATERIALIZED (SELECT {_coarse('claim')} AS claim, {_coarse('issue')} AS issue "
            "FROM every CROSS JOIN steps AS s WHERE s.id % every.m = 0)"
        ),
        "taken AS MATERIALIZED (SELECT COUNT(claim) AS claim, COUNT(issue) AS issue FROM sample)",
        *(_edges_sql(step, margin) for step, _, _ in _STEPS),
        (
            f"tallies AS MATERIALIZED (SELECT COUNT(s.claimed_at) AS claimed, COUNT(s.issued_at) AS issued, "
            f"COUNT({_coarse('claim')}) AS claims, COUNT({_coarse('issue')}) AS issues, "
            f"TOTAL({_coarse('claim')} < ce.band_lo) AS claim_under, "
            f"TOTAL({_coarse('issue')} < ie.band_lo) AS issue_under FROM {edges} CROSS JOIN steps AS s)"
        ),
        (
            f"band AS MATERIALIZED (SELECT CASE WHEN {in_band['claim']} THEN {exact['claim'][0]} END AS claim, "
            f"CASE WHEN {in_band['issue']} THEN {exact['issue'][0]} END AS issue FROM {edges} CROSS JOIN steps AS s "
            f"{exact['claim'][1]} WHERE {in_band['claim']} OR {in_band['issue']})"
        ),
        (
            "band_tallies AS MATERIALIZED (SELECT TOTAL(b.claim < ce.low) AS claim_below, "
            "TOTAL(b.claim BETWEEN ce.low AND ce.high) AS claim_inside, TOTAL(b.issue < ie.low) AS issue_below, "
            f"TOTAL(b.issue BETWEEN ie.low AND ie.high) AS issue_inside FROM {edges} CROSS JOIN band AS b)"
        ),
        *(_bounds_sql(step) for step, _, _ in _STEPS),
    ]
    middles = " UNION ALL ".join(_middles_sql(step, *exact[step]) for step, _, _ in _STEPS)
    # A statement that starts with SELECT runs on a read connection (models/sqlite_reads.py), beside writes.
    return (
        f"SELECT step, value FROM (WITH {', '.join(ctes)} SELECT 'claimed' AS step, claimed AS value FROM tallies "
        f"UNION ALL SELECT 'issued' AS step, issued AS value FROM tallies UNION ALL {middles}) AS funnel"
    )


def _edges_sql(step: str, margin: str) -> str:
    """CTE ``{step}_edges``, one row: lo, hi, the sampled durations (seconds) ``margin``-th of the step's sample
    (plus 16 ranks) below and above its sampled median; band_lo = lo − 1, band_hi = hi + 1; low, high: lo and
    hi in microseconds (NULL without a sample).

    A row whose duration in seconds k is below band_lo lasted less than ``low`` (k + 2 s ≤ lo), one whose k
    is above band_hi more than ``high``; only the rows between are given their exact duration.
    """
    spread = f"(taken.{step} / {margin} + 16)"
    clamp = f"CASE WHEN taken.{step} = 0 OR {{at}} < 0 THEN 0 WHEN {{at}} > taken.{step} - 1 THEN taken.{step} - 1 ELSE {{at}} END"
    lower = clamp.format(at=f"(taken.{step} - 1) / 2 - {spread}")
    upper = clamp.format(at=f"taken.{step} / 2 + {spread}")
    edge = f"(SELECT {step} FROM sample WHERE {step} IS NOT NULL ORDER BY {step} LIMIT 1 OFFSET (SELECT {{at}} FROM taken))"
    return (
        f"{step}_edges AS MATERIALIZED (SELECT lo, hi, lo - 1 AS band_lo, hi + 1 AS band_hi, lo * {MICROSECONDS} AS low, "
        f"hi * {MICROSECONDS} AS high FROM (SELECT {edge.format(at=lower)} AS lo, {edge.format(at=upper)} AS hi))"
    )


def _bounds_sql(step: str) -> str:
    """CTE ``{step}_bounds``, one row: r1, r2, low, high, below (the durations under ``low``), and ``ok`` (1) when
    both middles are proved to lie between low and high, each then at rank − below among the durations there."""
    below = f"(t.{step}_under + b.{step}_below)"
    return (
        f"{step}_bounds AS MATERIALIZED (SELECT (t.{step}s - 1) / 2 AS r1, t.{step}s / 2 AS r2, e.low, e.high, "
        f"CAST({below} AS INTEGER) AS below, CASE WHEN e.low IS NOT NULL AND e.high IS NOT NULL "
        f"AND {below} <= (t.{step}s - 1) / 2 AND t.{step}s / 2 < {below} + b.{step}_inside THEN 1 ELSE 0 END AS ok "
        f"FROM tallies AS t CROSS JOIN band_tallies AS b CROSS JOIN {step}_edges AS e)"
    )


def _middles_sql(step: str, exact: str, joins: str) -> str:
    """A step's one or two middle durations as rows (step, value): from the band, sorting only its durations
    between low and high, when ``ok``; else from every duration in order (the exact fallback)."""
    bounds = f"{step}_bounds"
    limit = f"LIMIT (SELECT r2 - r1 + 1 FROM {bounds})"
    # The bounds row comes first (CROSS JOIN keeps that order on SQLite), so a branch whose ok does not
    # hold stops before reading a single row.
    between = (
        f"SELECT b2.{step} AS v FROM {bounds} AS b CROSS JOIN band AS b2 WHERE b.ok = 1 "
        f"AND b2.{step} BETWEEN b.low AND b.high ORDER BY b2.{step} {limit} "
        f"OFFSET (SELECT CASE WHEN ok = 1 THEN r1 - below ELSE 0 END FROM {bounds})"
    )
    everything = (
        f"SELECT {exact} AS v FROM {bounds} AS b CROSS JOIN steps AS s {joins} WHERE b.ok = 0 "
        f"AND {_coarse(step)} IS NOT NULL ORDER BY v {limit} OFFSET (SELECT r1 FROM {bounds})"
    )
    return (
        f"SELECT '{step}' AS step, v AS value FROM ({between}) AS {step}_between "
        f"UNION ALL SELECT '{step}' AS step, v AS value FROM ({everything}) AS {step}_everything"
    )
