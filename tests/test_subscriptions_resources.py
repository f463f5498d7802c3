"""Subscriptions release their channels at once, however they end; slow clients are cut off."""

from __future__ import annotations

import asyncio
import json

import pytest
from builders import RECORD_SITTINGS, build_world, sitting_row
from harness import live_server, make_settings
from support import admin_of, shrink_server_send_buffer, slow_socket
from websockets.exceptions import ConnectionClosed
from ws_client import ws_connect, ws_session

STATUS_CHANGED = "subscription { sittingStatusChanged { status sitting { id } } }"
LIVE_SITTINGS = "subscription($first: Int) { liveSittings(first: $first) { totalCount edges { node { id } } } }"
BIG_STATUS_EVENT = """
subscription { sittingStatusChanged { previousStatus status at sitting { id takenAt score photoCheck status selectedAt } } }
"""
SELECT_ALL = "mutation { selectSittings(input: {all: true}) { changedCount } }"
UNSELECT_ALL = "mutation { unselectSittings(input: {all: true}) { changedCount } }"
SLOW_SUBSCRIPTIONS = 40
CYCLES = 200


async def hub_idle(server, timeout: float = 5.0) -> None:
    """Wait until no local subscriber and no backend channel subscription is left."""
    hub = server.state.hub
    async with asyncio.timeout(timeout):
        while hub.subscriber_count() or hub.backend_channel_count():
            await asyncio.sleep(0.005)


async def subscribed(server, count: int, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while server.state.hub.subscriber_count() != count:
            await asyncio.sleep(0.005)


async def open_subscription(server, client, n: int) -> None:
    """Subscribe ``n`` on ``client``: a live query (first page read) or an event stream, alternately."""
    if n % 2:
        await client.subscribe(str(n), LIVE_SITTINGS, {"first": 1})
        assert (await client.data(str(n)))["liveSittings"]["totalCount"] == 1
    else:
        await client.subscribe(str(n), STATUS_CHANGED)
    await subscribed(server, 1)


@pytest.mark.parametrize("ending", ["complete", "client close", "dropped connection"])
async def test_200_subscriptions_release_their_channel_however_they_end(sqlite_server, ending):
    server = sqlite_server
    world = await build_world(server.platform(), sittings=1, credits=0)
    token = admin_of(server, world).token
    if ending == "complete":
        async with ws_session(server.ws_url, token) as client:
            for n in range(CYCLES):
                await open_subscription(server, client, n)
                await client.complete(str(n))
                await hub_idle(server)
        return
    for n in range(CYCLES):
        async with ws_session(server.ws_url, token) as client:
            await open_subscription(server, client, n)
            if ending == "dropped connection":
                client.ws.transport.abort()  # no close frame, like a lost network
        await hub_idle(server)
    assert server.state.hub.subscriber_count() == 0


async def test_a_client_that_stops_reading_is_disconnected_not_buffered(tmp_path, sqlite_url):
    # given a server with a 1 s send deadline, 500 sittings and a client that stopped reading its socket
    async with live_server(make_settings(tmp_path, sqlite_url, websocket_send_timeout_seconds=1.0)) as server:
        platform = server.platform()
        world = await build_world(platform, sittings=0, credits=0)
        rows = [sitting_row(world.organisation_id, world.test_id, n) for n in range(500)]
        assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["recordedCount"] == 500
        admin = admin_of(server, world)
        sock = slow_socket(server.port)
        async with ws_connect(server.ws_url, sock=sock, compression=None) as client:
            await client.init(admin.token)
            for n in range(SLOW_SUBSCRIPTIONS):
                await client.subscribe(str(n), BIG_STATUS_EVENT)
            await subscribed(server, SLOW_SUBSCRIPTIONS)
            shrink_server_send_buffer(server, sock.getsockname()[1])
            client.ws.transport.pause_reading()

            # when 500 sittings are selected (20,000 events for this connection)
            assert (await admin.data(SELECT_ALL))["selectSittings"]["changedCount"] == 500

            # then the server drops every subscription of that connection within seconds
            await hub_idle(server, timeout=10)

            # and the connection ends once the client reads again: a backlog of a few hundred (the
            # transport's 64 KB high-water mark and the kernel buffers), not the 20,000 events, then the close
            client.ws.transport.resume_reading()
            received = 0
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        message = json.loads(await client.ws.recv())
                        received += message["type"] == "next"
            assert received < 1_000
            assert closed.value.rcvd is None or closed.value.rcvd.code == 1008
        # and other clients are served as before
        async with ws_session(server.ws_url, admin.token) as healthy:
            await healthy.subscribe("1", STATUS_CHANGED)
            await subscribed(server, 1)
            await admin.data(UNSELECT_ALL)
            assert (await healthy.data("1"))["sittingStatusChanged"]["status"] == "UNSELECTED"
