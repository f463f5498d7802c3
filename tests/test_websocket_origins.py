"""Websocket handshakes from another site's page are refused before the upgrade; same-site and native clients are not."""

from __future__ import annotations

import json

import pytest
import websockets
from builders import build_world
from harness import live_server, make_settings
from ws_client import TRANSPORT_WS, ws_session

from models.enums import Role
from server.strawberry_internals import websocket_origin_of

CREDITS = "subscription { creditBalanceChanged { creditBalance } }"


async def handshake_status(url: str, origin: str | None) -> int:
    """101 when the upgrade is accepted, else the HTTP status the server answered."""
    try:
        async with websockets.connect(url, subprotocols=[TRANSPORT_WS], origin=origin):
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


async def test_foreign_origins_are_refused_and_own_or_absent_ones_accepted(sqlite_server):
    server = sqlite_server
    port = server.ws_url.split(":")[2].split("/")[0]

    # when handshakes come with no Origin, the server's own (by Host and by public URL), and foreign ones
    statuses = {
        origin: await handshake_status(server.ws_url, origin)
        for origin in (
            None,
            f"http://127.0.0.1:{port}",
            server.settings.public_url,
            "https://evil.example",
            f"http://127.0.0.1:{int(port) + 1}",
            "null",
        )
    }

    # then only the foreign ones are refused, with 403
    assert statuses == {
        None: 101,
        f"http://127.0.0.1:{port}": 101,
        server.settings.public_url: 101,
        "https://evil.example": 403,
        f"http://127.0.0.1:{int(port) + 1}": 403,
        "null": 403,
    }


async def test_listed_origins_are_accepted_and_their_subscriptions_work(tmp_path, sqlite_url):
    settings = make_settings(
        tmp_path, sqlite_url, websocket_origins="https://dashboard.example, https://app.example:8443"
    )
    async with live_server(settings) as server:
        world = await build_world(server.platform(), sittings=0, credits=0)
        token = server.token(Role.ORG_ADMIN, org=world.organisation_pk)
        listed = await handshake_status(server.ws_url, "https://dashboard.example")
        other_port = await handshake_status(server.ws_url, "https://app.example")
        async with ws_session(server.ws_url, token, origin="https://app.example:8443") as client:
            await client.subscribe("1", CREDITS)
            await client.nothing_for(0.2)

    assert (listed, other_port) == (101, 403)


async def test_a_refused_handshake_says_why_in_the_graphql_error_shape(sqlite_server):
    try:
        async with websockets.connect(sqlite_server.ws_url, subprotocols=[TRANSPORT_WS], origin="https://evil.example"):
            raise AssertionError("the handshake was accepted")
    except websockets.InvalidStatus as refused:
        response = refused.response

    assert (response.status_code, response.headers["content-type"]) == (403, "application/json")
    assert json.loads(response.body) == {
        "errors": [
            {
                "message": "pages of this origin may not open a websocket here "
                "(CERTIFY_WEBSOCKET_ORIGINS lists those that may)",
                "extensions": {"code": "FORBIDDEN"},
            }
        ]
    }


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("HTTPS://Dashboard.Example:443/", "https://dashboard.example"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://localhost:80", "http://localhost"),
        ("http://[::1]:9000/x", "http://[::1]:9000"),
    ],
)
def test_configured_origins_compare_as_browsers_send_them(url, origin):
    assert websocket_origin_of(url) == origin
