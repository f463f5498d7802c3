"""The sittings connection: filters, orderings, stable cursor pages, page-size limits and stats."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from builders import BASE_TIME, CREATE_TEST, RECORD_SITTINGS, build_world, sitting_row
from support import admin_of, sitting_pk

SITTINGS = """
query($filter: SittingFilter, $orderBy: SittingOrder, $first: Int, $after: String) {
  sittings(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    edges { cursor node { id score takenAt status testTaker { name } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
SITTING_STATS = """
query($filter: SittingFilter) {
  sittingStats(filter: $filter) { total averageScore byStatus { status count } }
}
"""
SELECT_SITTINGS = "mutation($ids: [ID!]) { selectSittings(input: {ids: $ids}) { changedCount errors { code } } }"
CERTIFY_SITTINGS = """
mutation($ids: [ID!]) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: "query-scene"}) { certifiedCount errors { code } }
}
"""

ASC = {"field": "TAKEN_AT", "direction": "ASC"}
T = [BASE_TIME + timedelta(hours=n) for n in range(6)]

# name, email, test (1 or 2), score, photo; taken at T[n] for row n
PEOPLE = [
    ("Alice Martin", "alice@example.com", 1, 90, "PASSED"),  # UNSELECTED
    ("Zack Bob Stone", "BOB@Example.com", 1, 55, "PASSED"),  # INELIGIBLE (LOW_SCORE)
    ("Chloé Durand", "chloe@example.org", 2, 70, "FAILED"),  # INELIGIBLE (PHOTO_PROBLEM)
    ("David Okafor", "david@sample.net", 2, 60, "PASSED"),  # UNSELECTED
    ("Emma Alicea", "emma@example.com", 1, 75, "PASSED"),  # SELECTED
    ("Abel Frank Li", "frank.li@alice.io", 1, 80, "PASSED"),  # IN_PROGRESS
]
ALICE, BOB, CHLOE, DAVID, EMMA, FRANK = (p[0] for p in PEOPLE)


@dataclass
class Scene:
    admin: object
    test1: str
    test2: str
    ids: list[str]


async def build_scene(server) -> Scene:
    """Six sittings in every status but CERTIFIED, two tests (minimum 60 and 50), and a foreign organisation."""
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=10, min_score=60)
    test2 = (await platform.data(CREATE_TEST, {"name": "Second test", "min": 50}))["createTest"]["test"]["id"]
    tests = {1: world.test_id, 2: test2}
    rows = [
        sitting_row(
            world.organisation_id, tests[test], n, score=score, photo=photo, email=email, name=name, taken_at=T[n]
        )
        for n, (name, email, test, score, photo) in enumerate(PEOPLE)
    ]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    await build_world(platform, sittings=4, credits=0, name="Foreign Org", prefix="foreign")
    admin = admin_of(server, world)
    ids = [e["node"]["id"] for e in (await admin.data(SITTINGS, {"orderBy": ASC}))["sittings"]["edges"]]
    assert (await admin.data(SELECT_SITTINGS, {"ids": [ids[4]]}))["selectSittings"]["changedCount"] == 1
    assert (await admin.data(CERTIFY_SITTINGS, {"ids": [ids[5]]}))["certifySittings"]["certifiedCount"] == 1
    return Scene(admin, world.test_id, test2, ids)


def names(connection: dict) -> list[str]:
    return [edge["node"]["testTaker"]["name"] for edge in connection["edges"]]


FILTERS = [
    ({"status": ["UNSELECTED"]}, [ALICE, DAVID]),
    ({"status": ["INELIGIBLE", "SELECTED"]}, [BOB, CHLOE, EMMA]),
    ({"status": ["IN_PROGRESS"]}, [FRANK]),
    ({"status": ["CERTIFIED"]}, []),
    ({"testId": "test2"}, [CHLOE, DAVID]),
    ({"scoreMin": 70}, [ALICE, CHLOE, EMMA, FRANK]),
    ({"scoreMax": 60}, [BOB, DAVID]),
    ({"scoreMin": 60, "scoreMax": 75}, [CHLOE, DAVID, EMMA]),
    ({"takenAfter": T[2].isoformat()}, [CHLOE, DAVID, EMMA, FRANK]),
    ({"takenBefore": T[2].isoformat()}, [ALICE, BOB]),
    ({"takenAfter": T[1].isoformat(), "takenBefore": T[4].isoformat()}, [BOB, CHLOE, DAVID]),
    ({"search": "ALICE"}, [ALICE, EMMA, FRANK]),
    ({"search": "example.COM"}, [ALICE, BOB, EMMA]),
    ({"search": "  okafor "}, [DAVID]),
    ({"search": "Chloé"}, [CHLOE]),
    ({"search": "nobody"}, []),
    ({"status": ["UNSELECTED", "SELECTED"], "testId": "test1"}, [ALICE, EMMA]),
    ({"status": ["UNSELECTED", "INELIGIBLE"], "scoreMin": 60, "search": "d"}, [CHLOE, DAVID]),
]


def resolve(spec: dict, scene: Scene) -> dict:
    tests = {"test1": scene.test1, "test2": scene.test2}
    return {k: tests.get(v, v) if k == "testId" else v for k, v in spec.items()}


async def test_every_filter(server):
    # given the six-sitting scene and a foreign organisation
    scene = await build_scene(server)

    # when the admin applies each filter of the table
    results = {}
    for spec, _ in FILTERS:
        data = await scene.admin.data(SITTINGS, {"filter": resolve(spec, scene), "orderBy": ASC})
        results[json.dumps(spec, ensure_ascii=False)] = (names(data["sittings"]), data["sittings"]["totalCount"])

    # then each returns exactly its organisation's matching sittings, and totalCount counts them
    assert results == {json.dumps(spec, ensure_ascii=False): (expected, len(expected)) for spec, expected in FILTERS}


ORDERINGS = [
    ("TAKEN_AT", "ASC", [ALICE, BOB, CHLOE, DAVID, EMMA, FRANK]),
    ("TAKEN_AT", "DESC", [FRANK, EMMA, DAVID, CHLOE, BOB, ALICE]),
    ("SCORE", "ASC", [BOB, DAVID, CHLOE, EMMA, FRANK, ALICE]),
    ("SCORE", "DESC", [ALICE, FRANK, EMMA, CHLOE, DAVID, BOB]),
    ("TEST_TAKER_NAME", "ASC", [FRANK, ALICE, CHLOE, DAVID, EMMA, BOB]),
    ("TEST_TAKER_NAME", "DESC", [BOB, EMMA, DAVID, CHLOE, ALICE, FRANK]),
]


async def test_every_ordering(sqlite_server):
    # given the six-sitting scene, recorded in an order that is neither by name nor by score
    scene = await build_scene(sqlite_server)

    # when the admin orders by each field and direction
    results = {}
    for field, direction, _ in ORDERINGS:
        data = await scene.admin.data(SITTINGS, {"orderBy": {"field": field, "direction": direction}})
        results[f"{field} {direction}"] = names(data["sittings"])

    # then every order is exact
    assert results == {f"{field} {direction}": expected for field, direction, expected in ORDERINGS}


async def test_default_order_is_newest_first(sqlite_server):
    # given the scene
    scene = await build_scene(sqlite_server)

    # when the admin lists without an order
    data = await scene.admin.data(SITTINGS)

    # then the newest sitting comes first
    assert names(data["sittings"]) == [FRANK, EMMA, DAVID, CHLOE, BOB, ALICE]


async def record_ties(server):
    """23 sittings all taken at the same instant, scores from {60, 70, 80}, names from four."""
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)
    rows = [
        sitting_row(
            world.organisation_id,
            world.test_id,
            n,
            score=60 + 10 * (n % 3),
            taken_at=BASE_TIME,
            email=f"tie{n}@example.com",
            name=f"Candidate {'ABCD'[n % 4]}",
        )
        for n in range(23)
    ]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    return admin_of(server, world)


async def walk(admin, order: dict, size: int) -> list[dict]:
    """Every page of ``size`` sittings in ``order``, following endCursor."""
    pages, after = [], None
    while True:
        page = (await admin.data(SITTINGS, {"orderBy": order, "first": size, "after": after}))["sittings"]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize(
    ("field", "direction"), [(f, d) for f, d, _ in ORDERINGS], ids=[f"{f}-{d}" for f, d, _ in ORDERINGS]
)
async def test_pages_are_stable_when_rows_tie(server, field, direction):
    # given 23 sittings sharing one takenAt, with tied scores and names
    admin = await record_ties(server)
    order = {"field": field, "direction": direction}
    full = (await admin.data(SITTINGS, {"orderBy": order, "first": 500}))["sittings"]

    # when the admin walks every page of five
    pages = await walk(admin, order, 5)

    # then the pages concatenate to the full list: no duplicate, no skip, same order
    walked = [edge["node"]["id"] for page in pages for edge in page["edges"]]
    assert walked == [edge["node"]["id"] for edge in full["edges"]]
    assert len(set(walked)) == 23
    assert [len(page["edges"]) for page in pages] == [5, 5, 5, 5, 3]
    assert all(page["totalCount"] == 23 for page in pages)
    assert [page["pageInfo"]["hasPreviousPage"] for page in pages] == [False, True, True, True, True]
    # and the full list is ordered by the field, ties broken by id in the same direction
    key = {"TAKEN_AT": "takenAt", "SCORE": "score", "TEST_TAKER_NAME": "name"}[field]
    nodes = [edge["node"] | {"name": edge["node"]["testTaker"]["name"]} for edge in full["edges"]]
    ordered = sorted(nodes, key=lambda n: (n[key], sitting_pk(n["id"])), reverse=direction == "DESC")
    assert [n["id"] for n in nodes] == [n["id"] for n in ordered]


SKIPPED = """
query($orderBy: SittingOrder, $first: Int, $after: String, $skip: Int) {
  sittings(orderBy: $orderBy, first: $first, after: $after, skip: $skip) {
    totalCount
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""


@pytest.mark.parametrize(
    ("field", "direction"), [(f, d) for f, d, _ in ORDERINGS], ids=[f"{f}-{d}" for f, d, _ in ORDERINGS]
)
async def test_skip_opens_a_page_by_its_number(server, field, direction):
    # given 23 sittings with ties, walked in pages of five
    admin = await record_ties(server)
    order = {"field": field, "direction": direction}
    pages = await walk(admin, order, 5)

    # when the admin opens each page by its number instead
    skipped = [(await admin.data(SKIPPED, {"orderBy": order, "first": 5, "skip": 5 * n}))["sittings"] for n in range(5)]

    # then each is the same page, with the same cursors, and says what comes before and after it
    assert [[e["cursor"] for e in p["edges"]] for p in skipped] == [[e["cursor"] for e in p["edges"]] for p in pages]
    assert [p["pageInfo"]["hasPreviousPage"] for p in skipped] == [False, True, True, True, True]
    assert [p["pageInfo"]["hasNextPage"] for p in skipped] == [True, True, True, True, False]
    # and skip counts on from a cursor too
    after = pages[1]["pageInfo"]["endCursor"]
    on = (await admin.data(SKIPPED, {"orderBy": order, "first": 5, "after": after, "skip": 10}))["sittings"]
    assert [e["cursor"] for e in on["edges"]] == [e["cursor"] for e in pages[4]["edges"]]
    # past the end: an empty page that still counts them all
    beyond = (await admin.data(SKIPPED, {"orderBy": order, "first": 5, "skip": 23}))["sittings"]
    assert (beyond["edges"], beyond["totalCount"], beyond["pageInfo"]["hasNextPage"]) == ([], 23, False)


@pytest.mark.parametrize("skip", [-1, 10_000_001])
async def test_skip_outside_0_to_10_million_is_bad_user_input(sqlite_server, skip):
    world = await build_world(sqlite_server.platform(), sittings=1)
    body = await admin_of(sqlite_server, world).post(SKIPPED, {"skip": skip})
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == f"skip must be between 0 and 10000000, got {skip}"


@pytest.mark.parametrize("first", [0, -1, 501, 10_000])
async def test_first_outside_1_to_500_is_bad_user_input(sqlite_server, first):
    # given an admin
    world = await build_world(sqlite_server.platform(), sittings=1)

    # when they ask for a page size outside 1–500
    body = await admin_of(sqlite_server, world).post(SITTINGS, {"first": first})

    # then it is a BAD_USER_INPUT GraphQL error
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("first", [1, 500])
async def test_first_at_the_limits_is_accepted(sqlite_server, first):
    # given two sittings
    world = await build_world(sqlite_server.platform(), sittings=2)

    # when the admin asks for 1 or 500
    data = await admin_of(sqlite_server, world).data(SITTINGS, {"first": first})

    # then the page holds min(first, 2)
    assert len(data["sittings"]["edges"]) == min(first, 2)
    assert data["sittings"]["pageInfo"]["hasNextPage"] is (first == 1)


def b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


MALFORMED_CURSORS = {
    "not base64": "not a cursor!",
    "base64 of text": base64.urlsafe_b64encode(b"hello").decode(),
    "wrong shape": b64({"a": 1}),
    "unknown tag": b64([["x", 1], 1]),
    "pk not an int": b64([["v", 1], "1"]),
    "bad datetime": b64([["dt", "yesterday"], 1]),
    "value of another ordering": b64([["v", 80], 1]),
    "nested value": b64([["v", [1, 2]], 1]),
    "datetime without offset": b64([["dt", "2026-10-01T09:00:00"], 1]),
    "empty": "",
}


async def test_malformed_cursor_is_bad_user_input(server):
    # given an admin with sittings, ordered by takenAt
    world = await build_world(server.platform(), sittings=3)
    admin = admin_of(server, world)

    # when they page after each malformed cursor
    codes = {}
    for name, cursor in MALFORMED_CURSORS.items():
        body = await admin.post(SITTINGS, {"after": cursor, "orderBy": ASC})
        assert body["data"] is None, (name, body)
        codes[name] = [e["extensions"]["code"] for e in body["errors"]]

    # then each is a BAD_USER_INPUT GraphQL error, never an internal error or a silent page
    assert codes == {name: ["BAD_USER_INPUT"] for name in MALFORMED_CURSORS}


async def test_stats_count_every_status_and_average(server):
    # given the scene: 2 UNSELECTED, 1 SELECTED, 1 IN_PROGRESS, 2 INELIGIBLE
    scene = await build_scene(server)

    # when the admin asks for stats, overall and filtered
    overall = (await scene.admin.data(SITTING_STATS))["sittingStats"]
    second_test = (await scene.admin.data(SITTING_STATS, {"filter": {"testId": scene.test2}}))["sittingStats"]
    searched = (await scene.admin.data(SITTING_STATS, {"filter": {"search": "example.com"}}))["sittingStats"]

    # then every status is listed, zeros included, with the mean score
    assert overall == {
        "total": 6,
        "averageScore": 71.67,
        "byStatus": [
            {"status": "UNSELECTED", "count": 2},
            {"status": "SELECTED", "count": 1},
            {"status": "IN_PROGRESS", "count": 1},
            {"status": "CERTIFIED", "count": 0},
            {"status": "INELIGIBLE", "count": 2},
        ],
    }
    assert second_test == {
        "total": 2,
        "averageScore": 65.0,
        "byStatus": [
            {"status": "UNSELECTED", "count": 1},
            {"status": "SELECTED", "count": 0},
            {"status": "IN_PROGRESS", "count": 0},
            {"status": "CERTIFIED", "count": 0},
            {"status": "INELIGIBLE", "count": 1},
        ],
    }
    assert searched["total"] == 3
    assert searched["averageScore"] == 73.33


async def test_stats_of_nothing(server):
    # given an organisation with no sittings
    world = await build_world(server.platform(), sittings=0)

    # when its admin asks for stats
    stats = (await admin_of(server, world).data(SITTING_STATS))["sittingStats"]

    # then every count is zero and there is no average
    assert stats == {
        "total": 0,
        "averageScore": None,
        "byStatus": [
            {"status": s, "count": 0} for s in ("UNSELECTED", "SELECTED", "IN_PROGRESS", "CERTIFIED", "INELIGIBLE")
        ],
    }


@pytest.mark.parametrize(
    "spec",
    [
        {"status": []},
        {"scoreMin": 80, "scoreMax": 70},
        {"takenAfter": T[3].isoformat(), "takenBefore": T[1].isoformat()},
    ],
    ids=["empty status list", "scoreMin above scoreMax", "takenAfter after takenBefore"],
)
async def test_contradictory_filter_is_bad_user_input(sqlite_server, spec):
    # given an admin
    world = await build_world(sqlite_server.platform(), sittings=1)

    # when they send an impossible filter
    body = await admin_of(sqlite_server, world).post(SITTINGS, {"filter": spec})

    # then it is a BAD_USER_INPUT GraphQL error
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_search_folds_case_beyond_ascii(server):
    # given the scene, with "Chloé Durand"
    scene = await build_scene(server)

    # when the admin searches in capitals with an accent
    data = await scene.admin.data(SITTINGS, {"filter": {"search": "CHLOÉ"}})

    # then the sitting is found, on every backend
    assert names(data["sittings"]) == [CHLOE]
