"""Strawberry's websocket protocol handlers with the limits this service needs.

Both protocols:
- a rejected ``connection_init`` (missing or bad token) closes with 4403 and
  sends nothing first (strawberry's legacy ``graphql-ws`` handler would send
  ``connection_error`` and close with 1011);
- a malformed subscribe (graphql-transport-ws: close 4400) or start (legacy:
  an ``error`` message) never leaves an operation hanging;
- send deadlines, keep-alives and the per-connection backlog
  (:mod:`server.ws_deadlines`);
- a session ends with 4401 when its token's ``exp`` passes, and a subscribe
  (start) that races that moment is refused the same way
  (:meth:`server.ws_deadlines.SendDeadlines._expire_session_at`).

Keep-alives: graphql-transport-ws gets server ``ping`` messages every
``view.ping_interval`` seconds after the ack; legacy graphql-ws its ``ka``
messages (at once after the ack, then at the same interval).

Identical graphql-transport-ws subscriptions share one stream
(:mod:`server.multiplex`); every other operation runs as strawberry runs it.
strawberry's private API is reached only through :mod:`server.strawberry_internals`.
"""

from __future__ import annotations

import json
import logging
from contextlib import suppress
from typing import Any

import jwt
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.exceptions import ConnectionRejectionError

from server.cost import CostError
from server.documents import spend, throttled_error
from server.metrics import open_websocket, operation_name_of, running_subscription
from server.multiplex import Member, SharedStreams
from server.strawberry_internals import (
    ASGIWebSocketAdapter,
    BaseGraphQLWSHandler,
    NonJsonMessageReceived,
    NonTextMessageReceived,
    OperationStreamClosed,
    TransportWSBase,
    UnsetType,
)
from server.ws_deadlines import SendDeadlines

log = logging.getLogger(__name__)


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


def subscribe_payload_error(message: dict[str, Any]) -> str | None:
    """Why a ``subscribe`` (graphql-transport-ws) or ``start`` (graphql-ws) message is malformed, or None.

    The id must be a non-empty string and the payload an object with a string
    ``query``, and ``variables`` / ``operationName`` an object / a string when
    present (graphql-transport-ws, "Subscribe"; GraphQL over HTTP, "Request
    Parameters"). Strawberry itself would fail on other shapes in ways that
    leave the operation hanging.
    """
    id = message.get("id")
    if not isinstance(id, str) or not id:
        return "subscribe needs a non-empty string id"
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return "subscribe payload must be an object"
    if not isinstance(payload.get("query"), str):
        return "subscribe payload.query must be a string"
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return "subscribe payload.variables must be an object"
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        return "subscribe payload.operationName must be a string"
    return None


def token_expiry(connection_params: Any) -> float | None:
    """The ``exp`` (seconds since the epoch) of the bearer token in ``connection_init``'s params, or None.

    Read only after :meth:`server.view.CertifyGraphQL.on_ws_connect` has
    verified the token, so the signature is not checked again here.
    """
    if not isinstance(connection_params, dict):
        return None
    value = connection_params.get("Authorization", connection_params.get("authorization"))
    if not isinstance(value, str):
        return None
    try:
        exp = jwt.decode(value.removeprefix("Bearer ").strip(), options={"verify_signature": False}).get("exp")
    except jwt.InvalidTokenError:
        return None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def arm_session_expiry(handler: SendDeadlines, connection_params: Any) -> None:
    """Make an acknowledged session end when its token expires."""
    expires_at = token_expiry(connection_params)
    if expires_at is not None:
        handler._expire_session_at(expires_at)


class TransportWSHandler(SendDeadlines, TransportWSBase):
    """graphql-transport-ws with send deadlines, server pings and shared streams for identical subscriptions (:mod:`server.multiplex`)."""

    KEEP_ALIVE = '{"type":"ping"}'

    async def handle(self) -> None:
        with open_websocket():
            await self._handle_with_deadlines(super().handle)

    async def handle_connection_init(self, message) -> None:
        await super().handle_connection_init(message)
        if not self.connection_timed_out:
            # strawberry has cancelled the init timeout; holding on to the task would keep its
            # cancellation (a traceback and the task's frames) for as long as the connection lasts.
            self.forget_init_timeout()
        if self.connection_acknowledged and self._next_keep_alive is None:
            self._start_keep_alive(getattr(self.view, "ping_interval", 15.0))
            arm_session_expiry(self, self.context.connection_params)

    async def handle_subscribe(self, message) -> None:
        """A malformed subscribe closes the socket with 4400, as the protocol requires for any malformed message.

        A subscribe after the token's ``exp`` ends the session (4401) instead of running.
        """
        if self._session_expired():
            self._expire()
            return
        if self.connection_acknowledged and (error := subscribe_payload_error(message)) is not None:
            await self.websocket.close(code=4400, reason=error)
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation) -> None:
        """Run the operation counted and logged under its name (:func:`server.metrics.running_subscription`)."""
        with running_subscription(operation_name_of(operation.query, operation.operation_name)):
            await self._run_shared_or_own(operation)

    async def _run_shared_or_own(self, operation) -> None:
        """The shared stream of identical subscriptions when this one can share (:mod:`server.multiplex`); else strawberry's."""
        principal = getattr(self.context, "principal", None)
        streams: SharedStreams | None = getattr(self.view.state, "shared_streams", None)
        key = streams.key_for(operation, principal) if streams is not None else None
        if key is None:
            await super().run_operation(operation)
            return
        try:
            cost = streams.cost_of(operation)
        except CostError:
            cost = 0  # a page size no connection takes: the stream refuses it with its code, as strawberry would
        throttled = await spend(self.view.state, self.context, cost) if cost else None
        if throttled is not None:
            await operation.send_operation_message(
                {"id": operation.id, "type": "error", "payload": [throttled_error(throttled).formatted]}
            )
            self.operations.pop(operation.id, None)
            return
        try:
            await streams.follow(key, self, operation, principal)
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except OperationStreamClosed:
            return
        except Exception as error:  # as strawberry's run_operation: log, complete, forget
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise

    def send_next_now(self, member: Member, encoded: str) -> None:
        """Write a shared stream's ``next`` (``encoded``: its result's ``data`` as JSON) for ``member``'s operation.

        Nothing once the client has completed the operation, even before its
        task has left the stream: the client may already reuse the id.
        """
        if self.is_current(member.operation):
            self.send_text_now(f"{member.prefix}{encoded}}}}}")


class LegacyWSHandler(SendDeadlines, BaseGraphQLWSHandler):
    """Legacy graphql-ws with send deadlines, keep-alives from the keeper and 4403 on a rejected connection_init."""

    KEEP_ALIVE = '{"type":"ka"}'

    async def handle(self) -> None:
        with open_websocket():
            await self._handle_with_deadlines(super().handle)

    async def handle_async_results(self, operation_id, query, operation_name, variables) -> None:
        """Run the operation counted and logged under its name (:func:`server.metrics.running_subscription`)."""
        with running_subscription(operation_name_of(query, operation_name)):
            await super().handle_async_results(operation_id, query, operation_name, variables)

    async def handle_start(self, message) -> None:
        """A malformed start gets an ``error`` message (with its id when it has a usable one), not a hang.

        A start after the token's ``exp`` ends the session (4401) instead of running.
        """
        if self._session_expired():
            self._expire()
            return
        if self.connection_acknowledged and (error := subscribe_payload_error(message)) is not None:
            id = message.get("id")
            reply = {"type": "error", "payload": {"message": error}}
            if isinstance(id, str):
                reply["id"] = id
            await self.send_message(reply)
            return
        await super().handle_start(message)

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
        arm_session_expiry(self, payload)
        if self.keep_alive and self._next_keep_alive is None:
            self._start_keep_alive(0)
