"""Concurrent certifications and recordings over separate HTTP connections: credits never go negative, every
certified sitting is charged once, keys spend once, a dropped client's retry gets the first result, and the
invariants (resolvers/invariants.py) hold afterwards."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections import Counter
from contextlib import AsyncExitStack

import httpx
from builders import PURCHASE_CREDITS, build_world, sitting_row
from harness import GraphQLClient
from support import admin_of, balance, ledger_sum, sitting_nodes, snapshot, statuses

from adapters.storage import LocalFileStorage
from models import CreditTransaction, IdempotencyRecord, Sitting, TestTaker
from models.enums import Role
from resolvers.invariants import find_violations

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
    # given an organisation and a test, and a candidate nobody has recorded yet, whom six calls spell differently
    world = await build_world(server.platform(), sittings=0, credits=0)
    token = server.token(Role.PLATFORM_ADMIN, subject="platform")
    addresses = ["New.Person@example.com", "NEW.PERSON@example.com", "new.person@example.com"]
    spellings = [(f"New Person {n}", addresses[n % 3]) for n in range(6)]
    rows = [
        [sitting_row(world.organisation_id, world.test_id, n, prefix=f"race{n}", name=name, email=email)]
        for n, (name, email) in enumerate(spellings)
    ]
    async with AsyncExitStack() as stack:
        callers = await clients(server, stack, token, len(rows))

        # when six platform calls record sittings of that candidate at the same time
        results = await asyncio.gather(*(c.data(RECORD_SITTINGS_ROWS, {"rows": r}) for c, r in zip(callers, rows)))

    # then every call recorded its sitting, there is exactly one test taker for the address,
    # every field of it comes from one payload (not a mix), and all six sittings are that test taker's
    assert [r["recordSittings"] for r in results] == [{"recordedCount": 1, "unchangedCount": 0, "errors": []}] * 6
    [taker] = await TestTaker.filter(email_key="new.person@example.com")
    fields = (taker.name, taker.email, taker.email_key, taker.search_key, taker.locale)
    assert fields in [
        (t.name, t.email, t.email_key, t.search_key, t.locale)
        for t in (TestTaker.for_person(name=name, email=email) for name, email in spellings)
    ]
    assert await Sitting.filter(test_taker_id=taker.id).count() == 6


SELECT_IDS = "mutation($ids: [ID!]!) { selectSittings(input: {ids: $ids}) { changedCount errors { code } } }"
CERTIFY_ALL = """
mutation($key: String!) {
  certifySittings(input: {selection: {all: true}, idempotencyKey: $key}) {
    certifiedCount creditsSpent creditBalance errors { code }
  }
}
"""
ROUNDS = 50


async def test_two_confirmations_racing_for_the_last_credit_fifty_times(server):
    # given fifty eligible sittings and no credits
    platform = server.platform()
    world = await build_world(platform, sittings=ROUNDS, credits=0)
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    token = server.token(Role.ORG_ADMIN, org=world.organisation_pk)
    rounds = []
    async with AsyncExitStack() as stack:
        first, second = await clients(server, stack, token, 2)
        for n, sitting in enumerate(ids):
            # given one SELECTED sitting and exactly one credit
            selected, bought = await asyncio.gather(
                admin.data(SELECT_IDS, {"ids": [sitting]}),
                platform.data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 1, "ref": f"round-{n}"}),
            )
            assert selected["selectSittings"]["changedCount"] == 1
            assert bought["purchaseCredits"]["organisation"]["creditBalance"] == 1

            # when two clients confirm at once, each with its own key
            results = await asyncio.gather(
                first.data(CONFIRM_CERTIFICATION, {"key": f"first-{n}"}),
                second.data(CONFIRM_CERTIFICATION, {"key": f"second-{n}"}),
            )
            rounds.append(
                (
                    sorted(r["confirmCertification"]["certifiedCount"] for r in results),
                    [e["code"] for r in results for e in r["confirmCertification"]["errors"]],
                    await balance(world.organisation_pk),
                )
            )

    # then each round one certified the sitting and spent the credit; the other found nothing selected
    # (it waits for the organisation's lock, so it never sees the sitting still SELECTED with the credit gone)
    assert rounds == [([0, 1], ["NOTHING_SELECTED"], 0)] * ROUNDS
    assert set((await statuses(world.organisation_pk)).values()) == {"IN_PROGRESS"}
    assert await CreditTransaction.filter(organisation_id=world.organisation_pk, kind="CERTIFICATION").count() == ROUNDS
    assert await find_violations(storage=LocalFileStorage(server.settings.files_dir)) == []


async def test_ten_certifications_of_overlapping_selections_charge_each_sitting_once(server):
    # given twenty eligible sittings and a hundred credits
    world = await build_world(server.platform(), sittings=20, credits=100)
    ids = [node["id"] for node in await sitting_nodes(admin_of(server, world))]
    token = server.token(Role.ORG_ADMIN, org=world.organisation_pk)
    windows = [ids[2 * n : 2 * n + 6] for n in range(9)]  # each overlaps its neighbours; the last holds four

    # when nine clients certify overlapping windows and a tenth certifies everything, all at once
    async with AsyncExitStack() as stack:
        callers = await clients(server, stack, token, 10)
        results = await asyncio.gather(
            *(
                c.data(CERTIFY_SITTINGS, {"ids": w, "key": f"window-{n}"})
                for n, (c, w) in enumerate(zip(callers, windows))
            ),
            callers[9].data(CERTIFY_ALL, {"key": "everything"}),
        )
    payloads = [r["certifySittings"] for r in results]

    # then every sitting was certified exactly once: the windows that won are disjoint, the others were refused
    # whole (a sitting already certified), and the credits spent are the sittings certified
    won = [set(w) for w, p in zip(windows, payloads) if not p["errors"]]
    assert all(p["certifiedCount"] == len(w) for w, p in zip(windows, payloads) if not p["errors"])
    assert sum(len(w) for w in won) == len(set().union(*won))
    assert {e["code"] for p in payloads[:9] for e in p["errors"]} <= {"INVALID_TRANSITION"}
    assert payloads[9]["errors"] in ([], [{"code": "NOTHING_SELECTED"}])
    assert sum(p["certifiedCount"] for p in payloads) == 20
    assert sum(p["creditsSpent"] for p in payloads) == 20
    assert set((await statuses(world.organisation_pk)).values()) == {"IN_PROGRESS"}
    debits = await CreditTransaction.filter(organisation_id=world.organisation_pk, kind="CERTIFICATION").values_list(
        "delta", flat=True
    )
    assert sum(debits) == -20
    assert len(debits) == sum(1 for p in payloads if not p["errors"])
    assert await balance(world.organisation_pk) == await ledger_sum(world.organisation_pk) == 80
    assert await find_violations(storage=LocalFileStorage(server.settings.files_dir)) == []


BATCH = 1000


def post_and_drop(port: int, body: bytes, token: str) -> None:
    """Send one complete HTTP request, then reset the connection without reading the response."""
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        # SO_LINGER 0: close sends a RST at once, as a client that crashes or loses its network does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def test_a_client_dropped_mid_confirmation_retries_and_gets_the_first_result(server):
    # given a thousand eligible sittings (five hundred make a confirmation that takes a while) and 1,005 credits
    world = await build_world(server.platform(), sittings=BATCH, credits=BATCH + 5)
    admin = admin_of(server, world)
    ids = [node["id"] for node in await sitting_nodes(admin)]
    token = server.token(Role.ORG_ADMIN, org=world.organisation_pk)
    half = BATCH // 2

    def confirmation(key: str) -> bytes:
        return json.dumps({"query": CONFIRM_CERTIFICATION, "variables": {"key": key}}).encode()

    # when a client sends the confirmation of five hundred SELECTED sittings and drops the connection after the body
    assert (await admin.data(SELECT_IDS, {"ids": ids[:half]}))["selectSittings"]["changedCount"] == half
    await asyncio.to_thread(post_and_drop, server.port, confirmation("dropped-1"), token)

    # then the server finishes the work it had started: the confirmation commits on its own
    deadline = asyncio.get_running_loop().time() + 30
    while not await IdempotencyRecord.filter(organisation_id=world.organisation_pk, key="dropped-1").exists():
        assert asyncio.get_running_loop().time() < deadline, "the dropped confirmation never committed"
        await asyncio.sleep(0.02)

    # when the client retries with the same key
    retried = (await admin.data(CONFIRM_CERTIFICATION, {"key": "dropped-1"}))["confirmCertification"]

    # then it gets the first result
    assert retried == {"certifiedCount": half, "creditsSpent": half, "creditBalance": BATCH + 5 - half, "errors": []}

    # when the next five hundred are confirmed, dropped, and retried at once, while the first attempt still runs
    assert (await admin.data(SELECT_IDS, {"ids": ids[half:]}))["selectSittings"]["changedCount"] == half
    await asyncio.to_thread(post_and_drop, server.port, confirmation("dropped-2"), token)
    raced = (await admin.data(CONFIRM_CERTIFICATION, {"key": "dropped-2"}))["confirmCertification"]

    # then the retry waits for the first attempt and gets its result; each batch was charged once
    assert raced == {"certifiedCount": half, "creditsSpent": half, "creditBalance": 5, "errors": []}
    debits = await CreditTransaction.filter(organisation_id=world.organisation_pk, kind="CERTIFICATION").values_list(
        "delta", flat=True
    )
    assert sorted(debits) == [-half, -half]
    assert await IdempotencyRecord.filter(organisation_id=world.organisation_pk).count() == 2
    assert set((await statuses(world.organisation_pk)).values()) == {"IN_PROGRESS"}
    assert await balance(world.organisation_pk) == await ledger_sum(world.organisation_pk) == 5
    assert await find_violations(storage=LocalFileStorage(server.settings.files_dir)) == []
