"""A websocket session lives no longer than its token (server/ws_deadlines.py, server/websockets.py), both protocols."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest
from builders import PURCHASE_CREDITS, build_world
from ws_client import LEGACY_WS, TRANSPORT_WS, ws_session

from models.enums import Role
from server.ws_deadlines import EXPIRED_CODE

CREDITS_CHANGED = "subscription { creditBalanceChanged { creditBalance delta } }"


async def subscribed(server, count: int, timeout: float = 5.0) -> None:
    """Wait until the server's hub holds ``count`` local subscribers."""
    async with asyncio.timeout(timeout):
        while server.state.hub.subscriber_count() != count:
            await asyncio.sleep(0.01)


def expiry_of(token: str) -> float:
    return jwt.decode(token, options={"verify_signature": False})["exp"]


async def purchase(server, world, ref: str) -> None:
    await server.platform().data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 1, "ref": ref})


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_the_session_ends_with_4401_when_the_token_expires_and_no_event_follows(sqlite_server, protocol):
    server = sqlite_server
    world = await build_world(server.platform(), sittings=0, credits=10)
    # given a session whose token expires in 2 s (1–2 s: exp is whole seconds), subscribed to credit changes
    token = server.token(Role.ORG_ADMIN, org=world.organisation_pk, ttl=2)
    expires_at = expiry_of(token)
    async with ws_session(server.ws_url, token, protocol) as client:
        await client.subscribe("credits", CREDITS_CHANGED)
        await subscribed(server, 1)

        # when an event is published before the expiry
        await purchase(server, world, "before")
        # then it arrives
        assert await client.data("credits") == {"creditBalanceChanged": {"creditBalance": 11, "delta": 1}}

        # when the expiry passes and another event is published at once
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await purchase(server, world, "after")

        # then the server closes with 4401, sending nothing but keep-alives first, and holds no subscriber
        assert await client.close_code(timeout=5) == EXPIRED_CODE
        assert time.time() >= expires_at
        await subscribed(server, 0)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_subscribe_racing_the_expiry_is_refused_with_4401(sqlite_server, protocol):
    server = sqlite_server
    world = await build_world(server.platform(), sittings=0, credits=10)
    # given a session whose token expires in 1–2 s and that has no subscription yet
    token = server.token(Role.ORG_ADMIN, org=world.organisation_pk, ttl=2)
    expires_at = expiry_of(token)
    async with ws_session(server.ws_url, token, protocol) as client:
        await asyncio.sleep(max(0.0, expires_at - time.time() - 0.2))

        # when the loop is held past the expiry (the timer cannot fire) and then a subscribe comes in
        time.sleep(0.4)  # noqa: ASYNC251 - blocks the server's loop too (in-process server): the race on purpose
        await client.subscribe("late", CREDITS_CHANGED)
        await purchase(server, world, "late")

        # then the session ends with 4401, the subscription never ran and nothing was sent for it
        assert await client.close_code(timeout=5) == EXPIRED_CODE
        assert server.state.hub.subscriber_count() == 0
