"""``certify worker`` as an operator runs it: real processes next to an API that runs no workers itself.

The API is the in-process live server with ``CERTIFY_IN_PROCESS_WORKERS=false``
on PostgreSQL with Redis as broadcaster; each worker is a real ``certify
worker`` subprocess on the same database, data dir and Redis.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from certificate_flow import approve, certified_candidates, claim_ok, live_server, make_settings, wait_for
from harness import REDIS_URL, TEST_SECRET, free_port, postgres_database, unavailable
from prometheus_client.parser import text_string_to_metric_families
from support import admin_of
from ws_client import ws_session

from models import AuditEvent, Certificate, Notification
from server.settings import Settings
from server.worker_process import main

CERTIFY = str(Path(sys.executable).parent / "certify")
STATUS_CHANGED = "subscription { sittingStatusChanged { previousStatus status sitting { id } } }"
CLAIMED = re.compile(r"render queue: claimed certificates ([\d,]+)")


class WorkerProcess:
    """One ``certify worker`` subprocess; its stderr goes to a file the test reads."""

    def __init__(self, env: dict[str, str], log_path: Path, *options: str):
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [CERTIFY, "worker", *options], env=env, stderr=self._log, start_new_session=True
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def claimed(self) -> list[int]:
        """Every certificate id this worker claimed, in order."""
        return [int(pk) for batch in CLAIMED.findall(self.log) for pk in batch.split(",")]

    async def running(self, timeout: float = 60.0) -> None:
        await wait_for(self._running, timeout=timeout, interval=0.1)

    async def _running(self) -> bool:
        assert self.process.poll() is None, self.log
        return "worker: running" in self.log

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; the exit status."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        code = self.process.wait(timeout)
        self._log.close()
        return code


def worker_env(settings, **overrides: str) -> dict[str, str]:
    """The environment of a ``certify worker`` sharing ``settings``' database, data dir and broadcaster."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CERTIFY_")}
    env |= {
        "CERTIFY_DATABASE_URL": settings.database_url,
        "CERTIFY_BROADCAST_URL": settings.broadcast_url,
        "CERTIFY_CHANNEL_PREFIX": settings.channel_prefix,
        "CERTIFY_DATA_DIR": str(settings.data_dir),
        "CERTIFY_JWT_SECRET": TEST_SECRET,
        "CERTIFY_PUBLIC_URL": settings.public_url,
        "CERTIFY_OUTBOX_POLL_SECONDS": "0.2",
        "CERTIFY_LOG_FORMAT": "text",
    }
    return env | overrides


@asynccontextmanager
async def api_without_workers(tmp_path: Path) -> AsyncIterator:
    """The API on a fresh PostgreSQL database with Redis, running neither outbox nor renders itself."""
    if REDIS_URL is None:
        unavailable("Redis (CERTIFY_TEST_REDIS_URL)")
    async with postgres_database() as url:
        settings = make_settings(
            tmp_path,
            url,
            broadcast_url=REDIS_URL,
            channel_prefix=f"test-{uuid.uuid4().hex[:8]}:",
            in_process_workers=False,
            render_enabled=True,
        )
        async with live_server(settings) as server:
            assert server.state.render_worker is None and server.state.renderer is None
            yield server


async def approved(server, count: int, *, claimed_through_api: int | None = None) -> list:
    """``count`` certificates claimed and approved through the API (APPROVED, render due).

    With ``claimed_through_api=n``, only the first ``n`` claims are sent; the others are put
    UNDER_REVIEW with the first claim's stored photo, a quicker start for tests about the queue.
    """
    _, candidates = await certified_candidates(server, count)
    sent = candidates if claimed_through_api is None else candidates[:claimed_through_api]
    for start in range(0, len(sent), 20):
        batch = sent[start : start + 20]
        await asyncio.gather(*(claim_ok(server, candidate, f"Holder {start + n}") for n, candidate in enumerate(batch)))
    if len(sent) < count:
        first = await Certificate.get(id=sent[0].certificate_pk)
        for n, candidate in enumerate(candidates[len(sent) :], start=len(sent)):
            await Certificate.filter(id=candidate.certificate_pk).update(
                status="UNDER_REVIEW",
                holder_name=f"Holder {n}",
                photo_key=first.photo_key,
                submitted_at=first.submitted_at,
                claimed_at=first.claimed_at,
            )
    for start in range(0, count, 20):
        await asyncio.gather(*(approve(server, candidate) for candidate in candidates[start : start + 20]))
    return candidates


async def issued_count() -> int:
    return await Certificate.filter(status="ISSUED").count()


pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.mark.slow
async def test_a_separate_worker_issues_approved_certificates_and_api_subscribers_hear_of_it(tmp_path):
    async with api_without_workers(tmp_path) as server:
        # given a worker process next to the API, and an org admin subscribed on the API
        # (it polls only every 30 s: what it renders at once, it learnt of from the review-queue event)
        env = worker_env(server.settings, CERTIFY_RENDER_POLL_SECONDS="30")
        worker = WorkerProcess(env, tmp_path / "worker.log")
        try:
            await worker.running()
            world, candidates = await certified_candidates(server, 3)
            async with ws_session(server.ws_url, admin_of(server, world).token) as watcher:
                await watcher.subscribe("status", STATUS_CHANGED)
                latencies = []
                for n, candidate in enumerate(candidates):
                    await claim_ok(server, candidate, f"Holder {n}")

                    # when a reviewer approves it on the API
                    started = time.monotonic()
                    await approve(server, candidate)

                    # then the worker renders and issues it, and the subscriber on the API gets the event
                    event = await watcher.data("status", timeout=30)
                    latencies.append(time.monotonic() - started)
                    assert event == {
                        "sittingStatusChanged": {
                            "previousStatus": "IN_PROGRESS",
                            "status": "CERTIFIED",
                            "sitting": {"id": candidate.sitting_id},
                        }
                    }
            row = await Certificate.get(id=candidates[0].certificate_pk)
            assert (row.status, row.render_attempts) == ("ISSUED", 1)
            assert (server.settings.files_dir / row.pdf_key).is_file()
            # the worker's outbox delivered the CERTIFICATE_ISSUED e-mails too
            await wait_for(lambda: _emails_written(server, 3 + 3))
            print(f"approve → CERTIFIED event through a separate worker: {[round(s, 3) for s in latencies]} s")
            assert max(latencies) < 5.0, latencies
            # and the API, which runs no renderer, is ready and says where rendering happens
            ready = await server.http.get("/readyz")
            assert (ready.status_code, ready.json()["checks"]["renderer"]) == (200, "in worker processes")
        finally:
            assert worker.stop() == 0, worker.log


async def _emails_written(server, count: int) -> bool:
    return len(list(server.settings.outbox_dir.glob("*.eml"))) >= count


@pytest.mark.slow
async def test_two_workers_rendering_200_certificates_issue_each_exactly_once(tmp_path):
    async with api_without_workers(tmp_path) as server:
        # given 200 approved certificates waiting (ten claims sent over HTTP, the rest sharing a stored photo)
        candidates = await approved(server, 200, claimed_through_api=10)
        assert await Certificate.filter(status="APPROVED", render_attempts=0).count() == 200

        # when two worker processes start on the queue at once
        env = worker_env(server.settings, CERTIFY_RENDER_POLL_SECONDS="0.2")
        workers = [WorkerProcess(env, tmp_path / f"worker-{n}.log") for n in range(2)]
        started = time.monotonic()
        try:
            await wait_for(lambda: _all_issued(200), timeout=120, interval=0.2)
            elapsed = time.monotonic() - started
        finally:
            codes = [worker.stop() for worker in workers]
        assert codes == [0, 0], [worker.log for worker in workers]

        # then each was claimed by one worker once, both took part, and each was issued once
        first, second = (worker.claimed() for worker in workers)
        assert first and second
        assert sorted(first + second) == sorted(c.certificate_pk for c in candidates)
        rows = await Certificate.all()
        assert [(r.status, r.render_attempts, r.render_error) for r in rows] == [("ISSUED", 1, None)] * 200
        assert len({r.verification_code for r in rows}) == 200
        assert len({r.pdf_sha256 for r in rows}) == 200
        assert len(list(server.settings.files_dir.rglob("*.pdf"))) == 200
        assert len(list(server.settings.files_dir.rglob("*.png"))) == 200
        assert await AuditEvent.filter(action="issue_certificate").count() == 200
        assert await Notification.filter(kind="CERTIFICATE_ISSUED").count() == 200
        print(f"200 certificates by two workers: {elapsed:.1f} s ({len(first)} + {len(second)})")


async def _all_issued(count: int) -> bool:
    return await issued_count() == count


@pytest.mark.slow
async def test_sigterm_mid_render_hands_the_jobs_back_and_another_worker_finishes_them(tmp_path):
    async with api_without_workers(tmp_path) as server:
        # given 10 approved certificates and one worker rendering one at a time
        candidates = await approved(server, 10)
        env = worker_env(server.settings, CERTIFY_RENDER_CONCURRENCY="1")
        first = WorkerProcess(env, tmp_path / "first.log")

        # when it is stopped with SIGTERM once it has issued its first certificate, mid-batch
        await wait_for(lambda: _issued_at_least(1), timeout=60, interval=0.05)
        assert first.stop() == 0, first.log
        stopped_at = datetime.now(UTC)

        # then what it held but had not issued is due again at once, the attempt not counted
        waiting = await Certificate.filter(status="APPROVED")
        assert waiting, "the worker issued everything before it was stopped"
        assert [(r.render_attempts, r.render_next_at <= stopped_at) for r in waiting] == [(0, True)] * len(waiting)
        assert set(first.claimed()) - {r.id for r in await Certificate.filter(status="ISSUED")}

        # and another worker issues every one of them, each exactly once
        second = WorkerProcess(worker_env(server.settings), tmp_path / "second.log")
        try:
            await wait_for(lambda: _all_issued(10), timeout=60, interval=0.1)
        finally:
            assert second.stop() == 0, second.log
        rows = await Certificate.all()
        assert [(r.status, r.render_attempts) for r in rows] == [("ISSUED", 1)] * 10
        assert await AuditEvent.filter(action="issue_certificate").count() == 10
        assert {c.certificate_pk for c in candidates} == {r.id for r in rows}


async def _issued_at_least(count: int) -> bool:
    return await issued_count() >= count


def test_a_worker_refuses_to_start_on_sqlite_or_with_in_memory_events(tmp_path, monkeypatch, capsys):
    for key in [key for key in os.environ if key.startswith("CERTIFY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CERTIFY_DATA_DIR", str(tmp_path / "data"))

    # given SQLite with Redis
    monkeypatch.setenv("CERTIFY_BROADCAST_URL", "redis://127.0.0.1:6379")
    on_sqlite = main(Settings())
    said = capsys.readouterr().err
    # then the worker exits with status 2 and says what to set
    assert on_sqlite == 2
    assert "certify worker: a separate worker needs PostgreSQL (CERTIFY_DATABASE_URL=postgres://…)" in said
    assert "CERTIFY_IN_PROCESS_WORKERS=true" in said

    # given PostgreSQL with memory://
    monkeypatch.setenv("CERTIFY_BROADCAST_URL", "memory://")
    monkeypatch.setenv("CERTIFY_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/none")
    in_memory = main(Settings())
    said = capsys.readouterr().err
    # then likewise, and neither touched the data dir
    assert in_memory == 2
    assert "certify worker: CERTIFY_BROADCAST_URL is memory://" in said
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
async def test_a_worker_started_before_the_schema_waits_for_it(tmp_path):
    if REDIS_URL is None:
        unavailable("Redis (CERTIFY_TEST_REDIS_URL)")
    async with postgres_database(schema=False) as url:
        # given a worker started on an empty database, serving its metrics
        settings = make_settings(tmp_path, url, broadcast_url=REDIS_URL, in_process_workers=False)
        metrics_port = free_port()
        worker = WorkerProcess(worker_env(settings), tmp_path / "worker.log", "--metrics-port", str(metrics_port))
        try:
            await wait_for(lambda: _says(worker, "waiting for the database schema"), timeout=60, interval=0.1)
            async with httpx.AsyncClient() as http:
                scraped = (await http.get(f"http://127.0.0.1:{metrics_port}/")).text
            families = {family.name: family for family in text_string_to_metric_families(scraped)}
            assert [
                sample.value for sample in families["certify_render_failures"].samples if sample.name.endswith("_total")
            ] == [0.0]

            # when the API migrates it
            async with live_server(settings) as server:
                # then the worker starts working, and an approval is rendered by it
                await worker.running(timeout=30)
                [candidate] = await approved(server, 1)
                await wait_for(lambda: _all_issued(1), timeout=30)
                assert worker.claimed() == [candidate.certificate_pk]
        finally:
            assert worker.stop() == 0, worker.log


async def _says(worker: WorkerProcess, text: str) -> bool:
    assert worker.process.poll() is None, worker.log
    return text in worker.log
