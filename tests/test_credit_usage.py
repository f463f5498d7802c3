"""creditUsage over real HTTP on SQLite and PostgreSQL: monthly sums of the ledger, time zones, scopes, errors.

The ledger is written through the API (purchases, a certification); the
rows' times are then moved to the instants the test is about, and a REFUND
row, a kind the service does not write yet, is added with SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from builders import PURCHASE_CREDITS, build_world
from support import admin_of, analyst_of

from gql.ids import to_global_id
from models import CreditTransaction
from models.enums import Role
from resolvers.sql import Statement

USAGE = """
query($org: ID, $from: DateTime, $to: DateTime, $timeZone: String) {
  creditUsage(organisationId: $org, from: $from, to: $to, timeZone: $timeZone) { month purchased spent refunded }
}
"""
CERTIFY_ALL = """
mutation {
  certifySittings(input: {selection: {all: true}, idempotencyKey: "usage"}) { certifiedCount errors { code } }
}
"""
JANUARY = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
BERLIN_APRIL = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # 00:30 CEST on 1 April in Berlin
APRIL = datetime(2026, 4, 10, 8, 0, tzinfo=UTC)
BERLIN_JULY = datetime(2026, 6, 30, 22, 30, tzinfo=UTC)  # 00:30 CEST on 1 July in Berlin
FEBRUARY = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


def month(name: str, purchased: int = 0, spent: int = 0, refunded: int = 0) -> dict:
    return {"month": name, "purchased": purchased, "spent": spent, "refunded": refunded}


async def add_refund(organisation_pk: int, credits: int, at: datetime) -> None:
    stmt = Statement(CreditTransaction._meta.db)
    await stmt.run(
        "INSERT INTO credit_transaction (organisation_id, kind, delta, balance_after, reference, actor, created_at) "
        f"VALUES ({stmt.param(organisation_pk)}, 'REFUND', {stmt.param(credits)}, 0, 'refund-1', 'support', "
        f"{stmt.param(at)})"
    )


async def ledgers(server):
    """Organisation A: +100 (January), -3 (April), +50 (31 March UTC, April in Berlin), a refund of 2 (30 June UTC,
    July in Berlin); organisation B: +30 (February)."""
    platform = server.platform()
    a = await build_world(platform, sittings=3, credits=100)
    certified = await admin_of(server, a).data(CERTIFY_ALL)
    assert certified["certifySittings"]["certifiedCount"] == 3
    bought = await platform.data(PURCHASE_CREDITS, {"org": a.organisation_id, "credits": 50, "ref": "second"})
    assert bought["purchaseCredits"]["errors"] == []
    b = await build_world(platform, sittings=0, credits=30, name="Other Org", prefix="other")
    rows = await CreditTransaction.filter(organisation_id=a.organisation_pk).order_by("id")
    for row, at in zip(rows, (JANUARY, APRIL, BERLIN_APRIL), strict=True):
        await CreditTransaction.filter(id=row.id).update(created_at=at)
    await CreditTransaction.filter(organisation_id=b.organisation_pk).update(created_at=FEBRUARY)
    await add_refund(a.organisation_pk, 2, BERLIN_JULY)
    return a, b


async def usage(client, **variables) -> list[dict]:
    return (await client.data(USAGE, variables))["creditUsage"]


async def test_an_organisation_reads_its_months_in_its_time_zone(server):
    # given organisation A's ledger over the year and B's
    a, _ = await ledgers(server)
    admin = admin_of(server, a)

    # when A's admin asks in Berlin time (without and with its own ID) and in UTC, and its analyst asks
    berlin = await usage(admin, timeZone="Europe/Berlin")
    named = await usage(admin, org=a.organisation_id, timeZone="Europe/Berlin")
    utc = await usage(admin)
    analyst = await usage(analyst_of(server, a), timeZone="Europe/Berlin")

    # then each month sums its rows, months without rows between are zeros, oldest first
    assert berlin == [
        month("2026-01", purchased=100),
        month("2026-02"),
        month("2026-03"),
        month("2026-04", purchased=50, spent=3),
        month("2026-05"),
        month("2026-06"),
        month("2026-07", refunded=2),
    ]
    assert named == berlin == analyst
    assert utc == [
        month("2026-01", purchased=100),
        month("2026-02"),
        month("2026-03", purchased=50),
        month("2026-04", spent=3),
        month("2026-05"),
        month("2026-06", refunded=2),
    ]


async def test_a_platform_admin_reads_every_organisation_together_or_one(server):
    # given both ledgers
    a, b = await ledgers(server)
    platform = server.platform()

    # when the platform admin asks without an organisation, then naming B
    together = await usage(platform, timeZone="Europe/Berlin")
    only_b = await usage(platform, org=b.organisation_id)

    # then all rows are summed together; or B's alone
    assert together == [
        month("2026-01", purchased=100),
        month("2026-02", purchased=30),
        month("2026-03"),
        month("2026-04", purchased=50, spent=3),
        month("2026-05"),
        month("2026-06"),
        month("2026-07", refunded=2),
    ]
    assert only_b == [month("2026-02", purchased=30)]


async def test_from_is_inclusive_and_to_exclusive(server):
    # given A's ledger
    a, _ = await ledgers(server)

    # when the window starts at the second purchase's instant and ends at the refund's
    window = await usage(
        admin_of(server, a),
        **{"from": BERLIN_APRIL.isoformat(), "to": BERLIN_JULY.isoformat()},
        timeZone="Europe/Berlin",
    )
    empty = await usage(admin_of(server, a), **{"from": BERLIN_JULY.isoformat(), "to": BERLIN_JULY.isoformat()})

    # then the purchase counts and the refund does not; an empty window has no months
    assert window == [month("2026-04", purchased=50, spent=3)]
    assert empty == []


async def test_no_ledger_rows_give_no_months(server):
    world = await build_world(server.platform(), sittings=0, credits=0)
    assert await usage(admin_of(server, world), timeZone="Europe/Berlin") == []


@pytest.mark.parametrize(
    "variables, code",
    [
        ({"org": "other"}, "FORBIDDEN"),
        ({"org": "not-an-id"}, "BAD_USER_INPUT"),
        ({"org": "sitting"}, "BAD_USER_INPUT"),
        ({"from": "2026-05-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}, "BAD_USER_INPUT"),
        ({"timeZone": "Europe/Atlantis"}, "BAD_USER_INPUT"),
    ],
)
async def test_refusals(server, variables, code):
    # given A's admin and B's organisation
    platform = server.platform()
    a = await build_world(platform, sittings=0, credits=10)
    b = await build_world(platform, sittings=0, credits=10, name="Other Org", prefix="other")
    ids = {"other": b.organisation_id, "sitting": to_global_id("Sitting", 1), "not-an-id": "not-an-id"}
    if "org" in variables:
        variables = {**variables, "org": ids[variables["org"]]}

    # when the admin asks for another organisation, a malformed ID, a reversed window or an unknown zone
    body = await admin_of(server, a).post(USAGE, variables)

    # then the call is refused with the code, and nothing is answered
    assert body["data"] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == [code]


async def test_roles_without_credits_are_refused(sqlite_server):
    world = await build_world(sqlite_server.platform(), sittings=1, credits=10)  # and test taker 1
    bodies = [
        await sqlite_server.client(sqlite_server.token(role, org=world.organisation_pk, test_taker=1)).post(USAGE)
        for role in (Role.TEST_TAKER, Role.SECURITY_REVIEWER)
    ]
    assert [body["errors"][0]["extensions"]["code"] for body in bodies] == ["FORBIDDEN", "FORBIDDEN"]


async def test_a_platform_admin_naming_no_organisation_is_bad_user_input(server):
    platform = server.platform()
    await build_world(platform, sittings=0, credits=10)

    body = await platform.post(USAGE, {"org": to_global_id("Organisation", 999)})

    assert body["data"] is None
    assert [(e["extensions"]["code"], e["message"]) for e in body["errors"]] == [
        ("BAD_USER_INPUT", "organisationId names no organisation")
    ]
