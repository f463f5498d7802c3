"""List queries run a pinned number of SQL statements, whatever the page size (DataLoaders batch)."""

from __future__ import annotations

from builders import build_world
from support import SqlStatements, admin_of

from gql.ids import decode_id
from models.enums import Role

SITTINGS_WITH_RELATIONS = """
query($first: Int) {
  sittings(first: $first) {
    totalCount
    edges {
      node {
        id status
        testTaker { id name email }
        test { id name minCertifiableScore }
        organisation { id name }
        certificate { id status }
      }
    }
  }
}
"""
SITTING_STATS = "{ sittingStats { total averageScore byStatus { status count } } }"
NOTIFICATIONS = "{ notifications(first: 50) { totalCount edges { node { id kind certificate { id status } } } } }"
TAKER = "{ sittings(first: 1) { edges { node { testTaker { id } } } } }"
CERTIFY_ALL = 'mutation { certifySittings(input: {selection: {all: true}, idempotencyKey: "all"}) { certifiedCount } }'


async def count_statements(client, document: str, variables: dict | None = None) -> tuple[int, dict]:
    with SqlStatements() as sql:
        data = await client.data(document, variables)
    return sql.count, data


async def test_sittings_page_with_relations_is_six_statements(server):
    # given an organisation with 5 sittings and one with 50, some of them certified (with certificates)
    platform = server.platform()
    small = await build_world(platform, sittings=5, credits=5, name="Small", prefix="small")
    large = await build_world(platform, sittings=50, credits=50, name="Large", prefix="large")
    for world in (small, large):
        await admin_of(server, world).data(CERTIFY_ALL)

    # when each admin lists every sitting with its test taker, test, organisation and certificate
    few, few_data = await count_statements(admin_of(server, small), SITTINGS_WITH_RELATIONS, {"first": 50})
    many, many_data = await count_statements(admin_of(server, large), SITTINGS_WITH_RELATIONS, {"first": 50})

    # then both take six statements: count, page, and one batch per relation
    assert len(few_data["sittings"]["edges"]) == 5
    assert len(many_data["sittings"]["edges"]) == 50
    assert all(edge["node"]["certificate"]["status"] == "AWAITING_CLAIM" for edge in many_data["sittings"]["edges"])
    assert few == many == 6


async def test_sitting_stats_is_one_statement(sqlite_server):
    # given an organisation with sittings
    world = await build_world(sqlite_server.platform(), sittings=30)

    # when its admin asks for stats
    statements, data = await count_statements(admin_of(sqlite_server, world), SITTING_STATS)

    # then one grouped query answers
    assert data["sittingStats"]["total"] == 30
    assert statements == 1


async def test_notifications_page_is_three_statements(sqlite_server):
    # given a test taker with a notification
    world = await build_world(sqlite_server.platform(), sittings=1)
    admin = admin_of(sqlite_server, world)
    await admin.data(CERTIFY_ALL)
    taker_id = (await admin.data(TAKER))["sittings"]["edges"][0]["node"]["testTaker"]["id"]
    taker = sqlite_server.client(sqlite_server.token(Role.TEST_TAKER, test_taker=decode_id(taker_id, "TestTaker")))

    # when they list their notifications with certificates
    statements, data = await count_statements(taker, NOTIFICATIONS)

    # then count, page and one certificate batch
    assert data["notifications"]["totalCount"] == 1
    assert statements == 3
