"""The lifecycle job in ``certify worker`` processes: two racing for the same lapses, and one killed mid-run.

The API is the in-process live server with ``CERTIFY_IN_PROCESS_WORKERS=false``
on PostgreSQL with Redis; each worker is a real ``certify worker`` subprocess
on the same database, data dir and Redis, with the durations as settings
(docs/RULES.md, "The certificate's life").
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from builders import RECORD_SITTINGS, build_world, sitting_row
from certificate_flow import wait_for
from harness import REDIS_URL, TEST_SECRET, free_port, live_server, make_settings, postgres_database, unavailable
from support import ledger_sum

from models import Certificate, CreditTransaction, Notification, Organisation, OutboxEmail, Reminder
from models.enums import Role
from resolvers.invariants import find_violations
from resolvers.lifecycle import DEFAULT_BATCH, LAPSE_LOCK
from resolvers.sql import Statement, transaction

CERTIFY = str(Path(sys.executable).parent / "certify")
CERTIFY_ALL = """
mutation($key: String!) {
  certifySittings(input: {selection: {all: true}, idempotencyKey: $key}) { certifiedCount errors { code message } }
}
"""
LAPSED_LOG = re.compile(r"lifecycle: (\d+) certificates lapsed, (\d+) credits refunded")
BATCH = DEFAULT_BATCH
"""The job's batch (1,000): a kill leaves a whole number of them done."""

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.serial]


class Worker:
    """One ``certify worker`` subprocess; its stderr goes to a file the test reads."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen([CERTIFY, "worker"], env=env, stderr=self._log, start_new_session=True)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lapsed(self) -> tuple[int, int]:
        """(certificates lapsed, credits refunded) as this worker's runs logged them."""
        found = [(int(a), int(b)) for a, b in LAPSED_LOG.findall(self.log)]
        return sum(a for a, _ in found), sum(b for _, b in found)

    async def running(self) -> None:
        async def started() -> bool:
            assert self.process.poll() is None, self.log
            return "worker: running" in self.log

        await wait_for(started, timeout=60, interval=0.1)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        code = self.process.wait(30)
        self._log.close()
        return code


@asynccontextmanager
async def api_and_env(tmp_path: Path, *, window: timedelta, lead: timedelta, **env: str) -> AsyncIterator:
    """The API (no workers of its own) on a fresh PostgreSQL database, and the environment of its workers."""
    if REDIS_URL is None:
        unavailable("Redis (CERTIFY_TEST_REDIS_URL)")
    async with postgres_database() as url:
        settings = make_settings(
            tmp_path,
            url,
            broadcast_url=REDIS_URL,
            channel_prefix=f"test-{uuid.uuid4().hex[:8]}:",
            in_process_workers=False,
            claim_window=window,
            claim_reminders=(lead,),
        )
        async with live_server(settings) as server:
            worker_env = {key: value for key, value in os.environ.items() if not key.startswith("CERTIFY_")} | {
                "CERTIFY_DATABASE_URL": settings.database_url,
                "CERTIFY_BROADCAST_URL": settings.broadcast_url,
                "CERTIFY_CHANNEL_PREFIX": settings.channel_prefix,
                "CERTIFY_DATA_DIR": str(settings.data_dir),
                "CERTIFY_JWT_SECRET": TEST_SECRET,
                "CERTIFY_PUBLIC_URL": settings.public_url,
                "CERTIFY_LOG_FORMAT": "text",
                "CERTIFY_RENDER_ENABLED": "false",
                "CERTIFY_CLAIM_WINDOW": f"PT{window.total_seconds():g}S",
                "CERTIFY_CLAIM_REMINDERS": f"PT{lead.total_seconds():g}S",
                "CERTIFY_SCHEDULER_SECONDS": "1",
                "CERTIFY_OUTBOX_POLL_SECONDS": "0.2",
            }
            yield server, worker_env | env


async def certify_many(server, count: int) -> int:
    """An organisation with ``count`` certified sittings (certificates AWAITING_CLAIM); its id."""
    world = await build_world(server.platform(), sittings=0, credits=count)
    for start in range(0, count, 1000):
        rows = [sitting_row(world.organisation_id, world.test_id, n) for n in range(start, min(count, start + 1000))]
        recorded = (await server.platform().data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]
        assert recorded["errors"] == [], recorded
    admin = server.client(server.token(Role.ORG_ADMIN, org=world.organisation_pk, subject="admin"))
    result = (await admin.data(CERTIFY_ALL, {"key": "all"}))["certifySittings"]
    assert result == {"certifiedCount": count, "errors": []}
    return world.organisation_pk


async def lapsed_count() -> int:
    return await Certificate.filter(status="LAPSED").count()


async def assert_each_once(organisation_pk: int, count: int) -> None:
    """Every certificate reminded, lapsed and refunded exactly once; the balance is the ledger's sum."""
    assert await lapsed_count() == count
    refunds = await CreditTransaction.filter(organisation_id=organisation_pk, kind="REFUND").values_list(
        "reference", flat=True
    )
    assert len(refunds) == count == len(set(refunds))
    certificate_ids = await Certificate.all().values_list("id", flat=True)
    assert sorted(int(reference.rsplit("/", 1)[1]) for reference in refunds) == sorted(certificate_ids)
    assert (await Organisation.get(id=organisation_pk)).credit_balance == count == await ledger_sum(organisation_pk)
    assert await Reminder.all().count() == count
    kinds = Counter(str(kind) for kind in await Notification.all().values_list("kind", flat=True))
    assert kinds == {"CERTIFICATE_READY_TO_CLAIM": count, "CLAIM_REMINDER": count, "CLAIM_LAPSED": count}
    templates = Counter(str(template) for template in await OutboxEmail.all().values_list("template", flat=True))
    assert templates == {"CERTIFICATE_READY_TO_CLAIM": count, "CLAIM_REMINDER": count, "CLAIM_LAPSED": count}
    per_certificate = Counter(await Notification.filter(kind="CLAIM_LAPSED").values_list("certificate_id", flat=True))
    assert set(per_certificate.values()) == {1} and len(per_certificate) == count


async def lapse_step_running(server) -> bool:
    """True while a transaction holds the lapse step's advisory lock (resolvers/lifecycle.py, LAPSE_LOCK)."""
    async with transaction() as conn:
        rows = await Statement(conn).fetch(
            f"SELECT COUNT(*) AS held FROM pg_locks WHERE locktype = 'advisory' AND objid = {LAPSE_LOCK} AND granted"
        )
    return rows[0]["held"] > 0


def certify_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([CERTIFY, "check"], check=False, env=env, capture_output=True, text=True, timeout=60)


async def test_two_workers_racing_the_same_lapses_refund_each_certificate_once(tmp_path):
    """Given two worker processes running the job every second, when 200 claims lapse at once, then each
    certificate was reminded, lapsed and refunded exactly once, with one notice and one e-mail of each
    kind, and the invariants hold. (Delivery to a real SMTP server is proven in
    test_claim_deadlines.py; here the e-mails wait, so the workers race only each other.)"""
    count = 200
    async with api_and_env(
        tmp_path, window=timedelta(seconds=3), lead=timedelta(days=1), CERTIFY_OUTBOX_POLL_SECONDS="600"
    ) as (server, env):
        workers = [Worker(env, tmp_path / f"worker-{n}.log") for n in range(2)]
        try:
            await asyncio.gather(*(worker.running() for worker in workers))
            organisation_pk = await certify_many(server, count)

            async def all_lapsed() -> bool:
                return await lapsed_count() == count

            await wait_for(all_lapsed, timeout=30)
            await asyncio.sleep(1.5)  # both workers run again (every second) and find nothing more to do
        finally:
            codes = [worker.stop() for worker in workers]
        assert codes == [0, 0], [worker.log for worker in workers]
        await assert_each_once(organisation_pk, count)
        # the two workers' runs together lapsed and refunded each certificate once
        assert tuple(map(sum, zip(*(worker.lapsed() for worker in workers), strict=True))) == (count, count)
        assert await find_violations(storage=server.state.storage) == []


async def test_a_worker_killed_in_the_middle_of_a_large_lapse_leaves_nothing_doubled_or_missed(tmp_path):
    """Given 2,000 claims lapsing at once, when the worker is killed (SIGKILL) while its second batch of
    1,000 is under way, then the first batch stands whole and the second left no trace; when a worker
    starts again, every certificate has lapsed with one refund, one reminder, one notice of each kind and
    one e-mail each, and ``certify check`` finds nothing wrong."""
    count = 2 * BATCH
    async with api_and_env(
        tmp_path,
        # certifying 2,000 takes up to 4 s on a busy machine; the reminders are due at once and sent before the deadline
        window=timedelta(seconds=8),
        lead=timedelta(days=1),
        # the e-mails wait (no SMTP server answers there; the next poll is far), so the job has the process to itself
        CERTIFY_SMTP_URL=f"smtp://127.0.0.1:{free_port()}",
        CERTIFY_OUTBOX_POLL_SECONDS="600",
    ) as (server, env):
        worker = Worker(env, tmp_path / "worker-1.log")
        await worker.running()
        organisation_pk = await certify_many(server, count)

        async def second_batch_under_way() -> bool:
            return await lapsed_count() >= BATCH and await lapse_step_running(server)

        await wait_for(second_batch_under_way, timeout=30, interval=0.01)
        worker.kill()
        left = await lapsed_count()
        assert left == BATCH, "the second batch was to be under way when the worker was killed"
        assert await CreditTransaction.filter(kind="REFUND").count() == left
        assert await Notification.filter(kind="CLAIM_LAPSED").count() == left
        assert await OutboxEmail.filter(template="CLAIM_LAPSED").count() == left

        again = Worker(env, tmp_path / "worker-2.log")
        try:
            await again.running()

            async def all_lapsed() -> bool:
                return await lapsed_count() == count

            await wait_for(all_lapsed, timeout=30)
            await asyncio.sleep(1.5)  # another run finds nothing to do
        finally:
            assert again.stop() == 0, again.log
        assert again.lapsed() == (count - left, count - left)
        await assert_each_once(organisation_pk, count)
        checked = certify_check(env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
