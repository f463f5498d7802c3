"""The GraphQL view: strawberry's ASGI app with our context, auth, body limits, uploads and GraphiQL."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from gql.context import Context
from gql.loaders import Loaders
from resolvers.errors import Unauthenticated
from server.graphiql import graphiql_html
from server.multipart import parse_multipart
from server.state import AppState
from server.websockets import LegacyWSHandler, TransportWSHandler, WebSocketAdapter

MAX_JSON_BYTES = 1024 * 1024  # a GraphQL document with its variables; uploads go through multipart


class CertifyGraphQL(GraphQL):
    """Strawberry's ASGI view with our context: bearer auth on HTTP, connection_init on websockets."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = WebSocketAdapter

    def __init__(self, state: AppState, **kwargs: Any):
        super().__init__(**kwargs)
        self.state = state
        self.send_timeout = state.settings.websocket_send_timeout_seconds
        self.ping_interval = state.settings.websocket_ping_seconds
        self.send_backlog = state.settings.subscriber_queue_size

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL with its scripts and styles from this server (server/graphiql.py), no CDN."""
        return HTMLResponse(graphiql_html())

    def decode_json(self, data: str | bytes) -> object:
        """Strawberry assumes a JSON object (or batch list); any other JSON value is a 400, not a 500."""
        if len(data) > MAX_JSON_BYTES:
            raise HTTPException(413, f"the request body is larger than {MAX_JSON_BYTES} bytes")
        try:
            value = super().decode_json(data)
        except (UnicodeDecodeError, RecursionError, ValueError) as error:
            # Not UTF-8 (or compressed), nested past the parser's limit, or an integer too long to read.
            raise HTTPException(400, "Unable to parse request body as JSON") from error
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return value

    async def on_ws_connect(self, context: Context) -> None:
        """Authenticate a websocket from ``connection_init``'s ``{"Authorization": "Bearer ..."}``; else close 4403."""
        params = context.connection_params or {}
        value = params.get("Authorization", params.get("authorization"))
        if not isinstance(value, str) or not value:
            raise ConnectionRejectionError({"message": "connection_init must carry Authorization: Bearer <token>"})
        try:
            context.principal = self.state.tokens.verify_header(value)
        except Unauthenticated as error:
            raise ConnectionRejectionError({"message": str(error)}) from error
        return None

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        """A fresh :class:`Context` per request (per connection on websockets); HTTP auth from the bearer header."""
        context = Context(state=self.state, loaders=Loaders(), request=request, response=response)
        if isinstance(request, Request):
            try:
                context.principal = self.state.tokens.verify_header(request.headers.get("authorization"))
            except Unauthenticated as error:
                context.auth_error = error
        return context

    async def parse_multipart(self, request: Any) -> Any:
        # Strict GraphQL multipart spec: malformed requests are a 400, never a 500.
        return await parse_multipart(request)
