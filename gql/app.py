"""The ASGI application: routes, the GraphQL view and the one lifespan that owns every service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from broadcaster import Broadcast
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from tortoise.contrib.starlette import RegisterTortoise

from gql.auth import TokenService
from gql.context import Context
from gql.files import FileUrls
from gql.loaders import Loaders
from gql.schema import build_schema
from gql.settings import Settings
from models.db import forget_compiled_statements, migrate, tortoise_config
from resolvers.errors import Unauthenticated
from resolvers.outbox import OutboxDeliverer, run_outbox
from subscriptions.publisher import BroadcastPublisher

log = logging.getLogger(__name__)


@dataclass
class AppState:
    """Services shared by every request of one process, created by the lifespan."""

    settings: Settings
    tokens: TokenService
    publisher: Any
    broadcast: Broadcast | None = None
    file_urls: FileUrls | None = None
    outbox: OutboxDeliverer | None = None
    background: list[asyncio.Task] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: bool = False


class CertifyGraphQL(GraphQL):
    """Strawberry's ASGI view with our context: bearer auth on HTTP, connection_init on websockets."""

    def __init__(self, state: AppState, **kwargs: Any):
        super().__init__(**kwargs)
        self.state = state

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        context = Context(state=self.state, loaders=Loaders(), request=request, response=response)
        if isinstance(request, Request):
            try:
                context.principal = self.state.tokens.verify_header(request.headers.get("authorization"))
            except Unauthenticated as error:
                context.auth_error = error
        return context


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
        keep_alive_interval=15,
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
            state.broadcast = await stack.enter_async_context(Broadcast(settings.broadcast_url))
            state.publisher = BroadcastPublisher(state.broadcast)
            state.file_urls = FileUrls(settings)
            state.stop.clear()
            state.outbox = OutboxDeliverer(settings)
            state.background.append(
                asyncio.create_task(
                    run_outbox(state.outbox, poll_seconds=settings.outbox_poll_seconds, stop_event=state.stop),
                    name="certify-outbox",
                )
            )
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
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        lifespan=lifespan,
    )
    app.state.certify = state
    return app


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory``: settings from the environment."""
    return create_app(Settings())


__all__ = ["AppState", "create_app", "app_from_env"]
