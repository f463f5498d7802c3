"""HTTP-level refusals in the GraphQL error shape, on every route.

A request refused before it is a GraphQL operation (a body too large or too
slow, a bad or expired file or export link, a missing metrics token, an
unknown path or method) is answered with its HTTP status and a JSON body
``{"errors": [{"message": ..., "extensions": {"code": ...}}]}``, as a GraphQL
error is, so a client reads every error one way.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

HTTP_ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    431: "REQUEST_HEADER_FIELDS_TOO_LARGE",
    429: "THROTTLED",
}
"""``extensions.code`` of a refusal by HTTP status (any other status: ``BAD_REQUEST``)."""


def error_code(status: int) -> str:
    """The ``extensions.code`` for an HTTP ``status`` (``HTTP_ERROR_CODES``, else ``BAD_REQUEST``)."""
    return HTTP_ERROR_CODES.get(status, "BAD_REQUEST")


def error_response(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """``status`` with one GraphQL-shaped error: ``message`` and the status's code."""
    body = {"errors": [{"message": message, "extensions": {"code": error_code(status)}}]}
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


async def http_exception(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's handler for :class:`HTTPException` (unknown path, method not allowed …): the GraphQL shape."""
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)
