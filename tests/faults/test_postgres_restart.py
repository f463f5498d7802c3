"""PostgreSQL restarted under load: requests fail cleanly while it is down and succeed afterwards, with no server restart.

The test runs its own PostgreSQL cluster (tests/faults/own_postgres.py) and
restarts it (fast shutdown, as an operator's restart) while clients buy
credits, select and unselect sittings and read them; the shared server is
never touched.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from builders import PURCHASE_CREDITS, build_world
from harness import live_server, make_settings
from support import admin_of, sitting_pk, snapshot
from traffic import DATABASE_DOWN, Traffic, assert_no_violations

from models import CreditTransaction, Sitting
from models.enums import CreditTransactionKind

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REQUEST_TIMEOUT = 5.0
TOGGLE = """
mutation($ids: [ID!]!, $select: Boolean!) {
  selectSittings(input: {ids: $ids}) @include(if: $select) { changedCount errors { code } }
  unselectSittings(input: {ids: $ids}) @skip(if: $select) { changedCount errors { code } }
}
"""
SITTINGS = "{ sittings(first: 50) { totalCount } }"
VIEWER = "{ viewer { role } }"


async def own_database(cluster_url: str) -> str:
    admin = await asyncpg.connect(f"{cluster_url}/postgres")
    try:
        await admin.execute("CREATE DATABASE certify")
    finally:
        await admin.close()
    return f"{cluster_url}/certify"


async def test_requests_fail_cleanly_while_postgres_restarts_and_succeed_afterwards(tmp_path, own_postgres):
    settings = make_settings(tmp_path, await own_database(own_postgres.url), request_timeout_seconds=REQUEST_TIMEOUT)
    async with live_server(settings) as server:
        # given a world, and clients buying credits, toggling the selection of their own sitting and reading
        platform = server.platform()
        world = await build_world(platform, sittings=4, credits=100)
        other = await build_world(platform, sittings=0, credits=0, name="Other Org", prefix="other")
        admin = admin_of(server, world)
        fresh_token = admin_of(server, other, subject="first-seen").token  # its scope is looked up on first use
        before = await snapshot(world.organisation_pk)
        traffic = Traffic()

        async def buyer(worker: int):
            async def buy(n: int):
                variables = {"org": world.organisation_id, "credits": 1, "ref": f"po-{worker}-{n}"}
                await traffic.send(server.http, f"buy po-{worker}-{n}", PURCHASE_CREDITS, variables, platform.token)

            await traffic.keep_sending(buy)

        async def toggler(worker: int):
            async def toggle(n: int):
                variables = {"ids": [sitting_ids[worker]], "select": n % 2 == 0}
                await traffic.send(server.http, f"toggle {worker} {n}", TOGGLE, variables, admin.token)

            await traffic.keep_sending(toggle)

        async def reader(n: int):
            await traffic.send(server.http, "read", SITTINGS, {}, admin.token)

        sitting_ids = [
            edge["node"]["id"]
            for edge in (await admin.data("{ sittings(first: 10) { edges { node { id } } } }"))["sittings"]["edges"]
        ]
        clients = [
            *(asyncio.create_task(buyer(w)) for w in range(3)),
            *(asyncio.create_task(toggler(w)) for w in range(2)),
            asyncio.create_task(traffic.keep_sending(reader)),
        ]
        await asyncio.sleep(0.5)

        # when PostgreSQL stops
        await asyncio.to_thread(own_postgres.stop)
        stopped = time.monotonic()
        await asyncio.sleep(0.5)

        # then the server says the database is down, and a token seen for the first time is refused cleanly
        ready = await server.http.get("/readyz")
        assert (ready.status_code, ready.json()) == (
            503,
            {
                "status": "unavailable",
                "checks": {
                    "database": "unreachable (ConnectionRefusedError)",
                    "broadcaster": "ok",
                    "renderer": "disabled",
                },
            },
        )
        first_seen = await traffic.send(server.http, "first-seen", VIEWER, {}, fresh_token)
        assert (first_seen.status, first_seen.body) == (
            503,
            {"errors": [{"message": DATABASE_DOWN["message"], "extensions": {"code": "SERVICE_UNAVAILABLE"}}]},
        )
        await asyncio.sleep(0.5)

        # when it starts again
        await asyncio.to_thread(own_postgres.start)
        restarted = time.monotonic()
        async with asyncio.timeout(5):
            while (await server.http.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.05)
        recovered = time.monotonic()
        await asyncio.sleep(1.5)
        traffic.stop()
        await asyncio.gather(*clients)

        # then every request was answered within the request timeout, with its data or SERVICE_UNAVAILABLE
        outcomes = [outcome for outcome in traffic.outcomes if outcome.label != "first-seen"]
        assert all(outcome.status == 200 for outcome in outcomes), [o.body for o in outcomes if o.status != 200]
        assert max(outcome.seconds for outcome in outcomes) < REQUEST_TIMEOUT + 1
        failures = [outcome for outcome in outcomes if outcome.failure is not None]
        assert failures, "no request was in flight while the database was down"
        assert all(outcome.failure == DATABASE_DOWN for outcome in failures), [o.body for o in failures]
        assert all(stopped - 1 < outcome.ended and outcome.started < restarted + 1 for outcome in failures)

        for outcome in outcomes:
            if outcome.failure is None and outcome.label == "read":
                assert outcome.body["data"] == {"sittings": {"totalCount": 4}}
            elif outcome.failure is None and outcome.label.startswith("buy "):
                assert outcome.body["data"]["purchaseCredits"]["errors"] == []

        # and every request sent once the database was back succeeded, without a server restart
        after = [outcome for outcome in outcomes if outcome.started > recovered]
        assert len(after) >= len(clients)
        assert [outcome.failure for outcome in after] == [None] * len(after)
        assert await admin_of(server, other, subject="first-seen").data(VIEWER) == {"viewer": {"role": "ORG_ADMIN"}}

        # and the purchases that reported success are all there, those that failed changed nothing
        bought = {
            outcome.label.removeprefix("buy ")
            for outcome in outcomes
            if outcome.label.startswith("buy ") and outcome.failure is None
        }
        refused = {
            outcome.label.removeprefix("buy ") for outcome in outcomes if outcome.label.startswith("buy ")
        } - bought
        assert refused
        purchases = await CreditTransaction.filter(
            organisation_id=world.organisation_pk, kind=CreditTransactionKind.PURCHASE
        ).values_list("reference", flat=True)
        assert set(purchases) == bought | {"ext-initial"}
        assert (await snapshot(world.organisation_pk)).balance == before.balance + len(bought)

        # and each toggled sitting is as its last successful toggle left it
        for worker, gid in enumerate(sitting_ids[:2]):
            done = [o for o in outcomes if o.label.startswith(f"toggle {worker} ") and o.failure is None]
            last = int(done[-1].label.split()[-1])
            expected = "SELECTED" if last % 2 == 0 else "UNSELECTED"
            assert str((await Sitting.get(id=sitting_pk(gid))).status) == expected
        await assert_no_violations(server.state.storage)
