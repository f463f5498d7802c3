"""The lifecycle job over the demo's past: reminders, lapses with their refunds, and expiries, as they happened.

The history (:mod:`demo.history`) plans what people did; what the scheduler
did meanwhile is left to the scheduler itself. :func:`replay_lifecycle` runs
:func:`resolvers.lifecycle.run_lifecycle` at every ``TICK`` from the history's
start to ``now``, each run dated its tick, so claim reminders, lapsed claims
(LAPSED certificates, their REFUND ledger rows, sittings UNSELECTED again),
expired sittings and their notifications and audit rows are the job's own
rows, at most a day after they were due, and everything due by ``now`` is done. The e-mails of those runs went
out long ago: their outbox rows are removed, as :mod:`demo.records` writes
none for the history (unsent rows would be sent by ``certify serve``). The
history's ledger rows were written before the refunds among them, so the
ledgers are written again afterwards in time order, each row's
``balance_after`` its running balance, refunds included. The job works on the whole database: seed the demo into
a database of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from models import CreditTransaction, OutboxEmail
from resolvers.lifecycle import LifecycleReport, run_lifecycle
from resolvers.lifecycle_policy import DEFAULT_POLICY, LifecyclePolicy
from resolvers.sql import chunks, transaction
from subscriptions.events import NullPublisher

TICK = timedelta(days=1)
"""How often the demo's scheduler ran in the past (the real one runs every ``CERTIFY_SCHEDULER_SECONDS``):
daily keeps the seed quick (about 250 runs for eight months)."""


async def replay_lifecycle(
    *, start: datetime, now: datetime, organisation_ids: Sequence[int], policy: LifecyclePolicy = DEFAULT_POLICY
) -> LifecycleReport:
    """Run the lifecycle job at ``start + TICK``, ``start + 2·TICK`` … before ``now``, then at ``now``; the summed report.

    ``start`` and ``now`` are aware; ``organisation_ids``: the demo's, whose
    ledgers are rewritten. Each run is the job's own transactions; nothing is
    published (no one listens to the past). The outbox is empty afterwards.
    """
    totals = LifecycleReport()
    ticks = int((now - start) / TICK)
    for at in [start + TICK * n for n in range(1, ticks + 1) if start + TICK * n < now] + [now]:
        report = await run_lifecycle(policy=policy, publisher=NullPublisher(), now=at)
        totals = LifecycleReport(*(a + b for a, b in zip(_counts(totals), _counts(report), strict=True)))
    await OutboxEmail.all().delete()
    await _rewrite_ledgers(organisation_ids)
    return totals


async def _rewrite_ledgers(organisation_ids: Sequence[int]) -> None:
    """Write these organisations' ledgers again in time order, each ``balance_after`` its running balance.

    The history's rows were inserted before the refunds that came between
    them; rows written one after another, as the verbs and the job write
    them, have ids in time order, which ``certify check`` relies on
    (``ledger-balance-after``). Nothing refers to a ledger row's id.
    """
    async with transaction() as conn:
        rows = (
            await CreditTransaction.filter(organisation_id__in=organisation_ids)
            .using_db(conn)
            .order_by("created_at", "id")
        )
        await CreditTransaction.filter(organisation_id__in=organisation_ids).using_db(conn).delete()
        running: dict[int, int] = {}
        for row in rows:
            running[row.organisation_id] = running.get(row.organisation_id, 0) + row.delta
            row.balance_after = running[row.organisation_id]
            row.id = None
        for part in chunks(rows, 1000):
            await CreditTransaction.bulk_create(part, using_db=conn)


def _counts(report: LifecycleReport) -> tuple[int, ...]:
    return (
        report.lapsed,
        report.refunded,
        report.unselected,
        report.expired,
        report.claim_reminders,
        report.expiry_reminders,
    )
