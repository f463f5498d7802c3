"""The event layer survives its Redis: subscriptions end with an actionable error, mutations still commit.

The test runs its own throw-away redis-server on a free port and restarts it;
the shared Redis is never touched.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from builders import PURCHASE_CREDITS, build_world
from harness import free_port, live_server, make_settings, unavailable
from redis import asyncio as redis
from support import admin_of, balance
from ws_client import ws_session

pytestmark = pytest.mark.redis

CREDITS_CHANGED = "subscription { creditBalanceChanged { creditBalance delta } }"
STATUS_CHANGED = "subscription { sittingStatusChanged { status } }"
LIVE_SITTINGS = "subscription { liveSittings(first: 2) { totalCount } }"
INTERRUPTED = {"message": "event stream interrupted; resubscribe", "code": "STREAM_INTERRUPTED"}
UNAVAILABLE = {"message": "event stream unavailable; resubscribe shortly", "code": "STREAM_INTERRUPTED"}


class OwnRedis:
    """A redis-server of this test alone, on a fixed free port, that can be stopped and started again."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        try:
            async with asyncio.timeout(10):
                while True:
                    try:
                        if await client.ping():
                            return
                    except (redis.ConnectionError, OSError):
                        await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
async def own_redis(tmp_path) -> AsyncIterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server")
    server = OwnRedis(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        server.stop()


def failure(payload: dict) -> dict:
    assert payload["data"] is None, payload
    (error,) = payload["errors"]
    return {"message": error["message"], "code": error["extensions"]["code"]}


async def subscribed(server, count: int, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while server.state.hub.subscriber_count() != count:
            await asyncio.sleep(0.01)


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
