"""The ASGI application: routes, the GraphQL view and the one lifespan that owns every service."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from tortoise.contrib.starlette import RegisterTortoise

from server.auth import TokenService
from gql.context import Context
from server.files import FileUrls, serve_file
from server.graphiql import STATIC_DIR, graphiql_html
from server.limits import BodySizeLimit
from gql.loaders import Loaders
from server.multiplex import SharedStreams
from server.multipart import MAX_REQUEST_BYTES, parse_multipart
from gql.schema import build_schema
from server.settings import Settings
from server.verify_page import verify_page
from server.websockets import LegacyWSHandler, TransportWSHandler, WebSocketAdapter
from models.db import forget_compiled_statements, migrate, tortoise_config
from renderer import CertificateRenderer
from resolvers.errors import Unauthenticated
from workers.outbox import OutboxDeliverer, run_outbox
from workers.rendering import RenderSettings, RenderWorker
from adapters.storage import FileStorage, LocalFileStorage
from subscriptions.hub import Hub
from subscriptions.publisher import BroadcastPublisher

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 1024 * 1024  # a GraphQL document with its variables; uploads go through multipart


@dataclass
class AppState:
    """Services shared by every request of one process, created by the lifespan."""

    settings: Settings
    tokens: TokenService
    publisher: Any
    hub: Hub | None = None
    shared_streams: SharedStreams | None = None
    file_urls: FileUrls | None = None
    outbox: OutboxDeliverer | None = None
    storage: FileStorage | None = None
    renderer: CertificateRenderer | None = None
    render_worker: RenderWorker | None = None
    background: list[asyncio.Task] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: bool = False


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
        """GraphiQL with its scripts and styles from this server (gql/graphiql.py), no CDN."""
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


async def _health(request: Request) -> Response:
    state: AppState = request.app.state.certify
    return JSONResponse({"status": "ok" if state.ready else "starting"}, status_code=200 if state.ready else 503)


def create_app(settings: Settings) -> Starlette:
    """Build the app for ``settings``; services start in the lifespan (use it as a context manager in tests)."""
    state = AppState(settings=settings, tokens=TokenService(settings), publisher=None)
    graphql = CertifyGraphQL(
        state,
        schema=build_schema(),
        multipart_uploads_enabled=True,
        keep_alive=True,
        keep_alive_interval=settings.websocket_ping_seconds,
        connection_init_wait_timeout=timedelta(seconds=settings.websocket_init_timeout_seconds),
        max_subscriptions_per_connection=100,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.warn_if_insecure()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        forget_compiled_statements()
        if settings.migrate_on_start:
            await migrate(settings.database_url)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(RegisterTortoise(app, config=tortoise_config(settings.database_url)))
            state.hub = await stack.enter_async_context(
                Hub(
                    settings.broadcast_url,
                    prefix=settings.channel_prefix,
                    queue_size=settings.subscriber_queue_size,
                    timeout=settings.broadcast_timeout_seconds,
                )
            )
            state.publisher = BroadcastPublisher(state.hub)
            state.shared_streams = SharedStreams(graphql.schema, graphql.encode_json_string)
            state.file_urls = FileUrls(settings)
            state.storage = LocalFileStorage(settings.files_dir)
            if settings.render_enabled:
                state.renderer = CertificateRenderer(
                    chromium_path=settings.chromium_path,
                    max_concurrency=settings.render_concurrency,
                    timeout_s=settings.render_timeout_seconds,
                    renders_per_context=settings.renders_per_context,
                )
                try:
                    await state.renderer.start()
                except Exception:  # noqa: BLE001 - the API stays up; renders fail visibly (renderError)
                    log.exception("certificate rendering is unavailable: Chromium did not start")
                stack.push_async_callback(state.renderer.close)
                state.render_worker = RenderWorker(
                    renderer=state.renderer,
                    storage=state.storage,
                    publisher=state.publisher,
                    settings=RenderSettings(
                        public_url=settings.public_url,
                        max_attempts=settings.render_max_attempts,
                        retry_seconds=settings.render_retry_seconds,
                        lease_seconds=max(settings.render_lease_seconds, 2 * settings.render_timeout_seconds),
                        poll_seconds=settings.render_poll_seconds,
                    ),
                )
            state.stop.clear()
            state.outbox = OutboxDeliverer(settings)
            state.background.append(
                asyncio.create_task(
                    run_outbox(state.outbox, poll_seconds=settings.outbox_poll_seconds, stop_event=state.stop),
                    name="certify-outbox",
                )
            )
            if state.render_worker is not None:
                state.background.append(asyncio.create_task(state.render_worker.run(state.stop), name="certify-render"))
            # Everything allocated so far lives as long as the process: keep it out of the cyclic
            # GC's scans, which otherwise dominate the cost of fanning an event out to thousands
            # of websocket subscribers (bench/RESULTS-realtime.md).
            gc.freeze()
            state.ready = True
            try:
                yield
            finally:
                state.ready = False
                state.stop.set()
                for task in state.background:
                    task.cancel()
                await asyncio.gather(*state.background, return_exceptions=True)
                state.background.clear()

    app = Starlette(
        routes=[
            Route("/healthz", _health),
            Route("/files/{token}", serve_file, methods=["GET"]),
            Route("/verify/{code}", verify_page, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        middleware=[
            Middleware(
                BodySizeLimit,
                max_bytes=MAX_REQUEST_BYTES,
                idle_seconds=settings.request_body_idle_seconds,
                total_seconds=settings.request_body_total_seconds,
            )
        ],
        lifespan=lifespan,
    )
    app.state.certify = state
    return app


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory``: settings from the environment."""
    return create_app(Settings())


__all__ = ["AppState", "create_app", "app_from_env"]
