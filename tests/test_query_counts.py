"""List queries run a pinned number of SQL statements, whatever the page size or the number of parents of a
nested connection (DataLoaders batch each level)."""

from __future__ import annotations

import asyncio

from builders import CREATE_ORGANISATION, CREATE_TEST, PURCHASE_CREDITS, RECORD_SITTINGS, build_world, sitting_row
from certificate_flow import certified_candidates, claim_ok, reviewer, wait_for
from support import SqlStatements, admin_of

from gql.ids import decode_id
from models import OutboxEmail
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
AUTHENTICATED = "{ viewer { role } }"  # a first request looks up the token's organisation or test taker
CERTIFY_ALL = 'mutation { certifySittings(input: {selection: {all: true}, idempotencyKey: "all"}) { certifiedCount } }'


async def count_statements(client, document: str, variables: dict | None = None) -> tuple[int, dict]:
    """Statements of one request by an authenticated client (its token's scope already looked up once)."""
    await client.data(AUTHENTICATED)
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


THROUGH_FRAGMENTS = """
query($first: Int, $noTaker: Boolean!) {
  sittings(first: $first) { edges { ...Edge } }
}
fragment Edge on SittingEdge { node { id ... on Sitting { testTaker @skip(if: $noTaker) { name } test { name } level } } }
"""


async def test_a_page_loads_the_relations_its_selection_reads_through_fragments_and_no_other(sqlite_server):
    # given an organisation with 20 sittings
    world = await build_world(sqlite_server.platform(), sittings=20)
    admin = admin_of(sqlite_server, world)

    # when its admin reads the page's test takers and tests through fragments, then the same with the test takers skipped
    with_takers, data = await count_statements(admin, THROUGH_FRAGMENTS, {"first": 50, "noTaker": False})
    without, skipped = await count_statements(admin, THROUGH_FRAGMENTS, {"first": 50, "noTaker": True})

    # then count, page and one batch per relation read (test takers, tests), and a skipped relation is not
    # loaded at all
    nodes = [edge["node"] for edge in data["sittings"]["edges"]]
    assert len(nodes) == 20
    assert {node["test"]["name"] for node in nodes} == {"Acme Languages English"}
    assert sorted(node["testTaker"]["name"] for node in nodes) == sorted(f"Candidate {n}" for n in range(20))
    assert {node["level"] for node in nodes} == {None}
    assert all("testTaker" not in edge["node"] for edge in skipped["sittings"]["edges"])
    assert (with_takers, without) == (4, 3)


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


THREE_LEVELS = """
{
  sittings(first: 500) {
    edges { node { id testTaker { id
      sittings(first: 2) { totalCount edges { node { id testTaker { id
        sittings(first: 3) { totalCount edges { cursor node { id test { name } } } pageInfo { hasNextPage } }
      } } } }
    } } }
  }
}
"""
LEDGERS_OF_ORGANISATIONS = """
{
  sittings(first: 500) {
    edges { node { id organisation { id
      creditTransactions(first: 1) { totalCount edges { cursor node { id delta } } pageInfo { hasNextPage } }
    } } }
  }
}
"""
QUEUE_TO_SITTINGS = """
{
  reviewQueue(first: 500) {
    edges { node { id sitting { id testTaker { id
      sittings(first: 5) { totalCount edges { node { id status } } }
    } } } }
  }
}
"""


async def world_of_test_takers(platform, takers: int, *, sittings_each: int = 3, name: str = "Acme"):
    """One organisation whose ``takers`` test takers have ``sittings_each`` sittings each."""
    world = await build_world(platform, sittings=0, credits=0, name=name, prefix=name)
    rows = [
        sitting_row(
            world.organisation_id,
            world.test_id,
            n,
            prefix=name,
            email=f"taker{n % takers}@example.com",
            name=f"Taker {n % takers}",
        )
        for n in range(takers * sittings_each)
    ]
    result = (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]
    assert result["errors"] == [], result
    return world


async def organisations_with_ledgers(platform, test: str, numbers: range) -> None:
    """Organisations ``School n`` for each n of ``numbers``, each with two purchases and one sitting of ``test``."""
    rows = []
    for n in numbers:
        org = (await platform.data(CREATE_ORGANISATION, {"name": f"School {n}"}))["createOrganisation"]["organisation"]
        for ref, credits in ((f"first-{n}", 5), (f"second-{n}", 7)):
            await platform.data(PURCHASE_CREDITS, {"org": org["id"], "credits": credits, "ref": ref})
        rows.append(sitting_row(org["id"], test, n, prefix="school"))
    result = (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]
    assert result["errors"] == [], result


async def outbox_drained() -> bool:
    """Whether every e-mail is sent (a delivery running meanwhile would be counted with the request)."""
    return not await OutboxEmail.filter(sent_at=None).exists()


async def test_three_levels_of_nested_sittings_take_the_same_statements_for_2_and_40_test_takers(server):
    # given one organisation with 2 test takers and one with 40, each test taker with 3 sittings
    platform = server.platform()
    few_world = await world_of_test_takers(platform, 2, name="Few")
    many_world = await world_of_test_takers(platform, 40, name="Many")

    # when each admin reads sittings → testTaker → sittings → testTaker → sittings
    few, few_data = await count_statements(admin_of(server, few_world), THREE_LEVELS)
    many, many_data = await count_statements(admin_of(server, many_world), THREE_LEVELS)

    # then every level is whole, and both take eight statements: count and page of the root, one test taker
    # batch, page and count of each nested level (the second test taker level is already loaded), one test batch
    for data, takers in ((few_data, 2), (many_data, 40)):
        edges = data["sittings"]["edges"]
        assert len(edges) == 3 * takers
        assert len({edge["node"]["testTaker"]["id"] for edge in edges}) == takers
        for edge in edges:
            second = edge["node"]["testTaker"]["sittings"]
            assert second["totalCount"] == 3 and len(second["edges"]) == 2
            third = second["edges"][0]["node"]["testTaker"]["sittings"]
            assert third["totalCount"] == 3 and len(third["edges"]) == 3
            assert third["pageInfo"] == {"hasNextPage": False}
            assert {e["node"]["test"]["name"] for e in third["edges"]} in ({"Few English"}, {"Many English"})
    assert few == many == 8


async def test_ledgers_of_sittings_organisations_take_the_same_statements_for_2_and_40_organisations(server):
    # given 2 organisations with two purchases each, then 38 more
    platform = server.platform()
    test = (await platform.data(CREATE_TEST, {"name": "Shared English", "min": 60}))["createTest"]["test"]["id"]
    await organisations_with_ledgers(platform, test, range(2))
    few, few_data = await count_statements(platform, LEDGERS_OF_ORGANISATIONS)
    await organisations_with_ledgers(platform, test, range(2, 40))

    # when the platform admin reads every sitting's organisation's ledger, first for 2 then for 40 organisations
    many, many_data = await count_statements(platform, LEDGERS_OF_ORGANISATIONS)

    # then each ledger shows its newest purchase and its count, and both take five statements:
    # count and page of sittings, one organisation batch, page and count of the ledgers
    for data, organisations in ((few_data, 2), (many_data, 40)):
        ledgers = [edge["node"]["organisation"]["creditTransactions"] for edge in data["sittings"]["edges"]]
        assert len(ledgers) == organisations
        assert all(ledger["totalCount"] == 2 for ledger in ledgers)
        assert [[e["node"]["delta"] for e in ledger["edges"]] for ledger in ledgers] == [[7]] * organisations
        assert all(ledger["pageInfo"] == {"hasNextPage": True} for ledger in ledgers)
    assert few == many == 5


async def test_review_queue_to_test_takers_sittings_takes_the_same_statements_for_2_and_40_claims(server):
    # given 40 certified test takers, 2 of whom have claimed (under review), then the 38 others too
    _, candidates = await certified_candidates(server, 40)
    await wait_for(outbox_drained)
    await asyncio.gather(*(claim_ok(server, candidate) for candidate in candidates[:2]))
    few, few_data = await count_statements(reviewer(server), QUEUE_TO_SITTINGS)
    for batch in range(2, 40, 10):
        await asyncio.gather(*(claim_ok(server, candidate) for candidate in candidates[batch : batch + 10]))

    # when the reviewer reads each queued certificate's sitting's test taker's sittings, for 2 then for 40 claims
    many, many_data = await count_statements(reviewer(server), QUEUE_TO_SITTINGS)

    # then each test taker shows the one sitting in review, and both take six statements: count and page of
    # the queue, one sitting batch, one test taker batch, page and count of the test takers' sittings
    for data, claims in ((few_data, 2), (many_data, 40)):
        edges = data["reviewQueue"]["edges"]
        assert len(edges) == claims
        for edge in edges:
            sittings = edge["node"]["sitting"]["testTaker"]["sittings"]
            assert sittings == {
                "totalCount": 1,
                "edges": [{"node": {"id": edge["node"]["sitting"]["id"], "status": "IN_PROGRESS"}}],
            }
    assert few == many == 6


NESTED_WITHOUT_TOTAL = """
{ sittings(first: 500) { edges { node { testTaker { sittings(first: 2) { edges { node { id } } } } } } } }
"""
NESTED_TOTAL_IN_FRAGMENT = """
query($skip: Boolean!) {
  sittings(first: 500) { edges { node { testTaker { sittings(first: 2) { ...Counted edges { node { id } } } } } } }
}
fragment Counted on SittingConnection { totalCount @skip(if: $skip) }
"""


async def test_a_nested_connection_counts_only_when_total_count_is_selected(sqlite_server):
    # given 5 test takers with 3 sittings each
    world = await world_of_test_takers(sqlite_server.platform(), 5)
    admin = admin_of(sqlite_server, world)

    # when the admin reads their nested sittings without totalCount, with it in a fragment, and with it skipped
    without, _ = await count_statements(admin, NESTED_WITHOUT_TOTAL)
    counted, data = await count_statements(admin, NESTED_TOTAL_IN_FRAGMENT, {"skip": False})
    skipped, _ = await count_statements(admin, NESTED_TOTAL_IN_FRAGMENT, {"skip": True})

    # then the root's count and page, the test takers and the nested pages take four statements; the count a fifth
    assert {edge["node"]["testTaker"]["sittings"]["totalCount"] for edge in data["sittings"]["edges"]} == {3}
    assert (without, counted, skipped) == (4, 5, 4)


CERTIFICATE_LIFE = """
{
  sittings(first: 50) {
    edges { node { id certificate { id claimDeadline expiresAt revokedAt revocationReason } } }
  }
}
"""


async def test_certificates_expiry_of_a_page_is_one_sitting_batch_for_5_and_50_certificates(server):
    # given an organisation with 5 certified sittings and one with 50
    platform = server.platform()
    small = await build_world(platform, sittings=5, credits=5, name="Small", prefix="small")
    large = await build_world(platform, sittings=50, credits=50, name="Large", prefix="large")
    for world in (small, large):
        await admin_of(server, world).data(CERTIFY_ALL)
    await wait_for(outbox_drained)

    # when each admin lists its sittings' certificates with their deadlines and expiry
    few, few_data = await count_statements(admin_of(server, small), CERTIFICATE_LIFE)
    many, many_data = await count_statements(admin_of(server, large), CERTIFICATE_LIFE)

    # then every certificate has its deadline, and both take four statements: count and page of the sittings,
    # one certificate batch and one batch of the sittings their expiresAt is read from
    for data, count in ((few_data, 5), (many_data, 50)):
        certificates = [edge["node"]["certificate"] for edge in data["sittings"]["edges"]]
        assert len(certificates) == count
        assert all(c["claimDeadline"] and c["expiresAt"] is None and c["revokedAt"] is None for c in certificates)
    assert few == many == 4
