"""selectSittings / unselectSittings: one of ids/filter/all, all-or-nothing ids, silent skips for filters."""

from __future__ import annotations

import pytest
from builders import RECORD_SITTINGS, build_world, sitting_row
from support import admin_of, sitting_gid, sitting_nodes, snapshot

SELECT_SITTINGS = """
mutation($input: SittingSelectionInput!) { selectSittings(input: $input) { changedCount errors { code message field } } }
"""
UNSELECT_SITTINGS = """
mutation($input: SittingSelectionInput!) { unselectSittings(input: $input) { changedCount errors { code message field } } }
"""
CERTIFY_SITTINGS = """
mutation($ids: [ID!]) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: "selection"}) { certifiedCount errors { code } }
}
"""
SELECTED_AT = "{ sittings(orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { status selectedAt } } } }"

U, S, P, I = "UNSELECTED", "SELECTED", "IN_PROGRESS", "INELIGIBLE"


async def build_scene(server):
    """Six sittings of one organisation, oldest first: U U U I (score 40) P (certified) S, and a foreign one."""
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=10, min_score=60)
    scores = [70, 80, 90, 40, 85, 95]
    rows = [sitting_row(world.organisation_id, world.test_id, n, score=s) for n, s in enumerate(scores)]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    foreign = await build_world(platform, sittings=1, name="Foreign Org", prefix="foreign")
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    assert (await admin.data(CERTIFY_SITTINGS, {"ids": [ids[4]]}))["certifySittings"]["certifiedCount"] == 1
    assert (await admin.data(SELECT_SITTINGS, {"input": {"ids": [ids[5]]}}))["selectSittings"]["changedCount"] == 1
    foreign_id = (await sitting_nodes(admin_of(server, foreign)))[0]["id"]
    return world, admin, ids, foreign_id


async def change(admin, document: str, selection: dict) -> dict:
    data = await admin.data(document, {"input": selection})
    return data["selectSittings" if document is SELECT_SITTINGS else "unselectSittings"]


async def current(admin) -> list[str]:
    return [node["status"] for node in await sitting_nodes(admin)]


SHAPES = [
    ({}, ["input"]),
    ({"ids": ["x"], "filter": {}}, ["input"]),
    ({"ids": ["x"], "all": True}, ["input"]),
    ({"filter": {}, "all": True}, ["input"]),
    ({"ids": ["x"], "filter": {}, "all": True}, ["input"]),
    ({"all": False}, ["input", "all"]),
    ({"ids": []}, ["input", "ids"]),
]


@pytest.mark.parametrize("document", [SELECT_SITTINGS, UNSELECT_SITTINGS], ids=["select", "unselect"])
async def test_exactly_one_of_ids_filter_all(sqlite_server, document):
    # given the scene
    world, admin, ids, _ = await build_scene(sqlite_server)
    before = await snapshot(world.organisation_pk)

    # when the admin sends each malformed selection
    results = [await change(admin, document, shape) for shape, _ in SHAPES]

    # then each is INVALID_INPUT naming the field, and nothing changed
    assert [(r["changedCount"], [(e["code"], e["field"]) for e in r["errors"]]) for r in results] == [
        (0, [("INVALID_INPUT", field)]) for _, field in SHAPES
    ]
    assert await snapshot(world.organisation_pk) == before


async def test_select_by_ids(server):
    # given the scene
    _, admin, ids, _ = await build_scene(server)

    # when the admin selects two unselected sittings, one named twice
    result = await change(admin, SELECT_SITTINGS, {"ids": [ids[0], ids[1], ids[0]]})

    # then both are SELECTED, with a selection time in UTC
    nodes = [edge["node"] for edge in (await admin.data(SELECTED_AT))["sittings"]["edges"]]
    assert result == {"changedCount": 2, "errors": []}
    assert [node["status"] for node in nodes] == [S, S, U, I, P, S]
    assert nodes[0]["selectedAt"].endswith("+00:00")
    assert nodes[2]["selectedAt"] is None


async def test_reselecting_and_reunselecting_is_no_change_and_no_error(server):
    # given the scene (sitting 5 SELECTED, sitting 0 UNSELECTED)
    _, admin, ids, _ = await build_scene(server)

    # when the admin selects a SELECTED one with an UNSELECTED one, then unselects an UNSELECTED one
    selected = await change(admin, SELECT_SITTINGS, {"ids": [ids[5], ids[0]]})
    unselected = await change(admin, UNSELECT_SITTINGS, {"ids": [ids[1]]})

    # then only the real change counts
    assert selected == {"changedCount": 1, "errors": []}
    assert unselected == {"changedCount": 0, "errors": []}
    assert await current(admin) == [S, U, U, I, P, S]


async def test_unselect_by_ids(server):
    # given the scene
    _, admin, ids, _ = await build_scene(server)

    # when the admin unselects the SELECTED sitting
    result = await change(admin, UNSELECT_SITTINGS, {"ids": [ids[5]]})

    # then it is UNSELECTED with no selection time
    nodes = [edge["node"] for edge in (await admin.data(SELECTED_AT))["sittings"]["edges"]]
    assert result == {"changedCount": 1, "errors": []}
    assert nodes[5] == {"status": U, "selectedAt": None}


BAD_IDS = [
    ("select", "foreign", "NOT_FOUND"),
    ("select", "malformed", "NOT_FOUND"),
    ("select", "not a sitting", "NOT_FOUND"),
    ("select", "unknown", "NOT_FOUND"),
    ("select", "ineligible", "NOT_ELIGIBLE"),
    ("select", "in progress", "INVALID_TRANSITION"),
    ("unselect", "foreign", "NOT_FOUND"),
    ("unselect", "ineligible", "NOT_ELIGIBLE"),
    ("unselect", "in progress", "INVALID_TRANSITION"),
]


async def test_one_bad_id_fails_the_whole_call(server):
    # given the scene
    world, admin, ids, foreign = await build_scene(server)
    before = await snapshot(world.organisation_pk)
    bad = {
        "foreign": foreign,
        "malformed": "%%%",
        "not a sitting": world.test_id,
        "unknown": sitting_gid(99_999),
        "ineligible": ids[3],
        "in progress": ids[4],
    }

    # when the admin names a good id (which would change), then a bad one at index 1
    results = []
    for verb, kind, _ in BAD_IDS:
        good = ids[0] if verb == "select" else ids[5]
        document = SELECT_SITTINGS if verb == "select" else UNSELECT_SITTINGS
        result = await change(admin, document, {"ids": [good, bad[kind]]})
        results.append((verb, kind, result["changedCount"], [(e["code"], e["field"]) for e in result["errors"]]))

    # then the call fails naming index 1 with the right code, and nothing changed
    assert results == [(verb, kind, 0, [(code, ["input", "ids", "1"])]) for verb, kind, code in BAD_IDS]
    assert await snapshot(world.organisation_pk) == before


async def test_select_by_filter_skips_what_cannot_change(server):
    # given the scene: scores 70 80 90 40 85 95 with statuses U U U I P S
    _, admin, _, _ = await build_scene(server)

    # when the admin selects every sitting scoring 80 or more
    result = await change(admin, SELECT_SITTINGS, {"filter": {"scoreMin": 80}})

    # then only the UNSELECTED matches changed; IN_PROGRESS and already SELECTED are skipped silently
    assert result == {"changedCount": 2, "errors": []}
    assert await current(admin) == [U, S, S, I, P, S]


async def test_select_by_filter_that_matches_only_ineligible_changes_nothing(server):
    # given the scene
    world, admin, _, _ = await build_scene(server)
    before = await snapshot(world.organisation_pk)

    # when the admin selects the INELIGIBLE sittings
    result = await change(admin, SELECT_SITTINGS, {"filter": {"status": ["INELIGIBLE"]}})

    # then nothing changes and there is no error
    assert result == {"changedCount": 0, "errors": []}
    assert await snapshot(world.organisation_pk) == before


async def test_select_all_then_unselect_all(server):
    # given the scene and a foreign organisation's sitting
    _, admin, _, foreign = await build_scene(server)

    # when the admin selects all, then unselects all
    selected = await change(admin, SELECT_SITTINGS, {"all": True})
    after_select = await current(admin)
    unselected = await change(admin, UNSELECT_SITTINGS, {"all": True})

    # then exactly the eligible ones of the organisation moved each time
    assert selected == {"changedCount": 3, "errors": []}
    assert after_select == [S, S, S, I, P, S]
    assert unselected == {"changedCount": 4, "errors": []}
    assert await current(admin) == [U, U, U, I, P, U]


async def test_unselect_by_filter(server):
    # given the scene with sittings 0 and 1 selected too
    _, admin, ids, _ = await build_scene(server)
    await change(admin, SELECT_SITTINGS, {"ids": [ids[0], ids[1]]})

    # when the admin unselects those scoring at most 85
    result = await change(admin, UNSELECT_SITTINGS, {"filter": {"scoreMax": 85}})

    # then the two selected ones that match are unselected; the 95 stays selected
    assert result == {"changedCount": 2, "errors": []}
    assert await current(admin) == [U, U, U, I, P, S]
