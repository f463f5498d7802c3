"""purchaseCredits and the ledger: repeated references add nothing (another amount is refused); the balance is the ledger's sum."""

from __future__ import annotations

from datetime import UTC

import pytest
from builders import PURCHASE_CREDITS, build_world
from support import admin_of, balance, ledger_sum, sitting_nodes

from models import CreditTransaction

LEDGER = """
query($id: ID!) {
  node(id: $id) {
    ... on Organisation {
      creditBalance
      creditTransactions(first: 50) { totalCount edges { node { kind delta balanceAfter reference createdAt } } }
    }
  }
}
"""
CERTIFY_ALL = """
mutation($key: String!) {
  certifySittings(input: {selection: {all: true}, idempotencyKey: $key}) { certifiedCount creditBalance errors { code } }
}
"""


async def purchase(platform, org: str, credits: int, reference: str) -> dict:
    return (await platform.data(PURCHASE_CREDITS, {"org": org, "credits": credits, "ref": reference}))[
        "purchaseCredits"
    ]


async def test_purchases_add_to_the_balance(server):
    # given an organisation without credits
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)

    # when two payments are recorded
    first = await purchase(platform, world.organisation_id, 25, "INV-1")
    second = await purchase(platform, world.organisation_id, 5, "INV-2")

    # then the balance is their sum
    assert first == {"organisation": {"id": world.organisation_id, "creditBalance": 25}, "errors": []}
    assert second["organisation"]["creditBalance"] == 30
    assert await balance(world.organisation_pk) == await ledger_sum(world.organisation_pk) == 30


async def test_a_repeated_reference_adds_nothing(server):
    # given a payment recorded under INV-1
    platform = server.platform()
    world = await build_world(platform, sittings=0, credits=0)
    await purchase(platform, world.organisation_id, 25, "INV-1")

    first_at = (await CreditTransaction.get(organisation_id=world.organisation_pk)).created_at

    # when the same reference is recorded again, with the same amount and with another one
    again = await purchase(platform, world.organisation_id, 25, "INV-1")
    other_amount = await purchase(platform, world.organisation_id, 99, " INV-1 ")

    # then the retry returns the organisation, the other amount is refused naming the first purchase,
    # and nothing is added: the ledger has one row
    assert again == {"organisation": {"id": world.organisation_id, "creditBalance": 25}, "errors": []}
    assert other_amount == {
        "organisation": None,
        "errors": [
            {
                "code": "IDEMPOTENCY_KEY_REUSED",
                "message": f"reference 'INV-1' already recorded a purchase of 25 credits on "
                f"{first_at.astimezone(UTC).isoformat(timespec='seconds')}: use a new reference",
                "field": ["input", "reference"],
            }
        ],
    }
    assert await balance(world.organisation_pk) == await ledger_sum(world.organisation_pk) == 25
    assert await CreditTransaction.filter(organisation_id=world.organisation_pk).count() == 1


async def test_the_same_reference_counts_per_organisation(sqlite_server):
    # given two organisations
    platform = sqlite_server.platform()
    first = await build_world(platform, sittings=0, credits=0)
    second = await build_world(platform, sittings=0, credits=0, name="Second Org", prefix="second")

    # when each records a payment with the same reference
    await purchase(platform, first.organisation_id, 10, "INV-1")
    result = await purchase(platform, second.organisation_id, 7, "INV-1")

    # then both are credited
    assert result["organisation"]["creditBalance"] == 7
    assert await balance(first.organisation_pk) == 10


@pytest.mark.parametrize(
    ("credits", "reference", "field"),
    [(0, "INV-0", "credits"), (-5, "INV-0", "credits"), (1_000_001, "INV-0", "credits"), (5, "  ", "reference")],
    ids=["zero", "negative", "too many", "blank reference"],
)
async def test_invalid_purchases_change_nothing(sqlite_server, credits, reference, field):
    # given an organisation with 10 credits
    platform = sqlite_server.platform()
    world = await build_world(platform, sittings=0, credits=10)

    # when an invalid payment is recorded
    result = await purchase(platform, world.organisation_id, credits, reference)

    # then it is INVALID_INPUT naming the field, and the balance is untouched
    assert result["organisation"] is None
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", ["input", field])]
    assert await balance(world.organisation_pk) == await ledger_sum(world.organisation_pk) == 10


@pytest.mark.parametrize(
    "organisation", ["T3JnYW5pc2F0aW9uOjk5OQ", "not-an-id", "VGVzdDox"], ids=["unknown", "malformed", "a test"]
)
async def test_purchase_for_an_unknown_organisation_is_not_found(sqlite_server, organisation):
    # given a platform admin
    platform = sqlite_server.platform()
    await build_world(platform, sittings=0, credits=0)

    # when credits are bought for an organisation that does not exist
    result = await purchase(platform, organisation, 10, "INV-1")

    # then it is NOT_FOUND
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("NOT_FOUND", ["input", "organisationId"])]
    assert await CreditTransaction.all().count() == 0


async def test_the_balance_equals_the_ledger_sum(server):
    # given purchases and a certification of three sittings
    platform = server.platform()
    world = await build_world(platform, sittings=3, credits=10)
    await purchase(platform, world.organisation_id, 4, "INV-2")
    admin = admin_of(server, world)
    certified = (await admin.data(CERTIFY_ALL, {"key": "k1"}))["certifySittings"]

    # when the admin reads the ledger
    ledger = (await admin.data(LEDGER, {"id": world.organisation_id}))["node"]

    # then every row is there, newest first, with running balances summing to the balance
    rows = [edge["node"] for edge in ledger["creditTransactions"]["edges"]]
    assert certified == {"certifiedCount": 3, "creditBalance": 11, "errors": []}
    assert ledger["creditBalance"] == 11
    assert ledger["creditTransactions"]["totalCount"] == 3
    assert [(r["kind"], r["delta"], r["balanceAfter"]) for r in rows] == [
        ("CERTIFICATION", -3, 11),
        ("PURCHASE", 4, 14),
        ("PURCHASE", 10, 10),
    ]
    assert [r["reference"] for r in rows][1:] == ["INV-2", "ext-initial"]
    assert all(r["createdAt"].endswith("+00:00") for r in rows)
    assert sum(r["delta"] for r in rows) == ledger["creditBalance"] == await ledger_sum(world.organisation_pk)
    assert [n["status"] for n in await sitting_nodes(admin)] == ["IN_PROGRESS"] * 3
