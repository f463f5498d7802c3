"""Bad tokens, IDs, bodies and values: a clear error code, never a 500, and nothing changes."""

from __future__ import annotations

import time

import jwt
import pytest
from builders import RECORD_SITTINGS, build_world, sitting_row
from harness import TEST_SECRET
from support import admin_of, sitting_nodes, snapshot

from gql.ids import to_global_id
from models.enums import Role

SELECT_ALL = "mutation { selectSittings(input: {all: true}) { changedCount errors { code } } }"
SITTINGS = "{ sittings { totalCount } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
SITTINGS_TAKEN_AFTER = "query($after: DateTime) { sittings(filter: {takenAfter: $after}) { totalCount } }"
DATES = """
{
  sittings(orderBy: {field: TAKEN_AT, direction: ASC}) {
    edges { node { takenAt selectedAt certifiedAt } }
  }
}
"""
SELECT_FIRST = "mutation($ids: [ID!]) { selectSittings(input: {ids: $ids}) { changedCount errors { code } } }"
CERTIFY = """
mutation($ids: [ID!]) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: "dates"}) { certifiedCount errors { code } }
}
"""


def claims(organisation_gid: str, **overrides) -> dict:
    now = int(time.time())
    base = {
        "sub": "mallory",
        "role": "org_admin",
        "org": organisation_gid,
        "iss": "certify",
        "aud": "certify-api",
        "iat": now,
        "exp": now + 600,
    }
    return {k: v for k, v in (base | overrides).items() if v is not None}


def bad_headers(organisation_gid: str, expired: str) -> dict[str, str]:
    """Authorization header values that must all be UNAUTHENTICATED."""
    sign = lambda **c: jwt.encode(claims(organisation_gid, **c), TEST_SECRET, algorithm="HS256")  # noqa: E731
    return {
        "malformed": "Bearer not.a.jwt",
        "garbage": "Bearer %%%",
        "empty bearer": "Bearer",
        "basic scheme": "Basic dXNlcjpwYXNz",
        "no scheme": sign(),
        "expired": f"Bearer {expired}",
        "unknown role": f"Bearer {sign(role='superuser')}",
        "other secret": f"Bearer {jwt.encode(claims(organisation_gid), 'another-secret-0123456789abcdef01234567', algorithm='HS256')}",
        "wrong audience": f"Bearer {sign(aud='someone-else')}",
        "wrong issuer": f"Bearer {sign(iss='evil')}",
        "no expiry": f"Bearer {sign(exp=None)}",
        "no subject": f"Bearer {sign(sub=None)}",
        "org_admin without org": f"Bearer {sign(org=None)}",
        "org claim not an organisation": f"Bearer {sign(org=to_global_id('Sitting', 1))}",
        "test_taker without test_taker": f"Bearer {sign(role='test_taker', org=None)}",
        "alg none": "Bearer " + jwt.encode(claims(organisation_gid), None, algorithm="none"),
    }


async def test_bad_tokens_are_unauthenticated_and_change_nothing(sqlite_server):
    # given an organisation with sittings
    world = await build_world(sqlite_server.platform(), sittings=2)
    before = await snapshot(world.organisation_pk)
    expired = sqlite_server.token(Role.ORG_ADMIN, org=world.organisation_pk, ttl=-10)
    headers = bad_headers(world.organisation_id, expired)

    # when each bad header is used to read and to select
    codes = {}
    for name, value in headers.items():
        codes[name] = []
        for document in (SITTINGS, SELECT_ALL):
            response = await sqlite_server.http.post(
                "/graphql", json={"query": document}, headers={"Authorization": value}
            )
            assert response.status_code == 200, (name, response.text)
            body = response.json()
            assert body["data"] is None, (name, body)
            codes[name] += [e["extensions"]["code"] for e in body["errors"]]

    # then every one is UNAUTHENTICATED, and nothing changed
    assert codes == {name: ["UNAUTHENTICATED", "UNAUTHENTICATED"] for name in headers}
    assert await snapshot(world.organisation_pk) == before


async def test_expired_token_says_so(sqlite_server):
    # given an expired admin token
    world = await build_world(sqlite_server.platform(), sittings=0)
    expired = sqlite_server.client(sqlite_server.token(Role.ORG_ADMIN, org=world.organisation_pk, ttl=-10))

    # when it is used
    body = await expired.post(SITTINGS)

    # then the message says it has expired
    assert body["errors"][0]["message"] == "the token has expired"


@pytest.mark.parametrize(
    "value",
    ["", "garbage", "U2l0dGluZzo", "U2l0dGluZzp4", "Tm9wZTox", to_global_id("Sitting", 10**17), "a" * 300],
    ids=["empty", "garbage", "no pk", "pk not a number", "unknown type", "unknown pk", "long"],
)
async def test_unknown_or_malformed_node_ids_are_null(sqlite_server, value):
    # given a platform admin, who may read everything
    platform = sqlite_server.platform()
    await build_world(platform, sittings=1)

    # when they ask for a node by a bad id
    data = await platform.data(NODE, {"id": value})

    # then it is null, not an error
    assert data == {"node": None}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"{not json", "application/json"),
        (b"query=1", "text/plain"),
        (b"[1, 2]", "application/json"),
        (b"{}", "application/json"),
        (b'"x"', "application/json"),
        (b"\xff", "application/json"),
        (b"[" * 100_000, "application/json"),
        (b'{"query": "{ viewer { subject } }", "variables": {"x": ' + b"9" * 5000 + b"}}", "application/json"),
    ],
    ids=["empty", "broken json", "not json", "a list", "no query", "a string", "not utf-8", "too deep", "huge int"],
)
async def test_bad_http_bodies_are_400(sqlite_server, content, content_type):
    # given a running server and a valid token
    token = sqlite_server.token(Role.PLATFORM_ADMIN)

    # when a POST carries a body that is not a GraphQL request
    response = await sqlite_server.http.post(
        "/graphql", content=content, headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"}
    )

    # then it is a 400, never a 500
    assert response.status_code == 400, response.text


async def test_unparsable_query_is_a_graphql_error(sqlite_server):
    # when a query does not parse, or names an unknown field
    client = sqlite_server.platform()
    broken = await client.post("{ sittings { ")
    unknown = await client.post("{ nope }")

    # then each has its code
    assert [e["extensions"]["code"] for e in broken["errors"]] == ["GRAPHQL_PARSE_FAILED"]
    assert [e["extensions"]["code"] for e in unknown["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]


@pytest.mark.parametrize("value", ["2026-10-01T09:00:00", "yesterday", "2026-13-01T00:00:00+00:00"])
async def test_datetime_input_without_offset_or_malformed_is_bad_user_input(sqlite_server, value):
    # given an admin
    world = await build_world(sqlite_server.platform(), sittings=1)

    # when a DateTime argument has no offset or is not a date
    body = await admin_of(sqlite_server, world).post(SITTINGS_TAKEN_AFTER, {"after": value})
    literal = await admin_of(sqlite_server, world).post(
        '{ sittings(filter: {takenAfter: "%s"}) { totalCount } }' % value
    )

    # then both as a variable and as a literal it is BAD_USER_INPUT
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert [e["extensions"]["code"] for e in literal["errors"]] == ["BAD_USER_INPUT"]


async def test_wrongly_typed_variables_are_bad_user_input(sqlite_server):
    # given the platform admin
    platform = sqlite_server.platform()
    world = await build_world(platform, sittings=0)

    # when a variable has the wrong type
    row = sitting_row(world.organisation_id, world.test_id, 0) | {"score": "eighty"}
    body = await platform.post(RECORD_SITTINGS, {"rows": [row]})

    # then it is BAD_USER_INPUT
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_datetime_outputs_carry_utc_offset(server):
    # given a sitting taken at 11:00 in Paris (+02:00), then selected, and another certified
    platform = server.platform()
    world = await build_world(platform, sittings=0)
    rows = [
        sitting_row(world.organisation_id, world.test_id, 0) | {"takenAt": "2026-10-01T11:00:00+02:00"},
        sitting_row(world.organisation_id, world.test_id, 1) | {"takenAt": "2026-10-01T04:00:00-05:00"},
    ]
    await platform.data(RECORD_SITTINGS, {"rows": rows})
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    await admin.data(SELECT_FIRST, {"ids": [ids[0]]})
    await admin.data(CERTIFY, {"ids": [ids[1]]})

    # when the admin reads the dates
    nodes = [edge["node"] for edge in (await admin.data(DATES))["sittings"]["edges"]]

    # then every date is in UTC with +00:00
    assert [node["takenAt"] for node in nodes] == ["2026-10-01T09:00:00+00:00", "2026-10-01T09:00:00+00:00"]
    assert nodes[0]["selectedAt"].endswith("+00:00") and nodes[0]["certifiedAt"] is None
    assert nodes[1]["certifiedAt"].endswith("+00:00") and nodes[1]["selectedAt"] is None


BIG_ID = to_global_id("Sitting", 2**31)
SEARCH = "query($search: String) { sittings(filter: {search: $search}) { totalCount } }"
SELECT_IDS = "mutation($ids: [ID!]) { selectSittings(input: {ids: $ids}) { changedCount errors { code field } } }"
CONFIRM = """
mutation($key: String!) { confirmCertification(input: {idempotencyKey: $key}) { certifiedCount errors { code field } } }
"""
PURCHASE = """
mutation($org: ID!, $ref: String!) {
  purchaseCredits(input: {organisationId: $org, credits: 1, reference: $ref}) { organisation { id } errors { code field } }
}
"""
TEST_FILTER = "query($test: ID) { sittings(filter: {testId: $test}) { totalCount } }"
AFTER_SCORE = (
    "query($after: String) { sittings(orderBy: {field: SCORE, direction: ASC}, after: $after) { totalCount } }"
)


async def test_out_of_range_values_are_clear_errors_on_every_backend(server):
    # given a world, and values no database column can hold or no search should take
    world = await build_world(server.platform(), sittings=2)
    admin = admin_of(server, world)
    platform = server.platform()
    before = await snapshot(world.organisation_pk)
    huge_cursor = "W1sidiIsIDEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDBdLCAxXQ=="  # [["v", 10**30], 1]

    # when they are sent
    node = await admin.post(NODE, {"id": BIG_ID})
    selected = await admin.data(SELECT_IDS, {"ids": [BIG_ID]})
    nul_search = await admin.post(SEARCH, {"search": "a\u0000b"})
    long_search = await admin.post(SEARCH, {"search": "x" * 100_000})
    nul_key = await admin.data(CONFIRM, {"key": "k\u0000"})
    nul_reference = await platform.data(PURCHASE, {"org": world.organisation_id, "ref": "pay\u0000"})
    malformed_test = await admin.post(TEST_FILTER, {"test": "zzz"})
    cursor = await admin.post(AFTER_SCORE, {"after": huge_cursor})
    overflow = await admin.post('{ sittings(filter: {takenAfter: "0001-01-01T00:00:00+14:00"}) { totalCount } }')

    # then each is a precise error, never an internal one, and nothing changed
    assert node == {"data": {"node": None}, "extensions": {"cost": {"requested": 1, "limit": 50_000}}}
    assert selected["selectSittings"] == {
        "changedCount": 0,
        "errors": [{"code": "NOT_FOUND", "field": ["input", "ids", "0"]}],
    }
    for body in (nul_search, long_search, malformed_test, cursor, overflow):
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert nul_key["confirmCertification"]["errors"] == [
        {"code": "INVALID_INPUT", "field": ["input", "idempotencyKey"]}
    ]
    assert nul_reference["purchaseCredits"] == {
        "organisation": None,
        "errors": [{"code": "INVALID_INPUT", "field": ["input", "reference"]}],
    }
    assert await snapshot(world.organisation_pk) == before


async def test_an_address_that_plain_smtp_cannot_deliver_is_refused(sqlite_server):
    # given a world
    world = await build_world(sqlite_server.platform(), sittings=0)
    row = sitting_row(world.organisation_id, world.test_id, 1, email="用户@example.com")

    # when the platform records a sitting for an address with a non-ASCII local part
    result = await sitting_row_result(sqlite_server, row)

    # then the row is refused, naming the field, so no e-mail can be lost later
    assert result["recordedCount"] == 0
    assert [(e["code"], e["field"]) for e in result["errors"]] == [
        ("INVALID_INPUT", ["sittings", "0", "testTakerEmail"])
    ]


async def sitting_row_result(server, row: dict) -> dict:
    return (await server.platform().data(RECORD_SITTINGS, {"rows": [row]}))["recordSittings"]


async def test_depth_and_alias_limits_refuse_costly_documents(sqlite_server):
    # given a valid token
    admin = admin_of(sqlite_server, await build_world(sqlite_server.platform(), sittings=0, credits=0))
    aliases = "{ " + " ".join(f"a{i}: viewer {{ subject }}" for i in range(31)) + " }"
    deep = "{ sittings { edges { node { " + "certificate { sitting { " * 5 + "id" + " } }" * 5 + " } } } }"  # depth 14
    allowed = "{ " + " ".join(f"a{i}: viewer {{ subject }}" for i in range(30)) + " }"

    # when documents over the limits (31 aliases; depth 14) and one at the alias limit are sent
    too_many, too_deep, fine = [await admin.post(q) for q in (aliases, deep, allowed)]

    # then the first two are refused before running, the last one runs
    assert [e["message"] for e in too_many["errors"]] == ["31 aliases found. Allowed: 30"]
    assert [e["message"] for e in too_deep["errors"]] == ["'anonymous' exceeds maximum operation depth of 12"]
    assert "errors" not in fine and len(fine["data"]) == 30
