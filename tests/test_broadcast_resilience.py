"""The event layer survives its Redis: subscriptions end with an actionable error, mutations still commit.

The test runs its own throw-away redis-server on a free port and restarts it;
the shared Redis is never touched.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from builders import PURCHASE_CREDITS, build_world
from harness import live_server, make_settings
from own_redis import own_redis  # noqa: F401 - fixture
from support import admin_of, balance, subscribed
from ws_client import ws_session

pytestmark = pytest.mark.redis

CREDITS_CHANGED = "subscription { creditBalanceChanged { creditBalance delta } }"
STATUS_CHANGED = "subscription { sittingStatusChanged { status } }"
LIVE_SITTINGS = "subscription { liveSittings(first: 2) { totalCount } }"
INTERRUPTED = {"message": "event stream interrupted; resubscribe", "code": "STREAM_INTERRUPTED"}
UNAVAILABLE = {"message": "event stream unavailable; resubscribe shortly", "code": "STREAM_INTERRUPTED"}


def failure(payload: dict) -> dict:
    assert payload["data"] is None, payload
    (error,) = payload["errors"]
    return {"message": error["message"], "code": error["extensions"]["code"]}



async def test_a_redis_restart_ends_subscriptions_with_an_error_and_resubscribing_works(tmp_path, sqlite_url, own_redis):
    settings = make_settings(tmp_path, sqlite_url, broadcast_url=own_redis.url, channel_prefix=f"{uuid.uuid4().hex}:")
    async with live_server(settings) as server:
        world = await build_world(server.platform(), sittings=2, credits=10)
        admin = admin_of(server, world)
        async with ws_session(server.ws_url, admin.token) as client, ws_session(server.ws_url, admin.token) as twin:
            # given three live subscriptions through Redis, and on another connection one identical to the second
            await client.subscribe("credits", CREDITS_CHANGED)
            await client.subscribe("status", STATUS_CHANGED)
            await client.subscribe("live", LIVE_SITTINGS)
            await twin.subscribe("status-too", STATUS_CHANGED)
            assert (await client.data("live"))["liveSittings"]["totalCount"] == 2
            await subscribed(server, 4)
            assert server.state.shared_streams.member_counts() == [1, 1, 2]

            # when Redis goes away
            own_redis.stop()

            # then every subscription ends with an error the client can act on, and completes
            ended = {}
            async with asyncio.timeout(5):
                while sum(map(len, ended.values())) < 6:
                    message = await client.receive()
                    ended.setdefault(message["id"], []).append(message)
            for id in ("credits", "status", "live"):
                (result, complete) = ended[id]
                assert failure(result["payload"]) == INTERRUPTED
                assert complete == {"id": id, "type": "complete"}
            assert failure((await twin.next("status-too"))) == INTERRUPTED
            assert await twin.receive() == {"id": "status-too", "type": "complete"}
            await subscribed(server, 0)
            assert server.state.shared_streams.member_counts() == []

            # and a mutation made while Redis is down still commits, promptly
            started = time.monotonic()
            result = await server.platform().data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 5, "ref": "po-down"})
            assert result["purchaseCredits"]["errors"] == []
            assert time.monotonic() - started < 3
            assert await balance(world.organisation_pk) == 15

            # and a subscription opened while Redis is down fails at once
            await client.subscribe("early", CREDITS_CHANGED)
            assert failure(await client.next("early")) == UNAVAILABLE
            assert await client.receive() == {"id": "early", "type": "complete"}

            # when Redis is back, a client that resubscribes receives events again within 10 s
            await own_redis.start()
            back = time.monotonic()
            attempt = 0
            while True:
                attempt += 1
                await client.subscribe(f"live-{attempt}", LIVE_SITTINGS)
                payload = await client.next(f"live-{attempt}")
                if "errors" not in payload:
                    break
                assert failure(payload) == UNAVAILABLE
                assert await client.receive() == {"id": f"live-{attempt}", "type": "complete"}
                await asyncio.sleep(0.2)
            await client.subscribe("credits-again", CREDITS_CHANGED)
            await subscribed(server, 2)
            await server.platform().data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 1, "ref": "po-up"})
            assert await client.data("credits-again") == {"creditBalanceChanged": {"creditBalance": 16, "delta": 1}}
            assert time.monotonic() - back < 10
    assert server.state.hub.interruptions == 1
