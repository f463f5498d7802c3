"""On SQLite the aggregates group a million sittings by streaming one covering index, never sorting them all.

SQLite has no hash aggregation; a GROUP BY that no index orders sorts every
row it reads (about 1 µs a row). These tests read SQLite's own plan of the
statements ``sittingAggregates`` runs and pin that the part over all the
sittings reads ``sitting_analytics_taken`` or ``sitting_analytics_certified``
(migration 0005) without a temporary B-tree; only the few grouped rows and
the rows near month starts are sorted.
"""

from __future__ import annotations

import pytest
from tortoise import Tortoise, connections

from models.db import migrate, tortoise_config
from models.enums import CertificationStatus, Role
from resolvers import analytics
from resolvers.analytics import Dimension
from resolvers.principal import Principal
from resolvers.sittings import SittingFilter
from resolvers.time_zones import parse_time_zone

PLATFORM_ADMIN = Principal("plans", Role.PLATFORM_ADMIN)
ORG_ADMIN = Principal("plans", Role.ORG_ADMIN, organisation_id=1)


@pytest.fixture
async def sqlite_db(sqlite_url):
    await migrate(sqlite_url)
    await Tortoise.init(config=tortoise_config(sqlite_url))
    try:
        yield
    finally:
        await Tortoise.close_connections()


async def plan_of(principal: Principal, group_by: list[Dimension], *, zone: str = "UTC", spec=None) -> list[str]:
    """The details of SQLite's EXPLAIN QUERY PLAN of the aggregates statement, in order."""
    dimensions = analytics._dedupe(group_by)
    months = await analytics._month_columns(
        parse_time_zone(zone),
        [analytics._COLUMNS[d] for d in dimensions if d in analytics._MONTHS],
    )
    stmt = analytics.sitting_statement()
    sql = analytics._aggregates_sql(stmt, analytics.filtered_sittings(principal, spec), dimensions, months)
    rows = await connections.get("default").execute_query_dict(f"EXPLAIN QUERY PLAN {sql}", stmt.params)
    return [row["detail"] for row in rows]


def scans_of_sitting(plan: list[str]) -> list[str]:
    return [detail for detail in plan if detail.startswith(("SCAN sitting", "SEARCH sitting"))]


@pytest.mark.parametrize(
    ("principal", "group_by", "index"),
    [
        (PLATFORM_ADMIN, [], "sitting_analytics_taken"),
        (PLATFORM_ADMIN, [Dimension.TEST, Dimension.STATUS], "sitting_analytics_taken"),
        (
            PLATFORM_ADMIN,
            [Dimension.ORGANISATION, Dimension.TAKEN_MONTH],
            "sitting_analytics_taken",
        ),
        (
            PLATFORM_ADMIN,
            [Dimension.CERTIFIED_MONTH, Dimension.STATUS],
            "sitting_analytics_certified",
        ),
        (ORG_ADMIN, [Dimension.STATUS, Dimension.TEST], "sitting_analytics_taken"),
        (ORG_ADMIN, [Dimension.TAKEN_MONTH], "sitting_analytics_taken"),
    ],
)
async def test_every_sitting_is_read_once_from_a_covering_index_in_group_order(sqlite_db, principal, group_by, index):
    # when SQLite plans the statement (UTC: no rows near month starts to move)
    plan = await plan_of(principal, group_by)

    # then the sittings are read once, from the covering index, and nothing that size is sorted
    [scan] = scans_of_sitting(plan)
    assert f"USING COVERING INDEX {index}" in scan, plan
    assert plan[plan.index(scan) + 1 :][:1] != ["USE TEMP B-TREE FOR GROUP BY"], plan


async def test_a_filter_on_indexed_columns_keeps_the_covering_index(sqlite_db):
    spec = SittingFilter(status=(CertificationStatus.UNSELECTED,), score_min=50, score_max=90)

    plan = await plan_of(ORG_ADMIN, [Dimension.TEST], spec=spec)

    [scan] = scans_of_sitting(plan)
    assert "USING COVERING INDEX sitting_analytics_taken" in scan, plan


async def test_outside_utc_only_the_rows_near_month_starts_are_read_again_by_time(
    sqlite_db,
):
    # given sittings spread over a year, so that Berlin has month starts to correct
    conn = connections.get("default")
    await conn.execute_script(
        "INSERT INTO organisation (id, name, credit_balance, created_at) VALUES (1, 'O', 0, '2026-01-01 00:00:00+00:00');"
        "INSERT INTO test (id, name, score_max, min_certifiable_score, created_at) "
        "VALUES (1, 'T', 100, 0, '2026-01-01 00:00:00+00:00');"
        "INSERT INTO test_taker (id, name, email, email_key, search_key, locale, created_at) "
        "VALUES (1, 'A', 'a@example.com', 'a@example.com', 'a', 'en', '2026-01-01 00:00:00+00:00');"
        "INSERT INTO sitting (id, external_id, organisation_id, test_taker_id, test_id, taken_at, score, photo_check, "
        "status, created_at, updated_at) VALUES "
        "(1, 'a', 1, 1, 1, '2026-01-15 10:00:00+00:00', 50, 'PASSED', 'UNSELECTED', "
        "'2026-01-15 10:00:00+00:00', '2026-01-15 10:00:00+00:00'), "
        "(2, 'b', 1, 1, 1, '2026-12-15 10:00:00+00:00', 60, 'PASSED', 'UNSELECTED', "
        "'2026-12-15 10:00:00+00:00', '2026-12-15 10:00:00+00:00');"
    )

    plan = await plan_of(ORG_ADMIN, [Dimension.TAKEN_MONTH], zone="Europe/Berlin")

    # then one scan is the covering index in group order, the others seek rows by their time
    scans = scans_of_sitting(plan)
    assert sum("USING COVERING INDEX sitting_analytics_taken" in s for s in scans) == 1, plan
    by_time = [s for s in scans if "USING COVERING INDEX sitting_analytics_taken" not in s]
    assert by_time and all(s.startswith("SEARCH sitting") for s in by_time), plan
