"""Send deadlines, keep-alives and the per-connection send backlog of both websocket protocols.

A connection with a send pending that completes no send for
``view.send_timeout`` seconds means the client stopped reading: every
operation of the connection is cancelled (releasing its channels) and the
socket is closed with 1008, instead of buffering. One
:class:`ConnectionKeeper` task per process checks every connection's
deadline and sends the keep-alives, instead of a ping task per connection
and a timeout context per send (docs/ARCHITECTURE.md, "Fan-out").

A shared stream (:mod:`server.multiplex`) writes each event straight to
every member's connection (:meth:`SendDeadlines.send_text_now`, through
:data:`server.uvicorn_ws.SEND_TEXT_NOW`). A connection that cannot take a
frame at once (its client reads slowly, or another send is pending) queues
it behind the pending sends, so its messages keep their order; at most
``view.send_backlog`` frames wait per connection, and a client beyond that is
dropped (1008) like one that misses its send deadline.

A session lives no longer than its token: :meth:`SendDeadlines._expire_session_at`
arms one timer (``loop.call_at``) at the token's ``exp``; when it fires, the
connection's operations are cancelled, frames still to be written are
dropped, and the socket is closed with 4401 (docs/RULES.md, "Realtime").
The timer is cancelled when the connection ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from contextlib import suppress
from typing import Any

from starlette.websockets import WebSocketDisconnect

from server.strawberry_internals import WebSocketDisconnected
from server.uvicorn_ws import SEND_TEXT_NOW

log = logging.getLogger(__name__)

SLOW_CLIENT_CODE = 1008
SLOW_CLIENT_REASON = "client stopped reading"
EXPIRED_CODE = 4401
"""Close code of a session whose token expired: graphql-transport-ws's Unauthorized; the client reconnects with a fresh token."""
EXPIRED_REASON = "token expired"


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
        self.connections: set[SendDeadlines] = set()
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

    def add(self, connection: SendDeadlines) -> None:
        self.connections.add(connection)
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._run(), name="certify-ws-keeper")

    def discard(self, connection: SendDeadlines) -> None:
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


class SendDeadlines:
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
    _close_with: tuple[int, str] = (SLOW_CLIENT_CODE, SLOW_CLIENT_REASON)
    _expires_at: float | None = None
    _expired = False
    _expiry: asyncio.TimerHandle | None = None

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

        Raises nothing: a connection that is gone, dropped or expired just loses
        the frame (its operations are being cancelled).
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
        if self._expired:
            # Nothing reaches a session past its token's exp, not even a protocol's closing `complete`.
            raise WebSocketDisconnected
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

    def _expire_session_at(self, expires_at: float) -> None:
        """End the session at ``expires_at`` (seconds since the epoch, the token's ``exp``) with :data:`EXPIRED_CODE`."""
        if self._expiry is not None:
            self._expiry.cancel()
        self._expires_at = expires_at
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_at(loop.time() + max(0.0, expires_at - time.time()), self._expire)

    def _session_expired(self) -> bool:
        """True once the token's ``exp`` has passed (a subscribe racing the timer checks this)."""
        return self._expires_at is not None and time.time() >= self._expires_at

    def _expire(self) -> None:
        if not self._dropped:
            self._dropped = self._expired = True  # from now on no frame is written
            self._close_with = (EXPIRED_CODE, EXPIRED_REASON)
            log.info("websocket session's token expired; closing it with %d", EXPIRED_CODE)
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
                code, reason = self._close_with
                with suppress(Exception):
                    await asyncio.wait_for(self.websocket.close(code=code, reason=reason), 1)
        finally:
            if self._expiry is not None:
                self._expiry.cancel()
            self._keeper.discard(self)
            if self._keep_alive_task is not None:
                self._keep_alive_task.cancel()
            if self._drainer is not None:
                self._drainer.cancel()
