"""Strawberry's websocket protocol handlers with the limits this service needs.

Both protocols:
- a rejected ``connection_init`` (missing or bad token) closes with 4403 and
  sends nothing first (strawberry's legacy ``graphql-ws`` handler would send
  ``connection_error`` and close with 1011);
- a send that cannot complete within ``view.send_timeout`` seconds means the client
  stopped reading: every operation of the connection is cancelled (releasing
  its channels) and the socket is closed with 1008, instead of buffering.

graphql-transport-ws also gets server ``ping`` messages every
``view.ping_interval`` seconds after the ack (the legacy protocol has its
``ka`` messages from strawberry).
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress
from typing import Any

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.unset import UnsetType

log = logging.getLogger(__name__)

SLOW_CLIENT_CODE = 1008
SLOW_CLIENT_REASON = "client stopped reading"


class WebSocketAdapter(ASGIWebSocketAdapter):
    """Reads protocol messages as JSON objects, independently of how the view decodes HTTP bodies.

    Anything that is not a JSON object counts as "not JSON" (graphql-transport-ws
    closes with 4400; legacy graphql-ws ignores it).
    """

    async def iter_json(self, *, ignore_parsing_errors: bool = False):
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                try:
                    message = json.loads(text)
                except ValueError:
                    message = None
                if isinstance(message, dict):
                    yield message
                elif not ignore_parsing_errors:
                    raise NonJsonMessageReceived
        except KeyError as exc:
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            pass


class _Deadlines:
    """Mixin: a deadline on every send; a client that misses it is dropped."""

    view: Any
    websocket: Any
    _main: asyncio.Task | None = None
    _dropped = False

    @property
    def send_timeout(self) -> float:
        return getattr(self.view, "send_timeout", 10.0)

    async def send_message(self, message: Any) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                await self.websocket.send_json(message)
        except TimeoutError:
            self._drop()
            await asyncio.Future()  # wait to be cancelled by the connection's shutdown

    def _drop(self) -> None:
        if not self._dropped:
            self._dropped = True
            log.warning("websocket client stopped reading for %.1fs; disconnecting it", self.send_timeout)
            if self._main is not None:
                self._main.cancel()

    async def _handle_with_deadlines(self, handle) -> None:
        self._main = asyncio.current_task()
        try:
            await handle()
        except asyncio.CancelledError:
            if not self._dropped:
                raise
            self._main.uncancel()
        if self._dropped:
            with suppress(Exception):
                await asyncio.wait_for(self.websocket.close(code=SLOW_CLIENT_CODE, reason=SLOW_CLIENT_REASON), 1)


class TransportWSHandler(_Deadlines, BaseGraphQLTransportWSHandler):
    """graphql-transport-ws with send deadlines and server pings."""

    _pinger: asyncio.Task | None = None

    async def handle(self) -> None:
        try:
            await self._handle_with_deadlines(super().handle)
        finally:
            if self._pinger is not None:
                self._pinger.cancel()

    async def handle_connection_init(self, message) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._pinger is None:
            self._pinger = asyncio.create_task(self._ping_forever())

    async def _ping_forever(self) -> None:
        with suppress(Exception):
            while True:
                await asyncio.sleep(getattr(self.view, "ping_interval", 15.0))
                await self.send_message({"type": "ping"})


class LegacyWSHandler(_Deadlines, BaseGraphQLWSHandler):
    """Legacy graphql-ws with send deadlines and 4403 on a rejected connection_init."""

    async def handle(self) -> None:
        await self._handle_with_deadlines(super().handle)

    async def handle_connection_init(self, message) -> None:
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await super().handle_connection_init(message)
            return
        self.context.connection_params = payload
        try:
            ack_payload = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError:
            await self.websocket.close(code=4403, reason="Forbidden")
            return
        if isinstance(ack_payload, UnsetType) or ack_payload is None:
            await self.send_message({"type": "connection_ack"})
        else:
            await self.send_message({"type": "connection_ack", "payload": ack_payload})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())
