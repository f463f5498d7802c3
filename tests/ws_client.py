"""A small GraphQL-over-websocket client for tests: graphql-transport-ws and legacy graphql-ws.

Built on the ``websockets`` library; answers server pings, skips keep-alives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class WSClient:
    """One websocket connection speaking ``protocol``."""

    def __init__(self, ws: Any, protocol: str):
        self.ws = ws
        self.protocol = protocol

    @property
    def legacy(self) -> bool:
        return self.protocol == LEGACY_WS

    async def send(self, message: dict | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def init(self, token: str | None, *, expect_ack: bool = True) -> dict | None:
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await self.send({"type": "connection_init", "payload": payload})
        if expect_ack:
            message = await self.receive()
            assert message["type"] == "connection_ack", message
            return message
        return None

    async def subscribe(self, id: str, query: str, variables: dict | None = None) -> None:
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": id, "type": "start" if self.legacy else "subscribe", "payload": payload})

    async def complete(self, id: str) -> None:
        await self.send({"id": id, "type": "stop" if self.legacy else "complete"})

    async def receive(self, timeout: float = 10.0) -> dict:
        """The next protocol message other than ping/pong/ka (pings are answered)."""
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await self.ws.recv())
                if message["type"] == "ping":
                    await self.send({"type": "pong"})
                    continue
                if message["type"] in ("pong", "ka"):
                    continue
                return message

    async def next(self, id: str, timeout: float = 10.0) -> dict:
        """The next result payload for operation ``id`` (``next`` / ``data``); fails on anything else."""
        message = await self.receive(timeout)
        assert message.get("id") == id and message["type"] in ("next", "data"), message
        return message["payload"]

    async def data(self, id: str, timeout: float = 10.0) -> dict:
        payload = await self.next(id, timeout)
        assert "errors" not in payload, payload
        return payload["data"]

    async def data_of(self, ids: Collection[str], timeout: float = 10.0) -> dict[str, dict]:
        """One result's data for each operation of ``ids``, in the order they arrive (two subscriptions of one
        connection answer independently); fails on an error or a message of any other operation."""
        found: dict[str, dict] = {}
        while len(found) < len(set(ids)):
            message = await self.receive(timeout)
            assert message.get("id") in ids and message.get("id") not in found, message
            assert message["type"] in ("next", "data") and "errors" not in message["payload"], message
            found[message["id"]] = message["payload"]["data"]
        return found

    async def nothing_for(self, seconds: float) -> None:
        """Assert no result message arrives within ``seconds``."""
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message}")

    async def close_code(self, timeout: float = 10.0) -> int | None:
        """Read until the server closes; return its close code (fails if a data message arrives)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    message = json.loads(await self.ws.recv())
                    assert message["type"] in ("ping", "pong", "ka"), message
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


@asynccontextmanager
async def ws_connect(url: str, protocol: str = TRANSPORT_WS, **kwargs: Any) -> AsyncIterator[WSClient]:
    async with websockets.connect(url, subprotocols=[protocol], open_timeout=10, **kwargs) as ws:
        yield WSClient(ws, protocol)


@asynccontextmanager
async def ws_session(url: str, token: str, protocol: str = TRANSPORT_WS, **kwargs: Any) -> AsyncIterator[WSClient]:
    """A connection already acknowledged for ``token``."""
    async with ws_connect(url, protocol, **kwargs) as client:
        await client.init(token)
        yield client
