"""sittingAggregates and scoreHistogram over real HTTP, on SQLite and PostgreSQL: the numbers, months and scopes.

Every expected figure is computed here from the sittings the test recorded
(Python's ``statistics`` and ``zoneinfo``); each test runs on both databases,
so both must give these same figures.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from builders import BASE_TIME, CREATE_TEST, RECORD_SITTINGS, build_world, sitting_row
from support import admin_of, analyst_of

from gql.ids import to_global_id
from models import Sitting
from models.enums import Role
from resolvers import analytics

AGGREGATES = """
query($filter: SittingFilter, $groupBy: [SittingDimension!], $timeZone: String) {
  sittingAggregates(filter: $filter, groupBy: $groupBy, timeZone: $timeZone) {
    test { id name } status takenMonth certifiedMonth organisation { id name }
    count averageScore medianScore minScore maxScore
  }
}
"""
HISTOGRAM = """
query($filter: SittingFilter, $width: Int!) { scoreHistogram(filter: $filter, bucketWidth: $width) { from to count } }
"""
TOTAL = "query($filter: SittingFilter) { sittings(filter: $filter, first: 1) { totalCount } }"
CERTIFY = """
mutation($ids: [ID!]!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: "analytics"}) { certifiedCount errors { code } }
}
"""
CREATE_SCALED_TEST = """
mutation($name: String!, $max: Int!) {
  createTest(input: {name: $name, minCertifiableScore: 0, scoreMax: $max}) { test { id } errors { code } }
}
"""

BERLIN = ZoneInfo("Europe/Berlin")
# Instants around the 2026 daylight-saving changes (Europe: 29 March and 25 October; New York: 1 November).
DST_EDGES = [
    datetime(2026, 3, 29, 0, 30, tzinfo=UTC),  # Berlin 01:30 CET: March
    datetime(2026, 3, 31, 21, 59, 59, tzinfo=UTC),  # Berlin 23:59:59 CEST: March
    datetime(2026, 3, 31, 22, 30, tzinfo=UTC),  # Berlin 00:30 CEST on 1 April
    datetime(2026, 10, 31, 22, 30, tzinfo=UTC),  # Berlin 23:30 CET: October
    datetime(2026, 10, 31, 23, 30, tzinfo=UTC),  # Berlin 00:30 CET on 1 November
    datetime(2026, 11, 1, 3, 30, tzinfo=UTC),  # New York 23:30 EDT on 31 October
    datetime(2026, 11, 1, 4, 30, tzinfo=UTC),  # New York 00:30 EDT on 1 November
    datetime(2026, 12, 1, 4, 30, tzinfo=UTC),  # New York 23:30 EST on 30 November (EDT would be December)
]
NULL_FIELDS = {"test": None, "status": None, "takenMonth": None, "certifiedMonth": None, "organisation": None}


def stats_of(scores: list[int]) -> dict:
    """What a group of ``scores`` must report: exact mean, median as PostgreSQL's percentile_cont(0.5)."""
    return {
        "count": len(scores),
        "averageScore": sum(scores) / len(scores),
        "medianScore": float(statistics.median(scores)),
        "minScore": min(scores),
        "maxScore": max(scores),
    }


async def record(platform, world, rows: list[tuple[int, datetime]], *, prefix: str, test: str | None = None) -> None:
    """Record one sitting per (score, takenAt) for ``world``'s organisation."""
    values = [
        sitting_row(world.organisation_id, test or world.test_id, n, score=score, taken_at=taken_at, prefix=prefix)
        for n, (score, taken_at) in enumerate(rows)
    ]
    result = (await platform.data(RECORD_SITTINGS, {"rows": values}))["recordSittings"]
    assert result["errors"] == [], result


async def aggregates(client, **variables) -> list[dict]:
    return (await client.data(AGGREGATES, variables))["sittingAggregates"]


def error_code(body: dict) -> str:
    assert body.get("data") is None or not any(body["data"].values()), body
    return body["errors"][0]["extensions"]["code"]


async def test_one_group_of_all_with_an_odd_count(server):
    # given five sittings of one organisation, and another organisation's
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)
    scores = [50, 91, 70, 64, 85]
    await record(platform, world, [(s, BASE_TIME + timedelta(minutes=n)) for n, s in enumerate(scores)], prefix="odd")
    foreign = await build_world(platform, sittings=0, credits=0, name="Foreign Org")
    await record(platform, foreign, [(5, BASE_TIME)], prefix="foreign")

    # when its admin asks for the aggregates without groupBy
    groups = await aggregates(admin_of(server, world))

    # then one entry holds exactly its five sittings' figures (median: the middle score)
    assert groups == [{**NULL_FIELDS, **stats_of(scores), "medianScore": 70.0}]


async def test_an_even_count_takes_the_mean_of_the_two_middle_scores_of_what_sittings_lists(server):
    # given six sittings whose two middle scores (within the filter) are 61 and 74
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)
    scores = [40, 61, 74, 99, 55, 80, 12]
    await record(platform, world, [(s, BASE_TIME + timedelta(minutes=n)) for n, s in enumerate(scores)], prefix="even")
    admin = admin_of(server, world)
    score_filter = {"scoreMin": 40}

    # when the aggregates are asked with a filter
    groups = await aggregates(admin, filter=score_filter)

    # then they cover exactly what the sittings query lists for the same filter
    kept = [s for s in scores if s >= 40]
    total = (await admin.data(TOTAL, {"filter": score_filter}))["sittings"]["totalCount"]
    assert groups == [{**NULL_FIELDS, **stats_of(kept), "medianScore": (61 + 74) / 2}]
    assert groups[0]["count"] == total == 6


async def test_no_sittings_give_one_empty_group_or_no_groups(server):
    # given an organisation without sittings
    world = await build_world(server.platform(), sittings=0, credits=0)
    admin = admin_of(server, world)

    # when its admin asks without and with groupBy
    ungrouped = await aggregates(admin)
    grouped = await aggregates(admin, groupBy=["TEST", "TAKEN_MONTH"])

    # then: one entry of count 0 with null statistics; no entries at all
    empty = {"count": 0, "averageScore": None, "medianScore": None, "minScore": None, "maxScore": None}
    assert ungrouped == [{**NULL_FIELDS, **empty}]
    assert grouped == []


async def test_groups_by_test_and_status_in_order_with_repeats_ignored(server):
    # given two tests (minimum 60): test 1 has eligible and low scores, test 2 one eligible sitting, one certified
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=5, min_score=60)
    second = (await platform.data(CREATE_TEST, {"name": "Second test", "min": 60}))["createTest"]["test"]["id"]
    first_rows = [(90, BASE_TIME), (30, BASE_TIME), (70, BASE_TIME), (45, BASE_TIME)]
    await record(platform, world, first_rows, prefix="t1")
    await record(platform, world, [(88, BASE_TIME), (66, BASE_TIME)], prefix="t2", test=second)
    admin = admin_of(server, world)
    certified = await Sitting.get(external_id="t2-1")
    result = await admin.data(CERTIFY, {"ids": [to_global_id("Sitting", certified.id)]})
    assert result["certifySittings"]["certifiedCount"] == 1

    # when the aggregates are grouped by TEST, STATUS, TEST
    groups = await aggregates(admin, groupBy=["TEST", "STATUS", "TEST"])

    # then one entry per (test, status), by test id then status in workflow order; other dimensions null
    tests = {world.test_id: "Acme Languages English", second: "Second test"}
    expected = [
        (world.test_id, "UNSELECTED", [90, 70]),
        (world.test_id, "INELIGIBLE", [30, 45]),
        (second, "UNSELECTED", [88]),
        (second, "IN_PROGRESS", [66]),
    ]
    assert groups == [
        {**NULL_FIELDS, "test": {"id": test, "name": tests[test]}, "status": status, **stats_of(scores)}
        for test, status, scores in expected
    ]
    assert groups == await aggregates(admin, groupBy=["TEST", "STATUS"])


async def test_taken_months_follow_the_time_zone_and_its_daylight_saving_changes(server):
    # given sittings taken around the 2026 daylight-saving changes
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)
    rows = [(50 + n, taken) for n, taken in enumerate(DST_EDGES)]
    await record(platform, world, rows, prefix="dst")
    admin = admin_of(server, world)

    for zone_name in ("Europe/Berlin", "America/New_York", "UTC"):
        # when they are grouped by TAKEN_MONTH in the zone
        groups = await aggregates(admin, groupBy=["TAKEN_MONTH"], timeZone=zone_name)

        # then each sitting falls in its calendar month there, as zoneinfo says, oldest first
        months: dict[str, list[int]] = defaultdict(list)
        for score, taken in rows:
            months[taken.astimezone(ZoneInfo(zone_name)).strftime("%Y-%m")].append(score)
        assert groups == [
            {**NULL_FIELDS, "takenMonth": month, **stats_of(scores)} for month, scores in sorted(months.items())
        ], zone_name

    # and the edge cases land where the calendar puts them
    months_in = {
        zone: [(g["takenMonth"], g["count"]) for g in await aggregates(admin, groupBy=["TAKEN_MONTH"], timeZone=zone)]
        for zone in ("Europe/Berlin", "America/New_York")
    }
    months_in["UTC"] = [(g["takenMonth"], g["count"]) for g in await aggregates(admin, groupBy=["TAKEN_MONTH"])]
    assert months_in == {
        "Europe/Berlin": [("2026-03", 2), ("2026-04", 1), ("2026-10", 1), ("2026-11", 3), ("2026-12", 1)],
        "America/New_York": [("2026-03", 3), ("2026-10", 3), ("2026-11", 2)],
        "UTC": [("2026-03", 3), ("2026-10", 2), ("2026-11", 2), ("2026-12", 1)],
    }


ODD_ZONES = (
    "Asia/Kathmandu",  # +05:45
    "Pacific/Kiritimati",  # +14:00
    "Pacific/Pago_Pago",  # -11:00
    "America/St_Johns",  # -03:30 / -02:30
    "Australia/Lord_Howe",  # +10:30 / +11:00, a half-hour daylight saving
    "Europe/Berlin",
)


async def test_months_near_every_month_start_match_zoneinfo_in_zones_far_from_utc(
    server,
):
    # given sittings of two tests taken within 15 hours of each UTC month start of 2026, to the microsecond
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)
    other_test = (await platform.data(CREATE_TEST, {"name": "Second test", "min": 0}))["createTest"]["test"]["id"]
    rng = random.Random(5)
    rows = []
    for month in range(1, 13):
        start = datetime(2026, month, 1, tzinfo=UTC)
        for _ in range(4):
            taken = start + timedelta(
                seconds=rng.randint(-15 * 3600, 15 * 3600),
                microseconds=rng.randrange(10**6),
            )
            rows.append((rng.randint(0, 100), taken, rng.choice([world.test_id, other_test])))
    for test in (world.test_id, other_test):
        mine = [(score, taken) for score, taken, of in rows if of == test]
        await record(platform, world, mine, prefix=f"edge-{test[-4:]}", test=test)
    admin = admin_of(server, world)

    for zone_name in ODD_ZONES:
        # when they are grouped by TAKEN_MONTH and TEST in the zone
        groups = await aggregates(admin, groupBy=["TAKEN_MONTH", "TEST"], timeZone=zone_name)

        # then every group is what zoneinfo's calendar gives, oldest month first, then by test
        expected: dict[tuple[str, str], list[int]] = defaultdict(list)
        for score, taken, test in rows:
            expected[(taken.astimezone(ZoneInfo(zone_name)).strftime("%Y-%m"), test)].append(score)
        got = {(g["takenMonth"], g["test"]["id"]): {k: g[k] for k in stats_of([0])} for g in groups}
        assert got == {key: stats_of(scores) for key, scores in expected.items()}, zone_name
        assert [g["takenMonth"] for g in groups] == sorted(g["takenMonth"] for g in groups)


async def test_the_last_microsecond_of_a_month_and_fifty_six_years_of_months_stay_exact(server):
    # given sittings one microsecond before and at local month starts in zones on both sides of UTC,
    # and one sitting from 1970, the earliest a sitting may be
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)
    zones = ("Europe/Dublin", "Pacific/Chatham", "America/St_Johns")
    instants = [datetime(1970, 1, 1, tzinfo=UTC)]
    for zone_name in zones:
        for month in (3, 10, 11):
            start = datetime(2026, month, 1, tzinfo=ZoneInfo(zone_name)).astimezone(UTC)
            instants += [start - timedelta(microseconds=1), start]
    await record(platform, world, [(n % 90, taken) for n, taken in enumerate(instants)], prefix="edge")
    admin = admin_of(server, world)

    for zone_name in zones:
        # when they are grouped by TAKEN_MONTH in the zone
        groups = await aggregates(admin, groupBy=["TAKEN_MONTH"], timeZone=zone_name)

        # then each is in its month there, as zoneinfo says
        expected: dict[str, int] = defaultdict(int)
        for taken in instants:
            expected[taken.astimezone(ZoneInfo(zone_name)).strftime("%Y-%m")] += 1
        assert {g["takenMonth"]: g["count"] for g in groups} == dict(expected), zone_name


async def test_sittings_before_1970_are_refused(server):
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)
    row = sitting_row(world.organisation_id, world.test_id, 0, taken_at=datetime(1969, 12, 31, 23, 59, tzinfo=UTC))

    result = (await platform.data(RECORD_SITTINGS, {"rows": [row]}))["recordSittings"]

    assert result["recordedCount"] == 0
    assert [(e["code"], e["message"]) for e in result["errors"]] == [
        ("INVALID_INPUT", "sitting 0: takenAt is before 1970-01-01T00:00:00Z")
    ]


async def test_certified_months_put_never_certified_sittings_last_under_null(server):
    # given three certified sittings whose certification times sit on Berlin's month edges, and two never certified
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=3)
    await record(platform, world, [(60 + n, BASE_TIME + timedelta(minutes=n)) for n in range(5)], prefix="cm")
    admin = admin_of(server, world)
    sittings = [await Sitting.get(external_id=f"cm-{n}") for n in range(5)]
    result = await admin.data(CERTIFY, {"ids": [to_global_id("Sitting", s.id) for s in sittings[:3]]})
    assert result["certifySittings"]["certifiedCount"] == 3
    # certification happens now; place it on the edges the test is about
    certified_at = [DST_EDGES[1], DST_EDGES[2], DST_EDGES[4]]
    for sitting, at in zip(sittings, certified_at):
        await Sitting.filter(id=sitting.id).update(certified_at=at)

    # when grouped by CERTIFIED_MONTH then STATUS in Berlin
    groups = await aggregates(admin, groupBy=["CERTIFIED_MONTH", "STATUS"], timeZone="Europe/Berlin")

    # then the months are Berlin's and the uncertified sittings come last with a null month
    assert [(g["certifiedMonth"], g["status"], g["count"]) for g in groups] == [
        ("2026-03", "IN_PROGRESS", 1),
        ("2026-04", "IN_PROGRESS", 1),
        ("2026-11", "IN_PROGRESS", 1),
        (None, "UNSELECTED", 2),
    ]
    assert groups[-1] == {**NULL_FIELDS, "status": "UNSELECTED", **stats_of([63, 64])}
    assert [m.astimezone(BERLIN).strftime("%Y-%m") for m in certified_at] == ["2026-03", "2026-04", "2026-11"]


async def test_each_role_aggregates_its_own_scope(server):
    # given two organisations with different sittings
    platform = server.platform()
    own = await build_world(platform, sittings=0, credits=0)
    await record(platform, own, [(80, BASE_TIME), (60, BASE_TIME)], prefix="own")
    other = await build_world(platform, sittings=0, credits=0, name="Other Org")
    await record(platform, other, [(20, BASE_TIME)], prefix="other")

    # when the analyst, the platform admin and the roles without analytics ask
    analyst = await aggregates(analyst_of(server, own))
    everything = await aggregates(platform)
    per_organisation = await aggregates(platform, groupBy=["ORGANISATION"])
    refused = {
        role: await server.client(server.token(role, org=own.organisation_pk, test_taker=1)).post(AGGREGATES)
        for role in (Role.TEST_TAKER, Role.SECURITY_REVIEWER)
    }
    analyst_by_organisation = await analyst_of(server, own).post(AGGREGATES, {"groupBy": ["ORGANISATION"]})

    # then the analyst sees its organisation, the platform admin all of them, together or apart
    assert analyst == [{**NULL_FIELDS, **stats_of([80, 60])}]
    assert everything == [{**NULL_FIELDS, **stats_of([80, 60, 20])}]
    assert per_organisation == [
        {**NULL_FIELDS, "organisation": {"id": own.organisation_id, "name": "Acme Languages"}, **stats_of([80, 60])},
        {**NULL_FIELDS, "organisation": {"id": other.organisation_id, "name": "Other Org"}, **stats_of([20])},
    ]
    # and the others are refused, as is an analyst grouping by organisation
    assert {role: error_code(body) for role, body in refused.items()} == {
        Role.TEST_TAKER: "FORBIDDEN",
        Role.SECURITY_REVIEWER: "FORBIDDEN",
    }
    assert error_code(analyst_by_organisation) == "FORBIDDEN"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "utc", "", "Europe/", "../etc/passwd", "Europe/Berlin ", "localtime", "Factory"])
async def test_an_unknown_time_zone_is_bad_user_input(sqlite_server, zone):
    # given an organisation with a sitting
    world = await build_world(sqlite_server.platform(), sittings=1, credits=0)

    # when its admin names a time zone that is no IANA key
    body = await admin_of(sqlite_server, world).post(AGGREGATES, {"groupBy": ["TAKEN_MONTH"], "timeZone": zone})

    # then the call is refused as bad input
    assert error_code(body) == "BAD_USER_INPUT"
    assert "timeZone" in body["errors"][0]["message"]


async def test_bad_filters_are_bad_user_input_for_every_aggregate(server):
    # given an organisation's admin
    world = await build_world(server.platform(), sittings=1, credits=0)
    admin = admin_of(server, world)
    bad_filters = [{"scoreMin": 80, "scoreMax": 20}, {"status": []}, {"testId": world.organisation_id}]

    # when the aggregates and the histogram get a contradictory or malformed filter
    bodies = [await admin.post(AGGREGATES, {"filter": f}) for f in bad_filters]
    bodies += [await admin.post(HISTOGRAM, {"filter": f, "width": 10}) for f in bad_filters]

    # then each is refused as bad input
    assert [error_code(body) for body in bodies] == ["BAD_USER_INPUT"] * 6


async def test_more_groups_than_the_limit_is_bad_user_input(server, monkeypatch):
    # given three sittings in three months, and the group limit lowered to two to keep the data small
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)
    await record(platform, world, [(50, BASE_TIME - timedelta(days=40 * n)) for n in range(3)], prefix="many")
    monkeypatch.setattr(analytics, "MAX_GROUPS", 2)
    admin = admin_of(server, world)

    # when the admin groups by month, then by nothing
    refused = await admin.post(AGGREGATES, {"groupBy": ["TAKEN_MONTH"]})
    kept = await aggregates(admin)

    # then the grouped call asks to narrow the filter; the single group is fine
    assert error_code(refused) == "BAD_USER_INPUT"
    assert "narrow the filter" in refused["errors"][0]["message"]
    assert kept[0]["count"] == 3


async def test_histogram_buckets_include_the_empty_ones_between(server):
    # given scores 3, 7, 25, 27 and 61, and another organisation's 99
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)
    scores = [3, 7, 25, 27, 61]
    await record(platform, world, [(s, BASE_TIME) for s in scores], prefix="h")
    other = await build_world(platform, sittings=0, credits=0, name="Other Org")
    await record(platform, other, [(99, BASE_TIME)], prefix="oh")
    admin = admin_of(server, world)

    # when the histogram is asked with widths 10 and 1, and with a filter that keeps nothing
    by_ten = (await admin.data(HISTOGRAM, {"width": 10}))["scoreHistogram"]
    by_one = (await admin.data(HISTOGRAM, {"width": 1}))["scoreHistogram"]
    none = (await admin.data(HISTOGRAM, {"width": 10, "filter": {"scoreMin": 62}}))["scoreHistogram"]

    # then buckets start at multiples of the width, from the lowest to the highest non-empty one
    counts = {k: sum(1 for s in scores if s // 10 == k) for k in range(0, 7)}
    assert by_ten == [{"from": 10 * k, "to": 10 * k + 10, "count": n} for k, n in counts.items()]
    assert [b["count"] for b in by_ten] == [2, 0, 2, 0, 0, 0, 1]
    assert by_one == [{"from": k, "to": k + 1, "count": scores.count(k)} for k in range(3, 62)]
    assert none == []


@pytest.mark.parametrize("width", [0, -5])
async def test_histogram_width_below_one_is_bad_user_input(sqlite_server, width):
    world = await build_world(sqlite_server.platform(), sittings=1, credits=0)
    body = await admin_of(sqlite_server, world).post(HISTOGRAM, {"width": width})
    assert error_code(body) == "BAD_USER_INPUT"


async def test_histogram_of_more_than_10000_buckets_is_bad_user_input(server):
    # given scores 0 and 20,000 on a test scored up to 20,000
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)
    created = await platform.data(CREATE_SCALED_TEST, {"name": "Wide test", "max": 20_000})
    test = created["createTest"]["test"]["id"]
    await record(platform, world, [(0, BASE_TIME), (20_000, BASE_TIME)], prefix="w", test=test)
    admin = admin_of(server, world)

    # when the histogram is asked with width 1 (20,001 buckets), then 2 (10,001) and 3 (6,667)
    too_many = [await admin.post(HISTOGRAM, {"width": width}) for width in (1, 2)]
    fine = (await admin.data(HISTOGRAM, {"width": 3}))["scoreHistogram"]

    # then the first two are refused and the last one spans every bucket
    assert [error_code(body) for body in too_many] == ["BAD_USER_INPUT", "BAD_USER_INPUT"]
    assert len(fine) == 6667
    assert fine[0] == {"from": 0, "to": 3, "count": 1} and fine[-1] == {"from": 19_998, "to": 20_001, "count": 1}
    assert sum(bucket["count"] for bucket in fine) == 2


async def test_every_filter_criterion_applies_as_in_sittings(server):
    # given sittings of two tests at different times and scores
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)
    rows = [(40 + 10 * n, BASE_TIME - timedelta(days=n)) for n in range(6)]
    await record(platform, world, rows, prefix="f")
    admin = admin_of(server, world)
    filters = [
        {"search": "candidate 3"},
        {"status": ["UNSELECTED"], "scoreMax": 70},
        {"testId": world.test_id, "takenAfter": (BASE_TIME - timedelta(days=2)).isoformat()},
        {"takenBefore": (BASE_TIME - timedelta(days=3)).isoformat(), "scoreMin": 60},
    ]

    for spec in filters:
        # when the aggregates, the histogram and the sittings query get the same filter
        groups = await aggregates(admin, filter=spec)
        buckets = (await admin.data(HISTOGRAM, {"filter": spec, "width": 1}))["scoreHistogram"]
        total = (await admin.data(TOTAL, {"filter": spec}))["sittings"]["totalCount"]

        # then they count the same sittings
        assert groups[0]["count"] == sum(b["count"] for b in buckets) == total > 0, spec
