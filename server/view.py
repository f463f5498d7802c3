"""The GraphQL view: strawberry's ASGI app with our context, auth, body limits, uploads and GraphiQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types import ExecutionResult

from gql.context import Context
from gql.errors import DATABASE_UNAVAILABLE
from gql.loaders import Loaders
from models.db import database_unavailable
from resolvers.errors import Unauthenticated
from server.errors import error_code, error_response
from server.graphiql import graphiql_html
from server.limits import too_large
from server.metrics import measured_operation, operation_name_of, refused_request
from server.multipart import parse_multipart
from server.state import AppState
from server.strawberry_internals import CannotGetOperationTypeError
from server.websockets import LegacyWSHandler, TransportWSHandler, WebSocketAdapter

MAX_JSON_BYTES = 1024 * 1024  # a GraphQL document with its variables; uploads go through multipart


class CertifyGraphQL(GraphQL):
    """Strawberry's ASGI view with our context: bearer auth on HTTP, connection_init on websockets."""

    def encode_json(self, data: object) -> bytes:
        """``data`` as compact JSON, UTF-8 bytes, by orjson (strawberry's ``json.dumps`` took about a thirtieth of a
        50-row page's server time, and every subscription message is encoded here too); what orjson refuses (an
        integer beyond 64 bits) is encoded by ``json.dumps``. Raises TypeError for a value neither can encode."""
        try:
            return orjson.dumps(data)
        except TypeError:
            return json.dumps(data, separators=(",", ":")).encode()

    async def reject_websocket(self, request: WebSocket) -> WebSocket:
        """Refuse a handshake from a page of an origin not allowed: 403 with a JSON body in the GraphQL error
        shape, like every refusal (ASGI's websocket denial response; a plain 403 where the server lacks it)."""
        if "websocket.http.response" not in request.scope.get("extensions", {}):
            return await super().reject_websocket(request)
        message = "pages of this origin may not open a websocket here (CERTIFY_WEBSOCKET_ORIGINS lists those that may)"
        await request.send_denial_response(error_response(403, message))
        return request

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = WebSocketAdapter

    def __init__(self, state: AppState, **kwargs: Any):
        super().__init__(**kwargs)
        self.state = state
        self.send_timeout = state.settings.websocket_send_timeout_seconds
        self.ping_interval = state.settings.websocket_ping_seconds
        self.send_backlog = state.settings.subscriber_queue_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry's ASGI entry, with a request it refuses answered as GraphQL errors (JSON, with a code)."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as error:
            refused_request(error_code(error.status_code))
            response = error_response(error.status_code, error.reason)
        except Exception as error:
            # Before any operation runs (a token's scope looked up): the database down is a 503, not a 500.
            if not database_unavailable(error):
                raise
            body = {"errors": [{"message": DATABASE_UNAVAILABLE, "extensions": {"code": "SERVICE_UNAVAILABLE"}}]}
            response = JSONResponse(body, status_code=503)
        await response(scope, receive, send)

    async def execute_single(self, **kwargs: Any) -> ExecutionResult:
        """One operation, within ``request_timeout_seconds``; an operation name that names nothing is a GraphQL error.

        A mutation cut off by the timeout is rolled back with its transaction. Counted and timed
        under its operation name, which its log lines carry (:mod:`server.metrics`).
        """
        request = kwargs["request_data"]
        measured = measured_operation(operation_name_of(request.query, request.operation_name))
        result = await self._execute_within_timeout(**kwargs)
        measured.answered(result.errors)
        return result

    async def _execute_within_timeout(self, **kwargs: Any) -> ExecutionResult:
        context: Context = kwargs["context"]
        timeout = self.state.settings.request_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                return await super().execute_single(**kwargs)
        except HTTPException as error:
            if isinstance(error.__cause__, CannotGetOperationTypeError):
                return _refused(error.reason, "OPERATION_RESOLUTION_FAILURE", context)
            raise
        except TimeoutError:
            return _refused(f"the operation did not finish within {timeout:g} s", "TIMEOUT", context)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL with its scripts and styles from this server (server/graphiql.py), no CDN."""
        return HTMLResponse(graphiql_html())

    def decode_json(self, data: str | bytes) -> object:
        """Strawberry assumes a JSON object (or batch list); any other JSON value is a 400, not a 500."""
        if len(data) > MAX_JSON_BYTES:
            raise HTTPException(413, too_large(len(data), MAX_JSON_BYTES))
        try:
            value = super().decode_json(data)
        except (UnicodeDecodeError, RecursionError, ValueError) as error:
            # Not UTF-8 (or compressed), nested past the parser's limit, or an integer too long to read.
            raise HTTPException(400, "Unable to parse request body as JSON") from error
        if isinstance(value, list):
            raise HTTPException(400, "Batched operations are not accepted: send one operation per request")
        if not isinstance(value, dict):
            raise HTTPException(400, "The request body must be a JSON object")
        return value

    async def on_ws_connect(self, context: Context) -> None:
        """Authenticate a websocket from ``connection_init``'s ``{"Authorization": "Bearer ..."}``; else close 4403."""
        params = context.connection_params or {}
        value = params.get("Authorization", params.get("authorization"))
        if not isinstance(value, str) or not value:
            raise ConnectionRejectionError({"message": "connection_init must carry Authorization: Bearer <token>"})
        try:
            context.principal = await self.state.tokens.authenticate(value)
        except Unauthenticated as error:
            raise ConnectionRejectionError({"message": str(error)}) from error

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        """A fresh :class:`Context` per request (per connection on websockets); HTTP auth from the bearer header."""
        context = Context(state=self.state, loaders=Loaders(), request=request, response=response)
        if isinstance(request, Request):
            try:
                context.principal = await self.state.tokens.authenticate(request.headers.get("authorization"))
            except Unauthenticated as error:
                context.auth_error = error
        return context

    async def parse_multipart(self, request: Any) -> Any:
        # Strict GraphQL multipart spec: malformed requests are a 400, never a 500.
        return await parse_multipart(request)


def _refused(message: str, code: str, context: Context) -> ExecutionResult:
    cost = context.cost.as_extension() if context.cost is not None else None
    return ExecutionResult(
        data=None,
        errors=[GraphQLError(message, extensions={"code": code})],
        extensions={"cost": cost} if cost else None,
    )
