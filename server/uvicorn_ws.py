"""uvicorn's ``websockets-sansio`` protocol with less state kept per open connection.

An idle graphql-transport-ws subscriber is mostly per-connection state, and
uvicorn's protocol kept ≈ 8 KiB of it that an open connection never uses
(docs/ARCHITECTURE.md, "Fan-out"): an ``asyncio.Queue`` for received messages (four
deques and two events' worth, ≈ 3.2 KiB, for a queue that holds at most a
message or two because reading pauses after each), an ``asyncio.Event`` for
write flow control (a deque, ≈ 0.8 KiB) and the parsed handshake request and
response with their headers (≈ 4 KiB), which nothing reads once the
connection is accepted (the ASGI scope has its own copy of the request
headers). :class:`WebSocketProtocol` replaces the first two with equivalents
that allocate only while someone waits, and lets go of the handshake once the
connection is accepted. Everything else is uvicorn's.

It also offers the application an ASGI scope extension, :data:`SEND_TEXT_NOW`:
a plain function that writes a text frame at once when the connection is open
and its transport is not paused, and returns False (writing nothing) otherwise.
A shared subscription stream (:mod:`server.multiplex`) writes one event to
thousands of connections in one loop with it, instead of waking a task per
connection to await ``websocket.send``.

Pass it as uvicorn's ``ws`` (``uvicorn.run(..., ws=WebSocketProtocol)``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

SEND_TEXT_NOW = "certify.websocket.send_text_now"
"""ASGI scope extension: ``scope["extensions"][SEND_TEXT_NOW](text) -> bool`` (see :meth:`WebSocketProtocol.send_text_now`)."""


class ReceiveQueue:
    """The part of ``asyncio.Queue`` uvicorn uses (``put_nowait``, ``get``, ``empty``), unbounded, FIFO.

    Waiting getters are woken in order, one per message, and a getter
    cancelled after being woken passes its turn on, as in ``asyncio.Queue``.
    """

    __slots__ = ("_items", "_getters")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._getters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake_next()

    async def get(self) -> Any:
        """The oldest message, waiting for one if there is none."""
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if getter in self._getters:
                    self._getters.remove(getter)
                if self._items and not getter.cancelled():
                    self._wake_next()  # woken, then cancelled: the next getter takes the message
                raise
        return self._items.pop(0)

    def _wake_next(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                return


class WritableFlag:
    """The part of ``asyncio.Event`` uvicorn uses for write flow control (``set``, ``clear``, ``wait``); starts set."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        """Return at once while set; otherwise once :meth:`set` is called."""
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, without per-connection state an accepted connection never reads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = ReceiveQueue()  # type: ignore[assignment]
        self.writable = WritableFlag()  # type: ignore[assignment]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][SEND_TEXT_NOW] = self.send_text_now

    def send_text_now(self, text: str) -> bool:
        """Write ``text`` as one text frame now; False, writing nothing, unless the connection is open and writable.

        The same frame ``websocket.send`` would write, without waiting: the
        caller keeps its own order (a False means "queue it behind your
        pending sends"). False once the app or the client has begun closing,
        or while the transport is paused (the client reads slowly).
        """
        if not self.handshake_complete or self.close_sent or not self.writable.is_set():
            return False
        transport = self.transport
        if transport.is_closing():
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:  # the client's close frame has arrived
            return False
        transport.write(b"".join(self.conn.data_to_send()))
        return True

    async def send(self, message: Any) -> None:
        accepting = not self.handshake_complete
        await super().send(message)
        if accepting and self.handshake_complete:
            self._forget_handshake()

    def _forget_handshake(self) -> None:
        # The websockets parser keeps the request object for the connection's lifetime (a local
        # of its generator), so emptying its headers is what frees them.
        request = getattr(self, "request", None)
        if request is not None:
            request.headers.clear()
        self.request = None
        self.response = None
