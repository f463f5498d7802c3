"""Redis frozen, so that it neither answers nor closes: subscribers are told within a bound, requests do not stall.

A stopped (SIGSTOP) redis-server keeps its sockets open and its kernel keeps
acknowledging what the server sends: to the server it looks like a network
that silently lost every packet. The test freezes its own redis-server
(tests/own_redis.py), never the shared one. A restart with closed sockets is
tests/test_broadcast_resilience.py.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import pytest
from builders import PURCHASE_CREDITS, build_world
from harness import live_server, make_settings
from support import admin_of, balance
from traffic import assert_no_violations
from ws_client import ws_session

from server.rate_limits import STORAGE_TIMEOUT_SECONDS

pytestmark = [pytest.mark.slow, pytest.mark.redis]

HEALTH_SECONDS = 0.5
BROADCAST_TIMEOUT = 1.0
DETECTION_BOUND = HEALTH_SECONDS + BROADCAST_TIMEOUT
CREDITS_CHANGED = "subscription { creditBalanceChanged { creditBalance delta } }"
LIVE_SITTINGS = "subscription { liveSittings(first: 2) { totalCount } }"
INTERRUPTED = {"message": "event stream interrupted; resubscribe", "code": "STREAM_INTERRUPTED"}
UNAVAILABLE = {"message": "event stream unavailable; resubscribe shortly", "code": "STREAM_INTERRUPTED"}


def failure(payload: dict) -> dict:
    assert payload["data"] is None, payload
    (error,) = payload["errors"]
    return {"message": error["message"], "code": error["extensions"]["code"]}


async def subscribed(server, count: int, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while server.state.hub.subscriber_count() != count:
            await asyncio.sleep(0.01)


async def purchase(server, world, ref: str, credits: int = 1) -> float:
    """Buy credits; return how long the request took, in seconds."""
    started = time.monotonic()
    variables = {"org": world.organisation_id, "credits": credits, "ref": ref}
    result = await server.platform().data(PURCHASE_CREDITS, variables)
    assert result["purchaseCredits"]["errors"] == []
    return time.monotonic() - started


async def test_a_frozen_redis_ends_subscriptions_within_the_bound_and_publishing_does_not_stall(
    tmp_path, sqlite_url, own_redis
):
    settings = make_settings(
        tmp_path,
        sqlite_url,
        broadcast_url=own_redis.url,
        channel_prefix=f"{uuid.uuid4().hex}:",
        broadcast_health_seconds=HEALTH_SECONDS,
        broadcast_timeout_seconds=BROADCAST_TIMEOUT,
    )
    async with live_server(settings) as server:
        world = await build_world(server.platform(), sittings=2, credits=10)
        admin = admin_of(server, world)
        async with ws_session(server.ws_url, admin.token) as client:
            # given two subscriptions through Redis, quiet for longer than the health interval
            await client.subscribe("credits", CREDITS_CHANGED)
            await client.subscribe("live", LIVE_SITTINGS)
            assert (await client.data("live"))["liveSittings"]["totalCount"] == 2
            await subscribed(server, 2)
            await asyncio.sleep(3 * HEALTH_SECONDS)
            assert server.state.hub.interruptions == 0

            # when Redis freezes: no answer, no FIN, no RST
            own_redis.process.send_signal(signal.SIGSTOP)
            frozen = time.monotonic()
            try:
                # then a mutation publishing meanwhile commits, its publish cut off by the broadcast timeout
                publishing = asyncio.create_task(purchase(server, world, "po-frozen"))

                # and every subscription ends with an error the client resubscribes on, within the bound
                ended = {}
                async with asyncio.timeout(DETECTION_BOUND + 2):
                    while sum(map(len, ended.values())) < 4:
                        message = await client.receive()
                        ended.setdefault(message["id"], []).append(message)
                detected = time.monotonic() - frozen
                assert detected < DETECTION_BOUND + 0.5
                for id in ("credits", "live"):
                    (result, complete) = ended[id]
                    assert failure(result["payload"]) == INTERRUPTED
                    assert complete == {"id": id, "type": "complete"}
                assert await publishing < BROADCAST_TIMEOUT + STORAGE_TIMEOUT_SECONDS + 1.0
                assert await balance(world.organisation_pk) == 11

                # and the service says its broadcaster is down, and a new subscription fails at once
                ready = (await server.http.get("/readyz")).json()
                assert ready["checks"]["broadcaster"] == "not connected"
                await client.subscribe("early", CREDITS_CHANGED)
                assert failure(await client.next("early", timeout=BROADCAST_TIMEOUT + 2)) == UNAVAILABLE
                assert await client.receive() == {"id": "early", "type": "complete"}

                # and a mutation made once the loss is known does not wait for Redis at all
                assert await purchase(server, world, "po-known") < STORAGE_TIMEOUT_SECONDS + 1.0
            finally:
                own_redis.process.send_signal(signal.SIGCONT)

            # when Redis answers again, a client that resubscribes receives events again within 10 s
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
            await purchase(server, world, "po-back", credits=3)
            assert await client.data("credits-again") == {"creditBalanceChanged": {"creditBalance": 15, "delta": 3}}
            assert time.monotonic() - back < 10
            assert (await server.http.get("/readyz")).json()["checks"]["broadcaster"] == "ok"
        await assert_no_violations(server.state.storage)
