"""Nested connections loaded in batches: each parent's page, cursors, counts and scope are those of one parent alone."""

from __future__ import annotations

from datetime import timedelta

from builders import BASE_TIME, PURCHASE_CREDITS, RECORD_SITTINGS, build_world, sitting_row
from support import admin_of, sitting_gid

from gql.ids import decode_id, to_global_id
from models import Sitting
from models.enums import Role

PAGE = "totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
NESTED_SITTINGS = f"""
query($first: Int, $after: String) {{
  sittings(first: 500) {{ edges {{ node {{ testTaker {{ email sittings(first: $first, after: $after) {{ {PAGE} }} }} }} }} }}
}}
"""
ONE_TEST_TAKER = f"""
query($id: ID!, $first: Int, $after: String) {{
  node(id: $id) {{ ... on TestTaker {{ sittings(first: $first, after: $after) {{ {PAGE} }} }} }}
}}
"""
UNBATCHED_SITTINGS = f"""
query($email: String!, $first: Int, $after: String) {{
  sittings(filter: {{search: $email}}, first: $first, after: $after) {{ {PAGE} }}
}}
"""
NESTED_LEDGERS = """
query($first: Int, $after: String) {
  sittings(first: 500) { edges { node { organisation { id creditTransactions(first: $first, after: $after) {
    totalCount edges { cursor node { id delta } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  } } } } }
}
"""
ONE_LEDGER = """
query($id: ID!, $first: Int, $after: String) {
  node(id: $id) { ... on Organisation { creditTransactions(first: $first, after: $after) {
    totalCount edges { cursor node { id delta } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  } } }
}
"""
NESTED_TOTAL = "{ sittings(first: 500) { edges { node { testTaker { email sittings(first: 10) { totalCount } } } } } }"
NESTED_IDS = "{ sittings(first: 500) { edges { node { testTaker { sittings(first: 10) { edges { node { id } } } } } } } }"
NESTED_LEDGER_OF_TAKER = "{ sittings(first: 5) { edges { node { organisation { creditTransactions { totalCount } } } } } }"
TEST_TAKER_NODE = "query($id: ID!) { node(id: $id) { id } }"

ANA, BEN, CLEO = "ana@example.com", "ben@example.com", "cleo@example.com"
# (external id, e-mail, organisation, minutes after BASE_TIME): Cleo's last two share a timestamp (ties go by id)
SITTINGS = [
    ("a-0", ANA, "alpha", 0),
    ("a-1", ANA, "alpha", 1),
    ("a-2", ANA, "alpha", 2),
    ("a-3", ANA, "alpha", 3),
    ("b-4", ANA, "beta", 4),
    ("b-5", ANA, "beta", 5),
    ("a-6", BEN, "alpha", 6),
    ("a-7", CLEO, "alpha", 7),
    ("a-8", CLEO, "alpha", 8),
    ("a-9", CLEO, "alpha", 8),
]

NEWEST_FIRST_OF_ANA = ("b-5", "b-4", "a-3", "a-2", "a-1", "a-0")


async def build_people(server):
    """Alpha and Beta; Ana has four sittings at Alpha and two at Beta, Ben one and Cleo three at Alpha."""
    platform = server.platform()
    alpha = await build_world(platform, sittings=0, credits=10, name="Alpha", prefix="alpha")
    beta = await build_world(platform, sittings=0, credits=5, name="Beta", prefix="beta")
    worlds = {"alpha": alpha, "beta": beta}
    rows = []
    for n, (external_id, email, org, minutes) in enumerate(SITTINGS):
        row = sitting_row(
            worlds[org].organisation_id, worlds[org].test_id, n, email=email, name=email.split("@")[0].title(),
            taken_at=BASE_TIME + timedelta(minutes=minutes),
        )
        rows.append(row | {"externalId": external_id})
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    return alpha, beta


async def gids(*external_ids: str) -> list[str]:
    """The global IDs of the sittings recorded under ``external_ids``, in that order."""
    pks = dict(await Sitting.filter(external_id__in=external_ids).values_list("external_id", "id"))
    return [sitting_gid(pks[external_id]) for external_id in external_ids]


async def gid_of_test_taker(email: str) -> str:
    sitting = await Sitting.filter(test_taker__email=email).first()
    return to_global_id("TestTaker", sitting.test_taker_id)


def ids_of(connection: dict) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


def pages_by_email(data: dict) -> dict[str, dict]:
    """E-mail → its nested page; every occurrence of one test taker must hold the same page."""
    pages: dict[str, dict] = {}
    for edge in data["sittings"]["edges"]:
        taker = edge["node"]["testTaker"]
        assert pages.setdefault(taker["email"], taker["sittings"]) == taker["sittings"]
    return pages


async def test_batched_pages_equal_each_test_takers_page_alone(server):
    # given Ana (four sittings here, two elsewhere), Ben (one) and Cleo (three, two at the same time)
    alpha, _ = await build_people(server)
    admin = admin_of(server, alpha)

    # when Alpha's admin reads every test taker's first two sittings nested, then after Ana's first page
    first_pages = pages_by_email(await admin.data(NESTED_SITTINGS, {"first": 2}))
    ana_cursor = first_pages[ANA]["pageInfo"]["endCursor"]
    next_pages = pages_by_email(await admin.data(NESTED_SITTINGS, {"first": 2, "after": ana_cursor}))

    # then each page, cursors included, is the one the unbatched connection and the single test taker give
    for pages, after in ((first_pages, None), (next_pages, ana_cursor)):
        assert sorted(pages) == [ANA, BEN, CLEO]
        for email, page in pages.items():
            variables = {"first": 2, "after": after}
            unbatched = await admin.data(UNBATCHED_SITTINGS, {"email": email, **variables})
            alone = await admin.data(ONE_TEST_TAKER, {"id": await gid_of_test_taker(email), **variables})
            assert page == unbatched["sittings"] == alone["node"]["sittings"]

    # and they are newest first, ties by id, counted within Alpha only
    assert {email: (ids_of(p), p["totalCount"], p["pageInfo"]["hasNextPage"]) for email, p in first_pages.items()} == {
        ANA: (await gids("a-3", "a-2"), 4, True),
        BEN: (await gids("a-6"), 1, False),
        CLEO: (await gids("a-9", "a-8"), 3, True),
    }
    assert {email: (ids_of(p), p["totalCount"], p["pageInfo"]["hasNextPage"]) for email, p in next_pages.items()} == {
        ANA: (await gids("a-1", "a-0"), 4, False),
        BEN: ([], 1, False),
        CLEO: ([], 3, False),
    }
    assert all(page["pageInfo"]["hasPreviousPage"] for page in next_pages.values())


async def test_batched_pages_keep_each_viewers_scope(server):
    # given Ana with sittings at Alpha and at Beta
    alpha, beta = await build_people(server)
    ana_pk = decode_id(await gid_of_test_taker(ANA), "TestTaker")
    ana = server.client(server.token(Role.TEST_TAKER, test_taker=ana_pk, subject="ana"))

    # when each organisation's admin and Ana herself count the nested sittings of the test takers they see
    seen_by_alpha = pages_by_email(await admin_of(server, alpha).data(NESTED_TOTAL))
    seen_by_beta = pages_by_email(await admin_of(server, beta).data(NESTED_TOTAL))
    seen_by_ana = pages_by_email(await ana.data(NESTED_TOTAL))
    ana_nested = [edge["node"]["testTaker"]["sittings"] for edge in (await ana.data(NESTED_IDS))["sittings"]["edges"]]
    ben_for_ana = await ana.data(TEST_TAKER_NODE, {"id": await gid_of_test_taker(BEN)})

    # then each organisation counts only its own sittings, and Ana sees all of hers and nobody else
    assert seen_by_alpha == {ANA: {"totalCount": 4}, BEN: {"totalCount": 1}, CLEO: {"totalCount": 3}}
    assert seen_by_beta == {ANA: {"totalCount": 2}}
    assert seen_by_ana == {ANA: {"totalCount": 6}}
    assert ana_nested == [{"edges": [{"node": {"id": gid}} for gid in await gids(*NEWEST_FIRST_OF_ANA)]}] * 6
    assert ben_for_ana == {"node": None}


async def test_batched_ledgers_equal_each_organisations_ledger_alone(server):
    # given Alpha with three purchases and Beta with one, each with sittings
    alpha, beta = await build_people(server)
    platform = server.platform()
    for credits, ref in ((4, "INV-2"), (3, "INV-3")):
        await platform.data(PURCHASE_CREDITS, {"org": alpha.organisation_id, "credits": credits, "ref": ref})

    # when the platform admin reads the ledgers nested under every sitting, then after Alpha's first page
    def ledgers(data: dict) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for edge in data["sittings"]["edges"]:
            organisation = edge["node"]["organisation"]
            assert found.setdefault(organisation["id"], organisation["creditTransactions"]) == (
                organisation["creditTransactions"]
            )
        return found

    first_pages = ledgers(await platform.data(NESTED_LEDGERS, {"first": 2}))
    alpha_cursor = first_pages[alpha.organisation_id]["pageInfo"]["endCursor"]
    next_pages = ledgers(await platform.data(NESTED_LEDGERS, {"first": 2, "after": alpha_cursor}))

    # then each ledger page is the one its organisation alone gives, to the platform admin and to its own admin
    for pages, after in ((first_pages, None), (next_pages, alpha_cursor)):
        assert sorted(pages) == sorted([alpha.organisation_id, beta.organisation_id])
        for world in (alpha, beta):
            variables = {"id": world.organisation_id, "first": 2, "after": after}
            alone = (await platform.data(ONE_LEDGER, variables))["node"]["creditTransactions"]
            own = (await admin_of(server, world).data(ONE_LEDGER, variables))["node"]["creditTransactions"]
            assert pages[world.organisation_id] == alone == own

    # and newest first, counted per organisation
    def deltas(page: dict) -> tuple[list[int], int, bool]:
        return [e["node"]["delta"] for e in page["edges"]], page["totalCount"], page["pageInfo"]["hasNextPage"]

    assert deltas(first_pages[alpha.organisation_id]) == ([3, 4], 3, True)
    assert deltas(first_pages[beta.organisation_id]) == ([5], 1, False)
    assert deltas(next_pages[alpha.organisation_id]) == ([10], 3, False)
    assert deltas(next_pages[beta.organisation_id]) == ([5], 1, False)  # bought before Alpha's INV-2


async def test_malformed_cursors_and_refusals_of_nested_connections_are_errors(server):
    # given Alpha's test takers and Ana
    alpha, _ = await build_people(server)
    admin = admin_of(server, alpha)
    ana_pk = decode_id(await gid_of_test_taker(ANA), "TestTaker")
    ana = server.client(server.token(Role.TEST_TAKER, test_taker=ana_pk, subject="ana"))

    # when the admin sends a malformed cursor to the test takers' sittings, and Ana asks for a ledger
    malformed = await admin.post(NESTED_SITTINGS, {"first": 2, "after": "not-a-cursor"})
    refused = await ana.post(NESTED_LEDGER_OF_TAKER)

    # then each is an error of the nested field (the first parent's) with its code, and no data
    def errors(body: dict) -> list[tuple]:
        assert body["data"] is None
        return [(e["extensions"]["code"], e["message"], e["path"]) for e in body["errors"]]

    assert errors(malformed) == [
        ("BAD_USER_INPUT", "malformed cursor 'not-a-cursor'", ["sittings", "edges", 0, "node", "testTaker", "sittings"])
    ]
    assert errors(refused) == [
        (
            "FORBIDDEN",
            "only the organisation's admins and analysts may read its credits",
            ["sittings", "edges", 0, "node", "organisation", "creditTransactions"],
        )
    ]
