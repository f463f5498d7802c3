"""Per-principal budgets of cost points a minute, over HTTP and websockets, in memory and shared through Redis."""

from __future__ import annotations

import asyncio
import time
import uuid

from builders import build_world
from harness import REDIS_URL, free_port, live_server, make_settings, unavailable
from support import admin_of, balance
from ws_client import ws_session

from models.enums import Role
from server.rate_limits import RateLimiter, storage_for

SITTINGS_51 = "{ sittings { totalCount } }"  # 1 + 50
CERTIFY_ALL = 'mutation { certifySittings(input: {selection: {all: true}, idempotencyKey: "%s"}) { certifiedCount } }'
CREDITS_CHANGED = "subscription { creditBalanceChanged { creditBalance } }"  # 1 + 10
VERIFY = '{ verifyCertificate(code: "nope") { valid } }'  # 1


def throttled(response) -> tuple[int, str | None, list[str], int | None]:
    body = response.json()
    error = body["errors"][0]
    return (
        response.status_code,
        response.headers.get("retry-after"),
        [e["extensions"]["code"] for e in body["errors"]],
        error["extensions"].get("retryAfter"),
    )


async def post(server, query: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await server.http.post("/graphql", json={"query": query}, headers=headers)


async def test_an_admin_over_budget_is_throttled_and_the_mutation_does_nothing(tmp_path, sqlite_url):
    # given a server with a budget of 110 points a minute and an organisation with 3 eligible sittings
    settings = make_settings(tmp_path, sqlite_url, max_query_cost=100, rate_limit_points_per_minute=110)
    async with live_server(settings) as server:
        world = await build_world(server.platform(), sittings=3, credits=3)
        admin = admin_of(server, world)

        # when the admin spends 102 points and then certifies (11 points)
        first, second = await post(server, SITTINGS_51, admin.token), await post(server, SITTINGS_51, admin.token)
        refused = await post(server, CERTIFY_ALL % "k", admin.token)
        other = await post(
            server, SITTINGS_51, server.token(Role.ORG_ADMIN, org=world.organisation_pk, subject="other")
        )

        # then the first two ran; the mutation is THROTTLED with 429 and Retry-After, and spent nothing
        assert [first.status_code, second.status_code] == [200, 200]
        assert "errors" not in first.json() and "errors" not in second.json()
        status, header, codes, retry_after = throttled(refused)
        assert (status, codes) == (429, ["THROTTLED"])
        assert header == str(retry_after) and 1 <= retry_after <= 80
        assert refused.json()["data"] is None
        assert refused.json()["extensions"] == {"cost": {"requested": 11, "limit": 100}}
        assert await balance(world.organisation_pk) == 3
        # and another principal of the same organisation has its own budget
        assert other.status_code == 200 and "errors" not in other.json()


async def test_websocket_subscribes_spend_the_same_budget(tmp_path, sqlite_url):
    # given a budget of 25 points a minute
    settings = make_settings(tmp_path, sqlite_url, max_query_cost=20, rate_limit_points_per_minute=25)
    async with live_server(settings) as server:
        world = await build_world(server.platform(), sittings=0, credits=0)
        token = server.token(Role.ORG_ADMIN, org=world.organisation_pk)
        async with ws_session(server.ws_url, token) as client:
            # when three subscriptions of 11 points each are opened on one connection
            await client.subscribe("1", CREDITS_CHANGED)
            await client.subscribe("2", CREDITS_CHANGED)
            await client.subscribe("3", CREDITS_CHANGED)
            message = await client.receive()

            # then the third is refused with THROTTLED, and the connection stays open
            assert message["id"] == "3", message
            errors = message["payload"]["errors"] if isinstance(message["payload"], dict) else message["payload"]
            assert [e["extensions"]["code"] for e in errors] == ["THROTTLED"]
            # at most the rest of this minute (≤ 60 s) and then the time for 22 points to fade to 14 (60 × 8/22 s)
            assert 1 <= errors[0]["extensions"]["retryAfter"] <= 82
            # and HTTP shares the budget: 22 spent, a 1-point query fits, a 4-point one does not
            assert (await post(server, "{ viewer { role } }", token)).status_code == 200
            assert (await post(server, "{ sittings(first: 3) { totalCount } }", token)).status_code == 429


async def test_anonymous_callers_share_a_budget_per_address(tmp_path, sqlite_url):
    # given an anonymous budget of 3 points a minute
    settings = make_settings(tmp_path, sqlite_url, anonymous_rate_limit_points_per_minute=3)
    async with live_server(settings) as server:
        # when one address verifies 4 codes
        answers = [await post(server, VERIFY, None) for _ in range(4)]

        # then the fourth is throttled
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert throttled(answers[3])[2] == ["THROTTLED"]


async def test_workers_on_redis_draw_on_one_budget(tmp_path, sqlite_url):
    # given a server on Redis with a budget of 120 points a minute, and a second limiter on the same Redis
    if REDIS_URL is None:
        unavailable("Redis (CERTIFY_TEST_REDIS_URL)")
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    settings = make_settings(
        tmp_path,
        sqlite_url,
        max_query_cost=100,
        rate_limit_points_per_minute=120,
        broadcast_url=REDIS_URL,
        channel_prefix=prefix,
    )
    other_worker = RateLimiter(storage_for(REDIS_URL, key_prefix=f"{prefix}certify-rate"))
    async with live_server(settings) as server:
        world = await build_world(server.platform(), sittings=0, credits=0)
        token = server.token(Role.ORG_ADMIN, org=world.organisation_pk, subject="shared")

        # when another worker spends 102 points of this principal's budget and the server is asked for 51 more
        assert await other_worker.spend("principal:org_admin:shared", 102, points_per_minute=120) is None
        refused = await post(server, SITTINGS_51, token)
        elsewhere = await post(
            server, SITTINGS_51, server.token(Role.ORG_ADMIN, org=world.organisation_pk, subject="someone-else")
        )

        # then the server refuses them, and someone else's budget is untouched
        assert throttled(refused)[:3:2] == (429, ["THROTTLED"])
        assert elsewhere.status_code == 200
    await other_worker.close()


async def test_a_limiter_whose_storage_is_down_lets_operations_through_quickly():
    # given a limiter on a Redis port where nothing listens
    limiter = RateLimiter(storage_for(f"redis://127.0.0.1:{free_port()}", key_prefix="down:"))

    # when it is asked to spend
    started = time.perf_counter()
    results = [await limiter.spend("principal:x", 10, points_per_minute=5) for _ in range(3)]
    elapsed = time.perf_counter() - started
    await limiter.close()

    # then every operation goes through, each within the storage timeout
    assert results == [None, None, None]
    assert elapsed < 3 * 1.5, elapsed


async def test_the_memory_limiter_refills_over_the_minute():
    # given a memory limiter and a budget of 60 points a minute, all spent
    limiter = RateLimiter(storage_for("memory://", key_prefix=""))
    assert await limiter.spend("k", 60, points_per_minute=60) is None

    # when one more point is asked
    refused = await limiter.spend("k", 1, points_per_minute=60)

    # then it waits for the window to slide: at most a minute and a bit
    assert refused is not None and refused.points_per_minute == 60
    assert 1 <= refused.retry_after <= 61
    # and a cost larger than the whole budget is never spent
    assert (await limiter.spend("other", 61, points_per_minute=60)).retry_after == 60
    await asyncio.sleep(0)
