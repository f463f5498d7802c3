"""Websocket protocol rules against the real server: authentication, close codes, limits, keep-alive."""

from __future__ import annotations

import asyncio
import time

import pytest
from builders import PURCHASE_CREDITS, build_world
from harness import live_server, make_settings
from support import admin_of
from ws_client import LEGACY_WS, TRANSPORT_WS, ws_connect, ws_session

from models.enums import Role

CREDITS_CHANGED = "subscription { creditBalanceChanged { creditBalance delta } }"


async def subscribed(server, count: int, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while server.state.hub.subscriber_count() != count:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("token", [None, "not-a-jwt", "expired"])
async def test_a_missing_or_bad_token_closes_4403_before_anything_is_sent(sqlite_server, protocol, token):
    server = sqlite_server
    if token == "expired":
        token = server.token(Role.ORG_ADMIN, org=1, ttl=-10)
    async with ws_connect(server.ws_url, protocol) as client:
        await client.init(token, expect_ack=False)
        assert await client.close_code() == 4403


async def test_subscribe_before_connection_init_closes_4401(sqlite_server):
    async with ws_connect(sqlite_server.ws_url) as client:
        await client.subscribe("1", CREDITS_CHANGED)
        assert await client.close_code() == 4401


async def test_a_second_connection_init_closes_4429(sqlite_server):
    server = sqlite_server
    org = (await build_world(server.platform(), sittings=0, credits=0)).organisation_pk
    async with ws_session(server.ws_url, server.token(Role.ORG_ADMIN, org=org)) as client:
        await client.init(server.token(Role.ORG_ADMIN, org=org), expect_ack=False)
        assert await client.close_code() == 4429


async def test_two_subscriptions_with_one_id_close_4409(sqlite_server):
    server = sqlite_server
    org = (await build_world(server.platform(), sittings=0, credits=0)).organisation_pk
    async with ws_session(server.ws_url, server.token(Role.ORG_ADMIN, org=org)) as client:
        await client.subscribe("1", CREDITS_CHANGED)
        await client.subscribe("1", CREDITS_CHANGED)
        assert await client.close_code() == 4409


async def test_silence_after_connecting_closes_4408_within_the_init_timeout(sqlite_server):
    assert sqlite_server.settings.websocket_init_timeout_seconds == 5.0
    async with ws_connect(sqlite_server.ws_url) as client:
        started = time.monotonic()
        assert await client.close_code(timeout=8) == 4408
        assert 4.5 <= time.monotonic() - started <= 6.5


@pytest.mark.parametrize(
    "message",
    [
        "this is not json",
        "{}",
        "[1, 2]",
        '{"type": "subscribe", "payload": {"query": "subscription { creditBalanceChanged { delta } }"}}',
        '{"id": 7, "type": "subscribe", "payload": {"query": "subscription { creditBalanceChanged { delta } }"}}',
        '{"id": "1", "type": "subscribe", "payload": "subscription { creditBalanceChanged { delta } }"}',
        '{"id": "1", "type": "subscribe", "payload": {"query": ["subscription { creditBalanceChanged { delta } }"]}}',
        '{"id": "1", "type": "subscribe", "payload": {"query": 12345}}',
        '{"id": "1", "type": "subscribe", "payload": {"query": "subscription { creditBalanceChanged { delta } }", "variables": "abc"}}',
        '{"id": "1", "type": "subscribe", "payload": {"query": "subscription { creditBalanceChanged { delta } }", "operationName": 5}}',
    ],
)
async def test_a_malformed_message_closes_4400_and_others_are_still_served(sqlite_server, message):
    # given a healthy subscriber on another connection
    server = sqlite_server
    world = await build_world(server.platform(), sittings=0, credits=1)
    async with ws_session(server.ws_url, admin_of(server, world).token) as healthy:
        await healthy.subscribe("c", CREDITS_CHANGED)
        await subscribed(server, 1)

        # when a client sends a malformed message, it is closed with 4400
        async with ws_session(server.ws_url, admin_of(server, world).token) as broken:
            await broken.send(message)
            assert await broken.close_code() == 4400

        # and the healthy one still gets its events
        await server.platform().data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 1, "ref": "po-x"})
        assert await healthy.data("c") == {"creditBalanceChanged": {"creditBalance": 2, "delta": 1}}


async def test_a_malformed_legacy_start_gets_an_error_and_the_connection_goes_on(sqlite_server):
    server = sqlite_server
    world = await build_world(server.platform(), sittings=0, credits=1)
    async with ws_session(server.ws_url, admin_of(server, world).token, LEGACY_WS) as client:
        await client.send({"id": "1", "type": "start", "payload": {"query": ["not", "a", "string"]}})
        assert await client.receive() == {
            "type": "error",
            "id": "1",
            "payload": {"message": "subscribe payload.query must be a string"},
        }
        await client.subscribe("1", CREDITS_CHANGED)
        await subscribed(server, 1)
        await server.platform().data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 2, "ref": "po-z"})
        assert await client.data("1") == {"creditBalanceChanged": {"creditBalance": 3, "delta": 2}}


async def test_an_id_can_be_reused_after_complete(sqlite_server):
    server = sqlite_server
    world = await build_world(server.platform(), sittings=0, credits=1)
    async with ws_session(server.ws_url, admin_of(server, world).token) as client:
        await client.subscribe("1", CREDITS_CHANGED)
        await subscribed(server, 1)
        await client.complete("1")
        await subscribed(server, 0)
        await client.subscribe("1", CREDITS_CHANGED)
        await subscribed(server, 1)
        await server.platform().data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 4, "ref": "po-y"})
        assert await client.data("1") == {"creditBalanceChanged": {"creditBalance": 5, "delta": 4}}


async def test_at_most_100_subscriptions_per_connection(sqlite_server):
    server = sqlite_server
    org = (await build_world(server.platform(), sittings=0, credits=0)).organisation_pk
    async with ws_session(server.ws_url, server.token(Role.ANALYST, org=org)) as client:
        for n in range(100):
            await client.subscribe(str(n), CREDITS_CHANGED)
        await subscribed(server, 100)
        await client.subscribe("100", CREDITS_CHANGED)
        message = await client.receive()
        assert message == {"id": "100", "type": "error", "payload": [{"message": "Subscription limit reached"}]}
    await subscribed(server, 0)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_the_server_sends_keep_alives(tmp_path, sqlite_url, protocol):
    async with live_server(make_settings(tmp_path, sqlite_url, websocket_ping_seconds=0.2)) as server:
        org = (await build_world(server.platform(), sittings=0, credits=0)).organisation_pk
        async with ws_session(server.ws_url, server.token(Role.ANALYST, org=org), protocol) as client:
            raw = [await asyncio.wait_for(client.ws.recv(), 2) for _ in range(2)]
        expected = '{"type": "ka"}' if protocol == LEGACY_WS else '{"type": "ping"}'
        assert [m.replace(" ", "") for m in raw] == [expected.replace(" ", "")] * 2
