"""A request id for every HTTP request and websocket connection, on each of its log lines and in its response.

An incoming ``X-Request-ID`` is kept when it is sane: 1–128 characters of
letters, digits and ``-_.:@+=/`` (what proxies and tracing systems send:
UUIDs, nginx's ``$request_id``, ``traceparent``-style ids); anything else,
or none, gets a fresh 32-hex-digit id. The id is answered in the response's
``X-Request-ID`` (for a websocket, in the handshake's response) and set on
:data:`server.logs.current_request` for the request's task and the tasks it
starts. Not :mod:`asgi_correlation_id`: it answers the id on HTTP only, and
the log lines here also carry the operation name.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.logs import RequestLog, current_request

HEADER = b"x-request-id"
MAX_LENGTH = 128
_SANE = re.compile(rf"[A-Za-z0-9\-_.:@+=/]{{1,{MAX_LENGTH}}}")


def request_id_from(value: bytes | None) -> str:
    """The id of a request whose ``X-Request-ID`` is ``value`` (raw header bytes): itself when sane, else a new one."""
    if value is not None:
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if _SANE.fullmatch(text):
            return text
    return uuid.uuid4().hex


class RequestIds:
    """ASGI middleware: the request id of each HTTP request and websocket connection (module docstring)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = next((value for name, value in scope.get("headers", ()) if name == HEADER), None)
        request_id = request_id_from(incoming)
        # Not reset afterwards: uvicorn logs the access line and any unhandled error in this task, later.
        current_request.set(RequestLog(request_id))
        starts = "http.response.start" if kind == "http" else "websocket.accept"
        header = (b"X-Request-ID", request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == starts:
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        await self.app(scope, receive, send_with_id)
