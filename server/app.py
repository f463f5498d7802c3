"""The ASGI application: routes, the GraphQL view and the one lifespan that owns every service.

The lifespan opens, in order: the database (migrated first when
``migrate_on_start``), the event hub, the publisher and shared streams, file
URLs and storage, the renderer and its worker (when rendering is on), and the
background tasks (outbox delivery, rendering); it closes them in reverse.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from tortoise.contrib.starlette import RegisterTortoise

from adapters.storage import LocalFileStorage
from gql.schema import build_schema
from models.db import forget_compiled_statements, migrate, tortoise_config
from resolvers.credential_status import StatusListCache
from server.auth import TokenService
from server.credential_page import credential_page
from server.credentials import serve_achievement, serve_credential, serve_did_document, serve_status_list
from server.documents import DocumentLimits
from server.errors import http_exception
from server.event_sharing import SharingExecutionContext
from server.exports import SittingExports, serve_export
from server.files import FileUrls, serve_file
from server.graphiql import STATIC_DIR
from server.health import health, readiness
from server.holder_pages import claim_page, downloads_page
from server.issuer import issuer_of
from server.limits import BodySizeLimit
from server.metrics import serve_metrics
from server.multipart import MAX_REQUEST_BYTES
from server.multiplex import SharedStreams
from server.rate_limits import RateLimiter, storage_for
from server.request_ids import RequestIds
from server.settings import Settings
from server.state import AppState
from server.strawberry_internals import inputs_built_once, websocket_origin_of
from server.verify_page import verify_page
from server.view import MAX_JSON_BYTES, CertifyGraphQL
from server.web_pages import dashboard_page, my_certificates_page, review_page
from server.worker_process import render_settings_of, renderer_of
from subscriptions.hub import Hub
from subscriptions.publisher import BroadcastPublisher
from workers.outbox import OutboxDeliverer, run_outbox
from workers.rendering import RenderWorker
from workers.scheduler import run_scheduler

log = logging.getLogger(__name__)


def _view(state: AppState) -> CertifyGraphQL:
    settings = state.settings
    return CertifyGraphQL(
        state,
        schema=inputs_built_once(
            build_schema(limits=[DocumentLimits], execution_context_class=SharingExecutionContext)
        ),
        multipart_uploads_enabled=True,
        keep_alive=True,
        keep_alive_interval=settings.websocket_ping_seconds,
        connection_init_wait_timeout=timedelta(seconds=settings.websocket_init_timeout_seconds),
        max_subscriptions_per_connection=100,
        # Pages of other sites may not open websockets (strawberry also admits no Origin and the same origin).
        allowed_origins=[websocket_origin_of(settings.public_url), *settings.websocket_origin_list],
    )


async def _open_services(state: AppState, graphql: CertifyGraphQL, stack: AsyncExitStack) -> None:
    """The hub, publisher, shared streams, file URLs and storage of ``state``; closed by ``stack``."""
    settings = state.settings
    state.hub = await stack.enter_async_context(
        Hub(
            settings.broadcast_url,
            prefix=settings.channel_prefix,
            queue_size=settings.subscriber_queue_size,
            timeout=settings.broadcast_timeout_seconds,
            health_seconds=settings.broadcast_health_seconds,
        )
    )
    state.publisher = BroadcastPublisher(state.hub)
    state.shared_streams = SharedStreams(graphql.schema, graphql.encode_json_string)
    state.file_urls = FileUrls(settings)
    state.exports = SittingExports(settings)
    state.storage = LocalFileStorage(settings.files_dir)
    state.issuer = issuer_of(settings)
    state.status_lists = StatusListCache(ttl_seconds=settings.status_list_max_age_seconds)
    if settings.rate_limit_enabled:
        state.rate_limiter = RateLimiter(
            storage_for(settings.broadcast_url, key_prefix=f"{settings.channel_prefix}certify-rate")
        )
        stack.push_async_callback(state.rate_limiter.close)


async def _open_rendering(state: AppState, stack: AsyncExitStack) -> None:
    """The warm Chromium and the render worker; a Chromium that does not start leaves the API up (renders fail visibly)."""
    settings = state.settings
    state.renderer = renderer_of(settings)
    try:
        await state.renderer.start()
    except Exception:  # noqa: BLE001 - the API stays up; renders fail visibly (renderError)
        log.exception("certificate rendering is unavailable: Chromium did not start")
    stack.push_async_callback(state.renderer.close)
    state.render_worker = RenderWorker(
        renderer=state.renderer,
        storage=state.storage,
        publisher=state.publisher,
        settings=render_settings_of(settings),
        issuer=state.issuer,
    )


def _start_background(state: AppState) -> None:
    """Start outbox delivery, the lifecycle job and (when rendering is on) the render worker, until ``state.stop``."""
    state.stop.clear()
    state.outbox = OutboxDeliverer(state.settings, smtp_timeout_seconds=state.settings.smtp_timeout_seconds)
    outbox = run_outbox(state.outbox, poll_seconds=state.settings.outbox_poll_seconds, stop_event=state.stop)
    state.background.append(asyncio.create_task(outbox, name="certify-outbox"))
    scheduler = run_scheduler(
        policy=state.settings.lifecycle_policy,
        publisher=state.publisher,
        interval_seconds=state.settings.scheduler_seconds,
        stop_event=state.stop,
    )
    state.background.append(asyncio.create_task(scheduler, name="certify-scheduler"))
    if state.render_worker is not None:
        state.background.append(asyncio.create_task(state.render_worker.run(state.stop), name="certify-render"))


async def _stop_background(state: AppState) -> None:
    state.ready = False
    state.stop.set()
    for task in state.background:
        task.cancel()
    await asyncio.gather(*state.background, return_exceptions=True)
    state.background.clear()


GIL_SWITCH_INTERVAL_S = 0.0005
"""How long the event loop's thread may keep the GIL from a thread that waits for it (Python's default: 5 ms).

Each SQLite connection's aiosqlite thread needs the GIL several times per
statement. At 5 ms per hand-over, a page's 5 ms ``COUNT(*)`` read beside a
large certification's publishing took 365 ms. At 0.5 ms the page's p99 during
the certification fell from 150–480 ms to 116–127 ms (``bench/certify_bench.py``,
SQLite, two runs each). With no thread waiting, the interval costs nothing.
"""


def _lifespan(state: AppState, graphql: CertifyGraphQL):
    settings = state.settings

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.warn_if_insecure()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        forget_compiled_statements()
        if settings.migrate_on_start:
            await migrate(settings.database_url)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(RegisterTortoise(app, config=tortoise_config(settings.database_url)))
            await _open_services(state, graphql, stack)
            # With CERTIFY_IN_PROCESS_WORKERS=false, `certify worker` processes own the queues and Chromium.
            if settings.in_process_workers:
                if settings.render_enabled:
                    await _open_rendering(state, stack)
                _start_background(state)
            # Everything allocated so far lives as long as the app: keep it out of the cyclic
            # GC's scans, which otherwise dominate the cost of fanning an event out to thousands
            # of websocket subscribers (docs/ARCHITECTURE.md, "Fan-out").
            gc.freeze()
            interpreter_interval = sys.getswitchinterval()
            sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
            state.ready = True
            try:
                yield
            finally:
                try:
                    await _stop_background(state)
                finally:
                    # Both are the interpreter's: a process that starts another app after this one gets them back.
                    sys.setswitchinterval(interpreter_interval)
                    gc.unfreeze()

    return lifespan


def create_app(settings: Settings) -> Starlette:
    """Build the app for ``settings``; services start in the lifespan (use it as a context manager in tests)."""
    state = AppState(settings=settings, tokens=TokenService(settings))
    graphql = _view(state)
    app = Starlette(
        routes=[
            Route("/healthz", health),
            *([Route("/metrics", serve_metrics, methods=["GET"])] if settings.metrics_enabled else []),
            Route("/readyz", readiness),
            Route("/files/{token}", serve_file, methods=["GET"]),
            Route("/exports/{token}", serve_export, methods=["GET"]),
            Route("/verify", credential_page, methods=["GET", "POST"]),
            Route("/verify/{code}", verify_page, methods=["GET"]),
            Route("/claim/{id}", claim_page, methods=["GET"]),
            Route("/certificates/{id}", downloads_page, methods=["GET"]),
            Route("/review", review_page, methods=["GET"]),
            Route("/dashboard", dashboard_page, methods=["GET"]),
            Route("/me", my_certificates_page, methods=["GET"]),
            Route("/credentials/{code}", serve_credential, methods=["GET"]),
            Route("/orgs/{organisation_id:int}/did.json", serve_did_document, methods=["GET"]),
            Route("/orgs/{organisation_id:int}/achievements/{test_id:int}", serve_achievement, methods=["GET"]),
            Route(
                "/orgs/{organisation_id:int}/credentials/status/{status_list_id:int}",
                serve_status_list,
                methods=["GET"],
            ),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        middleware=[
            Middleware(RequestIds),
            Middleware(
                BodySizeLimit,
                max_bytes=MAX_REQUEST_BYTES,
                other_max_bytes=MAX_JSON_BYTES,
                idle_seconds=settings.request_body_idle_seconds,
                total_seconds=settings.request_body_total_seconds,
            ),
        ],
        lifespan=_lifespan(state, graphql),
        exception_handlers={HTTPException: http_exception},
    )
    app.state.certify = state
    return app


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory``: settings from the environment."""
    return create_app(Settings())


__all__ = ["AppState", "app_from_env", "create_app"]
