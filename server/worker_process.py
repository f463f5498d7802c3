"""``certify worker``: the outbox, the render queue and the lifecycle job in a process of their own, serving no HTTP.

The API (``certify serve`` with ``CERTIFY_IN_PROCESS_WORKERS=false``) and any
number of worker processes share one PostgreSQL database and one Redis
broadcaster; each worker claims jobs with ``FOR UPDATE SKIP LOCKED``
(:mod:`workers.leases`), so the queues scale apart from the API
(docs/ARCHITECTURE.md, "Worker processes").

A worker refuses to start on ``memory://`` (events it publishes after an
issue would reach no subscriber of the API) and on SQLite (the embedded
set-up: ``certify serve`` runs the workers in its own process). It never
migrates: started before ``certify serve`` on an empty database, it waits
until the schema is there. It learns of approvals from the review-queue
channel at once and polls otherwise (``CERTIFY_RENDER_POLL_SECONDS``,
``CERTIFY_OUTBOX_POLL_SECONDS``). SIGTERM or SIGINT stops it: in-flight
renders are handed back (due again at once, the attempt not counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from contextlib import AsyncExitStack

from prometheus_client import start_http_server
from tortoise import Tortoise, connections

from adapters.storage import LocalFileStorage
from models.db import forget_compiled_statements, tortoise_config
from renderer import CertificateRenderer
from server.issuer import issuer_of
from server.settings import Settings
from subscriptions.channels import REVIEW_QUEUE
from subscriptions.hub import Hub, StreamInterrupted
from subscriptions.publisher import BroadcastPublisher
from workers.outbox import OutboxDeliverer, run_outbox
from workers.rendering import RenderSettings, RenderWorker
from workers.scheduler import run_scheduler

log = logging.getLogger(__name__)

SCHEMA_WAIT_SECONDS = 1.0
"""Pause between checks for the schema while ``certify serve`` has not migrated yet."""
RESUBSCRIBE_SECONDS = 1.0
"""Pause before listening to the review queue again after the broadcaster dropped (polling covers the gap)."""
SCHEMA_PROBE = (
    "SELECT id, status, render_next_at, render_attempts, render_error FROM certificate WHERE 1 = 0",
    "SELECT id, sent_at, attempts, next_attempt_at FROM outbox_email WHERE 1 = 0",
)


class WorkerRefused(Exception):
    """The settings cannot run a separate worker; the message says why and what to set."""


def worker_refusal(settings: Settings) -> str | None:
    """Why ``settings`` cannot run ``certify worker``, or None when they can."""
    if settings.broadcast_url.startswith("memory://"):
        return (
            "CERTIFY_BROADCAST_URL is memory://, so events of this process (a certificate issued) would reach "
            "no subscriber of the API: set it to the API's redis:// URL"
        )
    if settings.database_url is None or settings.database_url.startswith("sqlite"):
        return (
            "a separate worker needs PostgreSQL (CERTIFY_DATABASE_URL=postgres://…); "
            "with SQLite, certify serve runs the workers itself (CERTIFY_IN_PROCESS_WORKERS=true)"
        )
    return None


def render_settings_of(settings: Settings) -> RenderSettings:
    """The render queue's settings; the lease outlasts two render timeouts (docs/RULES.md, "Rendering")."""
    return RenderSettings(
        public_url=settings.public_url,
        max_attempts=settings.render_max_attempts,
        retry_seconds=settings.render_retry_seconds,
        lease_seconds=max(settings.render_lease_seconds, 2 * settings.render_timeout_seconds),
        poll_seconds=settings.render_poll_seconds,
    )


def renderer_of(settings: Settings) -> CertificateRenderer:
    """A (not yet started) warm Chromium configured by ``settings``, closed after ``render_browser_idle_seconds`` idle."""
    return CertificateRenderer(
        chromium_path=settings.chromium_path,
        max_concurrency=settings.render_concurrency,
        timeout_s=settings.render_timeout_seconds,
        renders_per_context=settings.renders_per_context,
        browser_idle_close_s=settings.render_browser_idle_seconds,
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Deliver e-mails and (when rendering is on) render certificates until ``stop`` is set.

    Raises:
        WorkerRefused: see :func:`worker_refusal`.
    """
    problem = worker_refusal(settings)
    if problem:
        raise WorkerRefused(problem)
    forget_compiled_statements()
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        if await _schema_ready(stop):
            await _serve_queues(settings, stop)
    finally:
        await Tortoise.close_connections()


async def _schema_ready(stop: asyncio.Event) -> bool:
    """Wait until the tables the queues use answer; False when stopped first."""
    announced = False
    while not stop.is_set():
        try:
            for probe in SCHEMA_PROBE:
                await connections.get("default").execute_query(probe)
            return True
        except Exception as error:  # noqa: BLE001 - any failure means "not migrated yet" or "not reachable yet"
            if not announced:
                log.warning("worker: waiting for the database schema (run certify serve to migrate): %s", error)
                announced = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SCHEMA_WAIT_SECONDS)
    return False


async def _serve_queues(settings: Settings, stop: asyncio.Event) -> None:
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(
            Hub(
                settings.broadcast_url,
                prefix=settings.channel_prefix,
                queue_size=settings.subscriber_queue_size,
                timeout=settings.broadcast_timeout_seconds,
            )
        )
        outbox = OutboxDeliverer(settings, smtp_timeout_seconds=settings.smtp_timeout_seconds)
        tasks = [
            asyncio.create_task(
                run_outbox(outbox, poll_seconds=settings.outbox_poll_seconds, stop_event=stop), name="certify-outbox"
            )
        ]
        render_worker = None
        if settings.render_enabled:
            renderer = renderer_of(settings)
            try:
                await renderer.start()
            except Exception:  # renders then fail visibly (renderError, renderingDelayed)
                log.exception("worker: certificate rendering is unavailable: Chromium did not start")
            stack.push_async_callback(renderer.close)
            render_worker = RenderWorker(
                renderer=renderer,
                storage=LocalFileStorage(settings.files_dir),
                publisher=BroadcastPublisher(hub),
                settings=render_settings_of(settings),
                issuer=issuer_of(settings),
            )
            tasks.append(asyncio.create_task(render_worker.run(stop), name="certify-render"))
        tasks.append(asyncio.create_task(_wake_on_approvals(hub, render_worker, outbox), name="certify-wake"))
        scheduler = run_scheduler(
            policy=settings.lifecycle_policy,
            publisher=BroadcastPublisher(hub),
            interval_seconds=settings.scheduler_seconds,
            stop_event=stop,
        )
        tasks.append(asyncio.create_task(scheduler, name="certify-scheduler"))
        log.info("worker: running (rendering %s)", "on" if render_worker else "off")
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _wake_on_approvals(hub: Hub, render_worker: RenderWorker | None, outbox: OutboxDeliverer) -> None:
    """Wake the queues on every review-queue event (an approval queues a render, a rejection an e-mail)."""
    while True:
        try:
            async with hub.subscribe(REVIEW_QUEUE) as subscription:
                while True:
                    await subscription.get()
                    if render_worker is not None:
                        render_worker.wake()
                    outbox.wake()
        except StreamInterrupted:
            await asyncio.sleep(RESUBSCRIBE_SECONDS)


def main(settings: Settings, *, metrics_port: int | None = None, metrics_host: str = "127.0.0.1") -> int:
    """Run the worker in this process until SIGTERM or SIGINT; the exit status (2 when refused).

    With ``metrics_port``, this process's own metric families (render
    failures, scheduled job runs: :mod:`adapters.metrics`) are served in
    Prometheus's text format on ``http://{metrics_host}:{metrics_port}/``
    (prometheus_client's server, in a thread; no token, so loopback by
    default); the queue gauges stay on the API's ``/metrics``.
    """
    if metrics_port is not None and worker_refusal(settings) is None:
        try:
            start_http_server(metrics_port, addr=metrics_host)
        except OSError as error:
            print(
                f"certify worker: cannot serve metrics on {metrics_host}:{metrics_port}: {error.strerror}",
                file=sys.stderr,
            )
            return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(settings, stop)

    try:
        asyncio.run(run())
    except WorkerRefused as refusal:
        print(f"certify worker: {refusal}", file=sys.stderr)
        return 2
    log.info("worker: stopped")
    return 0
