"""An ASGI guard on request bodies: their size, counted as they stream in, and how long they take."""

from __future__ import annotations

import asyncio
import contextlib
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.wording import data_size, number
from server.errors import error_response

# A body that stalls this long between two chunks is abandoned (seconds).
BODY_IDLE_SECONDS = 30.0
# However it trickles in, a body must be complete this long after the request
# started (seconds): a 10 MB photo at 1 Mbit/s takes 80 s.
BODY_TOTAL_SECONDS = 180.0


class BodyTooLarge(Exception):
    """Raised from ``receive`` once more than the allowed bytes have arrived."""


class BodyTooSlow(Exception):
    """Raised from ``receive`` when the body stalls or is not complete in time."""


class BodySizeLimit:
    """Answer 413 to a body over ``max_bytes``, 408 to one that is too slow, in any HTTP request.

    ``max_bytes`` holds for ``multipart/form-data`` bodies (uploads);
    ``other_max_bytes`` (default: the same) for any other content type, so a
    50 MB JSON body is refused after its first megabyte, not its 25th.

    A declared ``Content-Length`` over the limit is refused before reading;
    otherwise bytes are counted as they arrive, so a chunked upload cannot get
    past the limit either. While the body is incomplete, each wait for the
    next chunk may last ``idle_seconds`` and the whole body ``total_seconds``
    (so a client sending one byte a second cannot hold a connection and its
    parser for ever). A client that disconnects mid-body ends the request
    quietly: there is no one to answer.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        idle_seconds: float = BODY_IDLE_SECONDS,
        total_seconds: float = BODY_TOTAL_SECONDS,
        other_max_bytes: int | None = None,
    ):
        self.app = app
        self.max_bytes = max_bytes
        self.other_max_bytes = other_max_bytes if other_max_bytes is not None else max_bytes
        self.idle_seconds = idle_seconds
        self.total_seconds = total_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._answer(scope, receive, send, 413, too_large(int(value), limit))
                return
        deadline = time.monotonic() + self.total_seconds
        received = 0
        body_complete = False
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, body_complete
            if body_complete:
                return await receive()  # e.g. waiting for a disconnect while streaming a response
            wait = min(self.idle_seconds, deadline - time.monotonic())
            message = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wait, 0.0)):  # no extra task per receive, unlike wait_for
                    message = await receive()
            if message is None:
                # Raised outside the handler: no TimeoutError in its context, which reads as a database outage upstream.
                raise BodyTooSlow
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_complete = not message.get("more_body", False)
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._answer(scope, receive, send, 413, too_large(limit + 1, limit))
        except BodyTooSlow:
            if not started:
                # Closing: the rest of a stalled body must not keep the connection.
                await self._answer(
                    scope, receive, send, 408, f"the request body did not arrive within {self._deadlines()}", close=True
                )
        except ClientDisconnect:
            pass

    def _deadlines(self) -> str:
        return f"{number(self.idle_seconds)} s of silence or {number(self.total_seconds)} s in all"

    def _limit_for(self, scope: Scope) -> int:
        for name, value in scope.get("headers", []):
            if name == b"content-type":
                return self.max_bytes if value.lower().startswith(b"multipart/form-data") else self.other_max_bytes
        return self.other_max_bytes

    @staticmethod
    async def _answer(
        scope: Scope, receive: Receive, send: Send, status: int, text: str, *, close: bool = False
    ) -> None:
        response = error_response(status, text, headers={"Connection": "close"} if close else None)
        await response(scope, receive, send)


def too_large(size: int, limit: int) -> str:
    """The 413's message: the body's size (``limit + 1``: more than the limit, when counted as it streamed) and the limit."""
    return f"the request body is {data_size(size)}; at most {data_size(limit)} is allowed"
