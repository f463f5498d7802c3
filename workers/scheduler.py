"""The periodic lifecycle job: every ``CERTIFY_SCHEDULER_SECONDS``, reminders, lapses and expiries.

The work itself is :func:`resolvers.lifecycle.run_lifecycle` (docs/RULES.md,
"The certificate's life"); this loop only paces it, measures it
(``certify_scheduled_job_*`` in ``/metrics``, job ``lifecycle``) and survives
its failures: a run that fails (the database down, say) is logged and the
next run tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import astuple

from adapters.metrics import SCHEDULED_JOB_DURATION, SCHEDULED_JOB_LAST_SUCCESS, SCHEDULED_JOB_RUNS
from models.db import database_unavailable
from resolvers.lifecycle import LifecycleReport, run_lifecycle
from resolvers.lifecycle_policy import LifecyclePolicy
from subscriptions.events import Publisher

log = logging.getLogger(__name__)
JOB = "lifecycle"


async def run_lifecycle_once(*, policy: LifecyclePolicy, publisher: Publisher) -> LifecycleReport | None:
    """One measured run; None when it failed (logged: one line when the database is unreachable)."""
    started = time.perf_counter()
    try:
        report = await run_lifecycle(policy=policy, publisher=publisher)
    except Exception as error:
        SCHEDULED_JOB_RUNS.labels(job=JOB, result="error").inc()
        if database_unavailable(error):
            log.warning("lifecycle: the database is unavailable; the next run tries again")
        else:
            log.exception("lifecycle: the run failed; the next run tries again")
        return None
    SCHEDULED_JOB_RUNS.labels(job=JOB, result="ok").inc()
    SCHEDULED_JOB_DURATION.labels(job=JOB).observe(time.perf_counter() - started)
    SCHEDULED_JOB_LAST_SUCCESS.labels(job=JOB).set(time.time())
    if any(astuple(report)):
        log.info(
            "lifecycle: %d certificates lapsed, %d credits refunded, %d sittings unselected, %d sittings expired, "
            "%d claim reminders, %d expiry reminders",
            *astuple(report),
        )
    return report


async def run_scheduler(
    *, policy: LifecyclePolicy, publisher: Publisher, interval_seconds: float, stop_event: asyncio.Event
) -> None:
    """Run the lifecycle job every ``interval_seconds`` (the first run at once) until ``stop_event`` is set."""
    while not stop_event.is_set():
        await run_lifecycle_once(policy=policy, publisher=publisher)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), timeout=interval_seconds)
