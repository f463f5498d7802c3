"""Strawberry's websocket protocol handlers with the limits this service needs.

Both protocols:
- a rejected ``connection_init`` (missing or bad token) closes with 4403 and
  sends nothing first (strawberry's legacy ``graphql-ws`` handler would send
  ``connection_error`` and close with 1011);
- a connection with a send pending that completes no send for
  ``view.send_timeout`` seconds means the client stopped reading: every
  operation of the connection is cancelled (releasing its channels) and the
  socket is closed with 1008, instead of buffering.

Keep-alives: graphql-transport-ws gets server ``ping`` messages every
``view.ping_interval`` seconds after the ack; legacy graphql-ws its ``ka``
messages (at once after the ack, then at the same interval).

Cost per connection (bench/RESULTS-realtime.md): one :class:`ConnectionKeeper`
task per process checks every connection's send deadline and sends the
keep-alives, instead of a ping task per connection and a timeout context per
send; and a shared subscription result (:mod:`gql.realtime`) has its ``next``
payload encoded once, not once per subscriber.

Identical graphql-transport-ws subscriptions share one stream
(:mod:`server.multiplex`), which writes each event straight to every member's
connection (:meth:`_Deadlines.send_text_now`). A connection that cannot take a
frame at once (its client reads slowly, or another send is pending) queues it
behind the pending sends, so its messages keep their order; at most
``view.send_backlog`` frames wait per connection, and a client beyond that is
dropped (1008) like one that misses its send deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from contextlib import suppress
from typing import Any

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.unset import UnsetType

from server.multiplex import Member, SharedStreams, sharing_key
from gql.realtime import SharedData, encoded_data
from server.uvicorn_ws import SEND_TEXT_NOW

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


def _cannot_write(text: str) -> bool:
    """The stand-in for :data:`server.uvicorn_ws.SEND_TEXT_NOW` under a server that does not offer it: always queue."""
    return False


class ConnectionKeeper:
    """One task per view and event loop: send deadlines and keep-alives of every open connection.

    Each tick (a quarter of the shorter of the send timeout and the ping
    interval, between 50 ms and 1 s) it drops the connections that have had a
    send pending without completing any for ``send_timeout`` seconds, and sends
    a keep-alive to each acknowledged connection whose turn has come (each on
    its own schedule, from its acknowledgement, so they do not all fall on one
    tick). The task ends when the last connection closes.
    """

    def __init__(self, view: Any):
        self.view = view
        self.loop = asyncio.get_running_loop()
        self.connections: set[_Deadlines] = set()
        self.task: asyncio.Task | None = None

    @staticmethod
    def of(view: Any) -> ConnectionKeeper:
        keeper = getattr(view, "_ws_keeper", None)
        if keeper is None or keeper.loop is not asyncio.get_running_loop():
            keeper = view._ws_keeper = ConnectionKeeper(view)
        return keeper

    @property
    def send_timeout(self) -> float:
        return getattr(self.view, "send_timeout", 10.0)

    @property
    def ping_interval(self) -> float:
        return getattr(self.view, "ping_interval", 15.0)

    def add(self, connection: _Deadlines) -> None:
        self.connections.add(connection)
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._run(), name="certify-ws-keeper")

    def discard(self, connection: _Deadlines) -> None:
        self.connections.discard(connection)
        if not self.connections and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        tick = min(1.0, max(0.05, min(self.send_timeout, self.ping_interval) / 4))
        while self.connections:
            await asyncio.sleep(tick)
            now = time.monotonic()
            deadline = now - self.send_timeout
            interval = self.ping_interval
            for connection in list(self.connections):
                try:
                    since = connection._sending_since
                    if since is not None and since < deadline:
                        connection._drop()
                    elif connection._next_keep_alive is not None and connection._next_keep_alive <= now:
                        connection._next_keep_alive = now + interval
                        connection._keep_alive()
                except Exception:  # one connection must not stop the others' deadlines
                    log.exception("websocket keeper failed on a connection")


class _Deadlines:
    """Mixin: send deadlines (checked by the :class:`ConnectionKeeper`) and keep-alives; a client that misses a deadline is dropped."""

    view: Any
    websocket: Any
    KEEP_ALIVE: str = ""
    _main: asyncio.Task | None = None
    _dropped = False
    _keeper: ConnectionKeeper | None = None
    _pending = 0
    _sending_since: float | None = None
    _next_keep_alive: float | None = None
    _keep_alive_task: asyncio.Task | None = None
    _backlog: deque | None = None
    _drainer: asyncio.Task | None = None
    _write_now: Any = None

    @property
    def send_timeout(self) -> float:
        return getattr(self.view, "send_timeout", 10.0)

    async def send_message(self, message: Any) -> None:
        await self.send_text(self.view.encode_json_string(message))

    async def send_text(self, text: str) -> None:
        """Send ``text`` after any queued frames; the keeper drops the connection if no send completes for ``send_timeout`` seconds."""
        if self._backlog is not None:
            sent = asyncio.get_running_loop().create_future()
            self._queue(text, sent)
            await sent
            return
        await self._send(text)

    def send_text_now(self, text: str) -> None:
        """Write ``text`` at once if nothing is pending on this connection; otherwise queue it behind what is.

        Raises nothing: a connection that is gone or dropped just loses the frame
        (its operations are being cancelled).
        """
        if self._dropped:
            return
        if self._backlog is None and not self._pending:
            write = self._write_now
            if write is None:
                extensions = self.websocket.ws.scope.get("extensions") or {}
                write = self._write_now = extensions.get(SEND_TEXT_NOW) or _cannot_write
            if write(text):
                return
        self._queue(text, None)

    def _queue(self, text: str, sent: asyncio.Future[None] | None) -> None:
        backlog = self._backlog
        if backlog is None:
            backlog = self._backlog = deque()
            self._drainer = asyncio.get_running_loop().create_task(self._drain(backlog))
        elif len(backlog) >= getattr(self.view, "send_backlog", 1000):
            self._drop()  # a waiting sender waits to be cancelled by the connection's shutdown, as in _send
            return
        backlog.append((text, sent))

    async def _drain(self, backlog: deque) -> None:
        """Send the queued frames in order, then let writes go straight out again."""
        cancelled = False
        try:
            while backlog:
                text, sent = backlog[0]
                await self._send(text)
                backlog.popleft()
                if sent is not None and not sent.done():
                    sent.set_result(None)
        except asyncio.CancelledError:  # the connection is shutting down
            cancelled = True
            raise
        except Exception:  # noqa: BLE001 - the connection is unusable (the client left): whoever waits hears it
            pass
        finally:
            if self._backlog is backlog:
                self._backlog = None
            for _, sent in backlog:
                if sent is not None and not sent.done():
                    if cancelled:
                        sent.cancel()
                    else:
                        sent.set_exception(WebSocketDisconnected())
            backlog.clear()

    async def _send(self, text: str) -> None:
        if self._pending == 0:
            self._sending_since = time.monotonic()
        self._pending += 1
        try:
            await self.websocket.ws.send_text(text)
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error
        finally:
            self._pending -= 1
            # A completed send is progress: the clock restarts for the sends still pending.
            self._sending_since = time.monotonic() if self._pending else None
        if self._dropped:
            await asyncio.Future()  # wait to be cancelled by the connection's shutdown

    def _keep_alive(self) -> None:
        if self._pending or (self._keep_alive_task is not None and not self._keep_alive_task.done()):
            return  # a send is already pending: the deadline covers this connection
        self._keep_alive_task = asyncio.ensure_future(self._send_keep_alive())

    async def _send_keep_alive(self) -> None:
        with suppress(Exception):
            await self.send_text(self.KEEP_ALIVE)

    def _start_keep_alive(self, first_in: float) -> None:
        self._next_keep_alive = time.monotonic() + first_in

    def _drop(self) -> None:
        if not self._dropped:
            self._dropped = True
            log.warning("websocket client stopped reading for %.1fs; disconnecting it", self.send_timeout)
            if self._main is not None:
                self._main.cancel()

    async def _handle_with_deadlines(self, handle) -> None:
        self._main = asyncio.current_task()
        self._keeper = ConnectionKeeper.of(self.view)
        self._keeper.add(self)
        try:
            try:
                await handle()
            except asyncio.CancelledError:
                if not self._dropped:
                    raise
                self._main.uncancel()
            if self._dropped:
                with suppress(Exception):
                    await asyncio.wait_for(self.websocket.close(code=SLOW_CLIENT_CODE, reason=SLOW_CLIENT_REASON), 1)
        finally:
            self._keeper.discard(self)
            if self._keep_alive_task is not None:
                self._keep_alive_task.cancel()
            if self._drainer is not None:
                self._drainer.cancel()


class TransportWSHandler(_Deadlines, BaseGraphQLTransportWSHandler):
    """graphql-transport-ws with send deadlines, server pings, shared streams for identical subscriptions (:mod:`server.multiplex`) and shared results encoded once."""

    KEEP_ALIVE = '{"type":"ping"}'

    async def handle(self) -> None:
        await self._handle_with_deadlines(super().handle)

    async def handle_connection_init(self, message) -> None:
        await super().handle_connection_init(message)
        if not self.connection_timed_out:
            # strawberry has cancelled the init timeout; holding on to the task would keep its
            # cancellation (a traceback and the task's frames) for as long as the connection lasts.
            self.connection_init_timeout_task = None
        if self.connection_acknowledged and self._next_keep_alive is None:
            self._start_keep_alive(getattr(self.view, "ping_interval", 15.0))

    async def handle_subscribe(self, message) -> None:
        """A malformed subscribe closes the socket with 4400, as the protocol requires for any malformed message."""
        if self.connection_acknowledged and (error := subscribe_payload_error(message)) is not None:
            await self.websocket.close(code=4400, reason=error)
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation) -> None:
        """The shared stream of identical subscriptions when this one can share (:mod:`server.multiplex`); else strawberry's."""
        principal = getattr(self.context, "principal", None)
        streams: SharedStreams | None = getattr(self.view.state, "shared_streams", None)
        key = sharing_key(operation.query, operation.operation_name, operation.variables, principal)
        if key is None or streams is None:
            await super().run_operation(operation)
            return
        try:
            await streams.follow(key, self, operation, principal)
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except _OperationStreamClosed:
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
        operation = member.operation
        if not operation.completed and self.operations.get(operation.id) is operation:
            self.send_text_now(f"{member.prefix}{encoded}}}}}")

    async def _send_result_stream(self, operation, result_source) -> None:
        # As strawberry's, with _send_next instead of operation.send_next.
        is_first_result = True
        async for result in result_source:
            if not await self.deliver_result(operation, result, is_first_result):
                return
            is_first_result = False

    async def deliver_result(self, operation, result, first: bool) -> bool:
        """Send one result of ``operation``'s stream as strawberry would; False when the stream must stop there."""
        if first and isinstance(result, PreExecutionError):
            await self._handle_pre_execution_error(operation, result)
            return False
        if not isinstance(result, ExecutionResult):
            await self._reject_incremental_delivery(operation)
            return False
        await self._send_next(operation, result)
        return True

    async def _send_next(self, operation, result: ExecutionResult) -> None:
        data = result.data
        if type(data) is not SharedData or result.errors or result.extensions:
            await operation.send_next(result)
            return
        if operation.completed:
            return
        encoded = encoded_data(data, self.view.encode_json_string)
        await self.send_text(f'{{"id":{json.dumps(operation.id)},"type":"next","payload":{{"data":{encoded}}}}}')


class LegacyWSHandler(_Deadlines, BaseGraphQLWSHandler):
    """Legacy graphql-ws with send deadlines, keep-alives from the keeper and 4403 on a rejected connection_init."""

    KEEP_ALIVE = '{"type":"ka"}'

    async def handle(self) -> None:
        await self._handle_with_deadlines(super().handle)

    async def handle_start(self, message) -> None:
        """A malformed start gets an ``error`` message (with its id when it has a usable one), not a hang."""
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
        if self.keep_alive and self._next_keep_alive is None:
            self._start_keep_alive(0)
