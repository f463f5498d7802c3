"""Signed, short-lived URLs of CSV exports, and the route streaming the file.

A URL is ``{public_url}/exports/{token}``; the token signs an export request
(:class:`resolvers.exports.ExportRequest`: the viewer's scope, the filter and
the order), sealed and signed like file URLs (``server/files.py``: AES-GCM and
HMAC keys of its own derived from ``CERTIFY_FILE_URL_SECRET``), so the URL
does not reveal the filter's search text; it expires after
``signed_url_ttl_seconds``.
Fetching it needs no bearer token: the scope it carries decides the rows. A
tampered or expired token gets 403 with a plain message.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import anyio
from itsdangerous import BadData
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Send

from resolvers.errors import AccessError, BadArgument
from resolvers.exports import EXPORT_PAGE_SIZE, ExportRequest, csv_chunks, export_pages
from server.errors import error_response
from server.files import sealed_serializers
from server.settings import Settings

SALT = "certify.exports.v2"
REFUSAL = "This export link is invalid or has expired."


class SittingExports:
    """Signs export URLs for one :class:`Settings` and reads them back.

    ``clock`` (seconds since the epoch) dates the URLs it signs; checking
    always uses the real time. ``page_size``: rows read per statement while a
    file streams (:data:`resolvers.exports.EXPORT_PAGE_SIZE`).
    """

    def __init__(
        self, settings: Settings, *, clock: Callable[[], float] = time.time, page_size: int = EXPORT_PAGE_SIZE
    ):
        self._settings = settings
        self.page_size = page_size
        self._clock = clock
        self._serializer, self._checker = sealed_serializers(settings, purpose="exports", salt=SALT, clock=clock)

    @property
    def ttl_seconds(self) -> int:
        return self._settings.signed_url_ttl_seconds

    def url_for(self, request: ExportRequest) -> tuple[str, datetime]:
        """The signed URL of ``request``'s file and when it expires (UTC, whole seconds)."""
        signed_at = int(self._clock())
        token = self._serializer.dumps(request.to_payload()).decode("ascii")
        expires_at = datetime.fromtimestamp(signed_at + self.ttl_seconds, UTC)
        return f"{self._settings.public_url}/exports/{token}", expires_at

    def read_token(self, token: str) -> ExportRequest | None:
        """The export request of a valid, unexpired token; None otherwise."""
        try:
            return ExportRequest.from_payload(self._checker.loads(token, max_age=self.ttl_seconds))
        except (BadData, BadArgument, ValueError, TypeError):
            return None


class _CsvStream(StreamingResponse):
    """A streaming response that closes its generator however the stream ends (a client that left included)."""

    body_iterator: AsyncIterator[bytes]

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()


async def serve_export(request: Request) -> Response:
    """``GET /exports/{token}``: the CSV file the token describes, streamed; 403 for a bad or expired token."""
    exports: SittingExports = request.app.state.certify.exports
    export = exports.read_token(request.path_params["token"])
    if export is None:
        return error_response(403, REFUSAL)
    try:
        pages = export_pages(export, page_size=exports.page_size)
    except (AccessError, BadArgument):
        return error_response(403, REFUSAL)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return _CsvStream(
        csv_chunks(pages),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="sittings-{stamp}.csv"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
