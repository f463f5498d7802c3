"""Concurrent certifications over separate HTTP connections: credits never go negative, keys spend once."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack

import httpx
from builders import PURCHASE_CREDITS, build_world
from harness import GraphQLClient
from support import admin_of, balance, ledger_sum, sitting_nodes, snapshot

from models import CreditTransaction
from models.enums import Role

SELECT_ALL = "mutation { selectSittings(input: {all: true}) { changedCount errors { code } } }"
CERTIFY_SITTINGS = """
mutation($ids: [ID!], $key: String!) {
  certifySittings(input: {selection: {ids: $ids}, idempotencyKey: $key}) {
    certifiedCount creditsSpent creditBalance errors { code }
  }
}
"""
CONFIRM_CERTIFICATION = """
mutation($key: String!) {
  confirmCertification(input: {idempotencyKey: $key}) { certifiedCount creditsSpent creditBalance errors { code } }
}
"""


async def clients(server, stack: AsyncExitStack, token: str, count: int) -> list[GraphQLClient]:
    """``count`` clients, each with its own HTTP connection pool."""
    result = []
    for _ in range(count):
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=60))
        result.append(GraphQLClient(http, token))
    return result


async def test_two_certifications_wanting_more_than_the_balance(server):
    # given 18 sittings and five credits
    platform = server.platform()
    world = await build_world(platform, sittings=18, credits=5)
    ids = [node["id"] for node in await sitting_nodes(admin_of(server, world))]
    token = server.token(Role.ORG_ADMIN, org=world.organisation_pk)
    outcomes = []
    async with AsyncExitStack() as stack:
        first, second = await clients(server, stack, token, 2)
        for round_ in range(3):
            if round_:
                await platform.data(
                    PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 3, "ref": f"top-up-{round_}"}
                )
            chunk = ids[round_ * 6 : round_ * 6 + 6]

            # when two clients each certify three disjoint sittings at the same time, with five credits left
            results = await asyncio.gather(
                first.data(CERTIFY_SITTINGS, {"ids": chunk[:3], "key": f"a{round_}"}),
                second.data(CERTIFY_SITTINGS, {"ids": chunk[3:], "key": f"b{round_}"}),
            )
            payloads = [r["certifySittings"] for r in results]
            outcomes.append(
                (
                    sorted(p["certifiedCount"] for p in payloads),
                    sorted(e["code"] for p in payloads for e in p["errors"]),
                )
            )

    # then exactly one of each pair won, the other was refused, and the balance never went negative
    state = await snapshot(world.organisation_pk)
    assert outcomes == [([0, 3], ["INSUFFICIENT_CREDITS"])] * 3
    assert Counter(state.statuses.values()) == Counter({"IN_PROGRESS": 9, "UNSELECTED": 9})
    assert state.balance == 5 + 3 + 3 - 9
    assert state.balance == await ledger_sum(world.organisation_pk)
    assert state.certificates == 9


async def test_concurrent_confirmations_with_one_key_spend_once(server):
    # given four SELECTED sittings and ten credits
    world = await build_world(server.platform(), sittings=4, credits=10)
    admin = admin_of(server, world)
    assert (await admin.data(SELECT_ALL))["selectSittings"]["changedCount"] == 4
    token = server.token(Role.ORG_ADMIN, org=world.organisation_pk)

    # when eight clients confirm at once with the same key
    async with AsyncExitStack() as stack:
        results = await asyncio.gather(
            *(client.data(CONFIRM_CERTIFICATION, {"key": "same"}) for client in await clients(server, stack, token, 8))
        )

    # then every one gets the one result, and exactly one spend happened
    expected = {"certifiedCount": 4, "creditsSpent": 4, "creditBalance": 6, "errors": []}
    assert [r["confirmCertification"] for r in results] == [expected] * 8
    assert await CreditTransaction.filter(organisation_id=world.organisation_pk, kind="CERTIFICATION").count() == 1
    assert await balance(world.organisation_pk) == await ledger_sum(world.organisation_pk) == 6


async def test_concurrent_confirmations_with_different_keys_certify_once(server):
    # given three SELECTED sittings and ten credits
    world = await build_world(server.platform(), sittings=3, credits=10)
    admin = admin_of(server, world)
    assert (await admin.data(SELECT_ALL))["selectSittings"]["changedCount"] == 3
    token = server.token(Role.ORG_ADMIN, org=world.organisation_pk)

    # when five clients confirm at once, each with its own key
    async with AsyncExitStack() as stack:
        results = await asyncio.gather(
            *(
                client.data(CONFIRM_CERTIFICATION, {"key": f"key-{n}"})
                for n, client in enumerate(await clients(server, stack, token, 5))
            )
        )

    # then one certifies the three and the others find nothing selected
    payloads = [r["confirmCertification"] for r in results]
    assert sorted(p["certifiedCount"] for p in payloads) == [0, 0, 0, 0, 3]
    assert sorted(e["code"] for p in payloads for e in p["errors"]) == ["NOTHING_SELECTED"] * 4
    assert await balance(world.organisation_pk) == await ledger_sum(world.organisation_pk) == 7


RECORD_SITTINGS_ROWS = """
mutation($rows: [RecordSittingInput!]!) {
  recordSittings(input: {sittings: $rows}) { recordedCount unchangedCount errors { code message } }
}
"""


async def test_concurrent_recordings_of_one_new_test_taker(server):
    # given an organisation and a test, and a candidate nobody has recorded yet
    from builders import sitting_row

    from models import TestTaker

    world = await build_world(server.platform(), sittings=0, credits=0)
    token = server.token(Role.PLATFORM_ADMIN, subject="platform")
    rows = [
        [sitting_row(world.organisation_id, world.test_id, n, prefix=f"race{n}", email="New.Person@example.com")]
        for n in range(6)
    ]
    async with AsyncExitStack() as stack:
        callers = await clients(server, stack, token, len(rows))

        # when six platform calls record sittings of that candidate at the same time
        results = await asyncio.gather(*(c.data(RECORD_SITTINGS_ROWS, {"rows": r}) for c, r in zip(callers, rows)))

    # then every call recorded its sitting, and there is exactly one test taker for the address
    assert [r["recordSittings"] for r in results] == [{"recordedCount": 1, "unchangedCount": 0, "errors": []}] * 6
    assert await TestTaker.filter(email_key="new.person@example.com").count() == 1
