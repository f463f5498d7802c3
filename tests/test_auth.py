"""Who sees what (docs/RULES.md, "Who sees what"): every role × operation, and other organisations' objects staying hidden."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from builders import (
    BASE_TIME,
    CREATE_ORGANISATION,
    CREATE_TEST,
    PURCHASE_CREDITS,
    RECORD_SITTINGS,
    build_world,
    sitting_row,
)
from support import admin_of, snapshot

from gql.ids import decode_id
from models.enums import Role

SITTINGS = "{ sittings { totalCount } }"
SITTING_STATS = "{ sittingStats { total } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
VIEWER = "{ viewer { subject role organisation { id } testTaker { id } } }"
NOTIFICATIONS = "{ notifications { totalCount edges { node { id } } } }"
SELECT_SITTINGS = """
mutation($ids: [ID!]) { selectSittings(input: {ids: $ids}) { changedCount errors { code message field } } }
"""
UNSELECT_SITTINGS = """
mutation($ids: [ID!]) { unselectSittings(input: {ids: $ids}) { changedCount errors { code message field } } }
"""
CONFIRM_CERTIFICATION = """
mutation($key: String!) {
  confirmCertification(input: {idempotencyKey: $key}) { certifiedCount creditBalance errors { code field } }
}
"""
CERTIFY_SITTINGS = """
mutation($ids: [ID!], $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) {
    certifiedCount creditBalance errors { code field }
  }
}
"""
MARK_NOTIFICATIONS_READ = """
mutation($ids: [ID!]!) { markNotificationsRead(input: {ids: $ids}) { updatedCount errors { code field } } }
"""
CREDIT_BALANCE = "query($id: ID!) { node(id: $id) { ... on Organisation { creditBalance } } }"
SITTINGS_WITH_TAKERS = """
{ sittings(first: 500, orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { id testTaker { id } } } } }
"""
INTROSPECTION = "{ __schema { queryType { name } } }"

LATER = BASE_TIME + timedelta(hours=1)
ROLES = ["org_admin", "analyst", "test_taker", "security_reviewer", "platform_admin", "anonymous"]


@dataclass
class Scene:
    """Organisation A (3 sittings: #0 certified, #1 selected, #2 unselected), organisation B (2 sittings).

    The test taker is the candidate of A's sitting #0 and has one notification.
    """

    organisation: str
    other_organisation: str
    test: str
    sittings: list[str]
    other_sittings: list[str]
    test_taker_pk: int
    notification: str
    tokens: dict[str, str | None]


async def build_scene(server) -> Scene:
    platform = server.platform()
    world = await build_world(platform, sittings=3, credits=10)
    other = await build_world(platform, sittings=0, credits=5, name="Other Org", prefix="other")
    rows = [
        sitting_row(
            other.organisation_id, other.test_id, n, prefix="other", email=f"other{n}@example.com", taken_at=LATER
        )
        for n in range(2)
    ]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    edges = (await platform.data(SITTINGS_WITH_TAKERS))["sittings"]["edges"]
    ids = [edge["node"]["id"] for edge in edges]
    own, foreign = ids[:3], ids[3:]
    test_taker_pk = decode_id(edges[0]["node"]["testTaker"]["id"], "TestTaker")
    admin = admin_of(server, world)
    certified = await admin.data(CERTIFY_SITTINGS, {"ids": [own[0]], "key": "scene"})
    assert certified["certifySittings"]["errors"] == []
    assert (await admin.data(SELECT_SITTINGS, {"ids": [own[1]]}))["selectSittings"]["changedCount"] == 1
    tokens = {
        "org_admin": server.token(Role.ORG_ADMIN, org=world.organisation_pk),
        "analyst": server.token(Role.ANALYST, org=world.organisation_pk),
        "test_taker": server.token(Role.TEST_TAKER, test_taker=test_taker_pk),
        "security_reviewer": server.token(Role.SECURITY_REVIEWER),
        "platform_admin": server.token(Role.PLATFORM_ADMIN),
        "anonymous": None,
    }
    inbox = await server.client(tokens["test_taker"]).data(NOTIFICATIONS)
    notification = inbox["notifications"]["edges"][0]["node"]["id"]
    return Scene(
        world.organisation_id, other.organisation_id, world.test_id, own, foreign, test_taker_pk, notification, tokens
    )


@dataclass(frozen=True)
class Operation:
    """A document, its variables for a scene, and what to read from a successful answer."""

    document: str
    variables: object
    read: object


OPERATIONS: dict[str, Operation] = {
    "sittings": Operation(SITTINGS, lambda s: {}, lambda d: d["sittings"]["totalCount"]),
    "sittingStats": Operation(SITTING_STATS, lambda s: {}, lambda d: d["sittingStats"]["total"]),
    "node(own sitting)": Operation(NODE, lambda s: {"id": s.sittings[0]}, lambda d: d["node"] is not None),
    "node(other org sitting)": Operation(NODE, lambda s: {"id": s.other_sittings[0]}, lambda d: d["node"] is not None),
    "viewer": Operation(VIEWER, lambda s: {}, lambda d: d["viewer"]["role"]),
    "notifications": Operation(NOTIFICATIONS, lambda s: {}, lambda d: d["notifications"]["totalCount"]),
    "selectSittings": Operation(
        SELECT_SITTINGS, lambda s: {"ids": [s.sittings[2]]}, lambda d: d["selectSittings"]["changedCount"]
    ),
    "unselectSittings": Operation(
        UNSELECT_SITTINGS, lambda s: {"ids": [s.sittings[1]]}, lambda d: d["unselectSittings"]["changedCount"]
    ),
    "confirmCertification": Operation(
        CONFIRM_CERTIFICATION, lambda s: {"key": "matrix"}, lambda d: d["confirmCertification"]["certifiedCount"]
    ),
    "certifySittings": Operation(
        CERTIFY_SITTINGS,
        lambda s: {"ids": [s.sittings[2]], "key": "matrix"},
        lambda d: d["certifySittings"]["certifiedCount"],
    ),
    "createOrganisation": Operation(
        CREATE_ORGANISATION, lambda s: {"name": "New Org"}, lambda d: d["createOrganisation"]["errors"]
    ),
    "createTest": Operation(
        CREATE_TEST, lambda s: {"name": "New Test", "min": 50}, lambda d: d["createTest"]["errors"]
    ),
    "recordSittings": Operation(
        RECORD_SITTINGS,
        lambda s: {"rows": [sitting_row(s.organisation, s.test, 99, prefix="matrix")]},
        lambda d: d["recordSittings"]["recordedCount"],
    ),
    "purchaseCredits": Operation(
        PURCHASE_CREDITS,
        lambda s: {"org": s.organisation, "credits": 5, "ref": "matrix"},
        lambda d: d["purchaseCredits"]["organisation"]["creditBalance"],
    ),
    "markNotificationsRead": Operation(
        MARK_NOTIFICATIONS_READ,
        lambda s: {"ids": [s.notification]},
        lambda d: d["markNotificationsRead"]["updatedCount"],
    ),
    "organisation.creditBalance": Operation(
        CREDIT_BALANCE, lambda s: {"id": s.organisation}, lambda d: d["node"] and d["node"]["creditBalance"]
    ),
}

U, F = "UNAUTHENTICATED", "FORBIDDEN"

# operation → expected outcome per role, in ROLES order: a value read from the answer, or an error code.
WHO_SEES_WHAT: dict[str, tuple] = {
    #                            org_admin        analyst          test_taker      reviewer  platform_admin   anonymous
    "sittings":                   (3,              3,               1,              0,        5,               U),
    "sittingStats":               (3,              3,               1,              0,        5,               U),
    "node(own sitting)":          (True,           True,            True,           False,    True,            U),
    "node(other org sitting)":    (False,          False,           False,          False,    True,            U),
    "viewer":                     ("ORG_ADMIN",    "ANALYST",       "TEST_TAKER",   "SECURITY_REVIEWER", "PLATFORM_ADMIN", U),
    "notifications":              (F,              F,               1,              F,        F,               U),
    "selectSittings":             (1,              F,               F,              F,        F,               U),
    "unselectSittings":           (1,              F,               F,              F,        F,               U),
    "confirmCertification":       (1,              F,               F,              F,        F,               U),
    "certifySittings":            (1,              F,               F,              F,        F,               U),
    "createOrganisation":         (F,              F,               F,              F,        [],              U),
    "createTest":                 (F,              F,               F,              F,        [],              U),
    "recordSittings":             (F,              F,               F,              F,        1,               U),
    "purchaseCredits":            (F,              F,               F,              F,        14,              U),
    "markNotificationsRead":      (F,              F,               1,              F,        F,               U),
    "organisation.creditBalance": (9,              9,               F,              None,     9,               U),
}  # fmt: skip


def outcome(body: dict, op: Operation):
    """The error code of a refused call, else the value ``op`` reads from the answer."""
    if "errors" in body:
        return "/".join(error["extensions"]["code"] for error in body["errors"])
    return op.read(body["data"])


@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_who_sees_what(sqlite_server, operation):
    # given organisations A and B, a certified, a selected and an unselected sitting in A
    scene = await build_scene(sqlite_server)
    op = OPERATIONS[operation]
    expected = dict(zip(ROLES, WHO_SEES_WHAT[operation], strict=True))
    organisation_pk = decode_id(scene.organisation, "Organisation")
    before = await snapshot(organisation_pk)

    # when each role runs the operation (refused roles first, so a success cannot hide a later refusal)
    outcomes = {}
    for role in sorted(ROLES, key=lambda r: expected[r] not in (U, F)):
        body = await sqlite_server.client(scene.tokens[role]).post(op.document, op.variables(scene))
        outcomes[role] = outcome(body, op)
        if expected[role] in (U, F):
            assert await snapshot(organisation_pk) == before, role

    # then each role gets exactly what the table says, and refusals changed nothing
    assert outcomes == expected


async def test_viewer_names_the_callers_organisation_and_test_taker(sqlite_server):
    # given the scene
    scene = await build_scene(sqlite_server)

    # when the admin and the test taker ask who they are
    admin = (await sqlite_server.client(scene.tokens["org_admin"]).data(VIEWER))["viewer"]
    taker = (await sqlite_server.client(scene.tokens["test_taker"]).data(VIEWER))["viewer"]

    # then each sees their own scope
    assert admin == {
        "subject": "org_admin-user",
        "role": "ORG_ADMIN",
        "organisation": {"id": scene.organisation},
        "testTaker": None,
    }
    assert taker["organisation"] is None
    assert decode_id(taker["testTaker"]["id"], "TestTaker") == scene.test_taker_pk


async def test_another_organisations_objects_are_not_found(server):
    # given an admin of organisation B and A's sittings
    scene = await build_scene(server)
    other_admin = server.client(server.token(Role.ORG_ADMIN, org=decode_id(scene.other_organisation, "Organisation")))
    before = await snapshot(decode_id(scene.organisation, "Organisation"))

    # when B's admin reads and acts on A's objects
    sitting = await other_admin.data(NODE, {"id": scene.sittings[2]})
    organisation = await other_admin.data(NODE, {"id": scene.organisation})
    selected = await other_admin.data(SELECT_SITTINGS, {"ids": [scene.other_sittings[0], scene.sittings[2]]})
    unselected = await other_admin.data(UNSELECT_SITTINGS, {"ids": [scene.sittings[1]]})
    certified = await other_admin.data(CERTIFY_SITTINGS, {"ids": [scene.sittings[2]], "key": "steal"})

    # then every object is unknown to them and nothing changed anywhere
    assert sitting == {"node": None}
    assert organisation == {"node": None}
    assert selected["selectSittings"] == {
        "changedCount": 0,
        "errors": [{"code": "NOT_FOUND", "message": "no such sitting", "field": ["input", "ids", "1"]}],
    }
    assert unselected["unselectSittings"]["errors"][0]["code"] == "NOT_FOUND"
    assert certified["certifySittings"] == {
        "certifiedCount": 0,
        "creditBalance": 5,
        "errors": [{"code": "NOT_FOUND", "field": ["input", "ids", "0"]}],
    }
    assert await snapshot(decode_id(scene.organisation, "Organisation")) == before
    other_statuses = await snapshot(decode_id(scene.other_organisation, "Organisation"))
    assert sorted(other_statuses.statuses.values()) == ["UNSELECTED", "UNSELECTED"]


RELATED = """
{
  viewer { organisation { creditTransactions(first: 1) { edges { node { id } } } } }
  sittings(first: 1, orderBy: {field: TAKEN_AT, direction: ASC}) {
    edges { node { test { id } testTaker { id } certificate { id } } }
  }
}
"""


async def test_related_objects_are_visible_only_within_the_organisation(server):
    # given the scene: A's sitting #0 is certified, so it has a certificate and A has ledger rows
    scene = await build_scene(server)
    admin = server.client(scene.tokens["org_admin"])
    other_admin = server.client(server.token(Role.ORG_ADMIN, org=decode_id(scene.other_organisation, "Organisation")))
    related = await admin.data(RELATED)
    node = related["sittings"]["edges"][0]["node"]
    objects = {
        "test taker": node["testTaker"]["id"],
        "certificate": node["certificate"]["id"],
        "test": node["test"]["id"],
        "credit transaction": related["viewer"]["organisation"]["creditTransactions"]["edges"][0]["node"]["id"],
        "organisation": scene.organisation,
    }

    # when A's admin and B's admin fetch each by id
    seen_by_admin = {name: (await admin.data(NODE, {"id": gid}))["node"] for name, gid in objects.items()}
    seen_by_other = {name: (await other_admin.data(NODE, {"id": gid}))["node"] for name, gid in objects.items()}

    # then A's admin sees them all; B's admin sees only the test (tests are shared by the platform)
    assert seen_by_admin == {name: {"id": gid} for name, gid in objects.items()}
    assert seen_by_other == {name: ({"id": gid} if name == "test" else None) for name, gid in objects.items()}


async def test_a_test_taker_sees_only_their_own_sittings(sqlite_server):
    # given the test taker of A's sitting #0
    scene = await build_scene(sqlite_server)
    taker = sqlite_server.client(scene.tokens["test_taker"])

    # when they list sittings and ask for another candidate's sitting
    mine = await taker.data("{ sittings { edges { node { id } } } }")
    theirs = await taker.data(NODE, {"id": scene.sittings[1]})

    # then only their own is there
    assert [edge["node"]["id"] for edge in mine["sittings"]["edges"]] == [scene.sittings[0]]
    assert theirs == {"node": None}


async def test_introspection_needs_no_token(sqlite_server):
    # when an anonymous client introspects the schema
    data = await sqlite_server.client().data(INTROSPECTION)

    # then it is answered
    assert data == {"__schema": {"queryType": {"name": "Query"}}}
