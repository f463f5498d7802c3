"""uvicorn's httptools protocol with a bound on the bytes of a request's head (request line and headers).

httptools has no such limit: it gathers a header's value however long it is
(a 10 MB ``Authorization`` cost the worker ≈ 40 MB of memory before uvicorn
answered 400). :class:`HttpProtocol` counts the bytes it feeds the parser
while a request's head is incomplete; past :data:`MAX_HEAD_BYTES` it answers
``431 Request Header Fields Too Large`` (RFC 6585, section 5) and closes the
connection before the application sees the request, so the worker holds at
most the limit plus one read (asyncio reads at most 256 KiB at a time).
Everything else, the parsing speed included, is uvicorn's.

Pass it as uvicorn's ``http`` (``uvicorn.run(..., http=HttpProtocol)``).
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from resolvers.wording import data_size
from server.errors import error_code

MAX_HEAD_BYTES = 64 * 1024
"""A request's line and headers together, in bytes (nginx's default large buffers hold 4 × 8 KiB; browsers send < 16 KiB)."""

_REFUSAL_TEXT = json.dumps(
    {
        "errors": [
            {
                "message": f"the request line and headers are larger than {data_size(MAX_HEAD_BYTES)}",
                "extensions": {"code": error_code(431)},
            }
        ]
    }
).encode()
REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_REFUSAL_TEXT)).encode() + b"\r\n\r\n" + _REFUSAL_TEXT
)
"""The whole answer to a head over the limit, written before the connection is closed."""


class HeadTooLarge(Exception):
    """Raised from the parser's ``on_headers_complete`` for a head over :data:`MAX_HEAD_BYTES` that arrived in one read."""


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol answering 431 and closing once a request's head passes :data:`MAX_HEAD_BYTES`.

    Two checks: the bytes fed while a head is incomplete (a head that keeps
    coming is cut off after the limit plus one read), and the head's size once
    parsed (a head that arrived whole in one read).
    """

    _head_bytes = 0
    _in_head = True
    _head_too_large = False

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._head_too_large = True
            self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        self.logger.warning("request headers over %d bytes; answering 431", MAX_HEAD_BYTES)
        self.transport.write(REFUSAL)
        self.transport.close()

    def on_message_begin(self) -> None:
        self._in_head = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise HeadTooLarge  # httptools stops parsing; uvicorn's data_received answers (send_400_response)
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        # The next request's head starts here; a read that carried both is counted from here on.
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()
