"""Eight months of certification for one demo organisation, planned in memory from a seeded generator.

The organisation's admins certify batches of eligible sittings on working
days, each sitting some days or some weeks after it was taken; about half
of the eligible sittings are never certified (the recent ones most of all).
A platform admin records a credit purchase whenever the next batch would
need more credits than the balance holds, and a last one leaves credits for
the dashboard. Each certified sitting's certificate then lives as
:mod:`demo.certificates` plans it. Nothing here touches the database:
:mod:`demo.records` writes the plan.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random

from demo.certificates import CertificatePlan, approve_some, draw_uuid, plan_certificate
from models import Sitting
from models.enums import CertificationStatus, CreditTransactionKind, Role
from resolvers.lifecycle_policy import DEFAULT_POLICY, LifecyclePolicy
from resolvers.principal import Principal

CERTIFIED_SHARE = 0.5  # of the eligible sittings, those an admin certifies in time
# Batches selected on the dashboard, then confirmed; the others: certifySittings.
CONFIRMED_SHARE = 0.7
PLATFORM_ADMIN = Principal(subject="demo-platform", role=Role.PLATFORM_ADMIN)


@dataclass(frozen=True, slots=True)
class HistoryPolicy:
    """How one demo organisation certifies and buys credits.

    ``admins``: subjects of the org admins who certify (audited as
    ``org_admin:{subject}``). ``opening_credits`` are bought when the
    organisation starts; later purchases are whole multiples of
    ``top_up_credits``, hours to days before the batch that needs them, and
    a last one leaves at least ``reserve_credits``. ``batch_day_rate``: the
    chance that an admin certifies a batch on a working day. ``approvals``:
    the latest claims, which a reviewer approved (the render worker issues them).
    """

    admins: tuple[str, ...]
    opening_credits: int
    top_up_credits: int
    reserve_credits: int
    batch_day_rate: float
    approvals: int


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A ledger row: PURCHASE (+credits, its payment reference) or CERTIFICATION (−sittings, the batch id)."""

    at: datetime
    kind: CreditTransactionKind
    delta: int
    balance_after: int
    reference: str
    actor: Principal


@dataclass(frozen=True, slots=True)
class Batch:
    """One certification call: ``actor`` certified ``sittings`` at ``at`` as batch ``batch_id``."""

    at: datetime
    actor: Principal
    batch_id: str
    idempotency_key: str
    sittings: tuple[Sitting, ...]


@dataclass(frozen=True, slots=True)
class OrganisationHistory:
    """What one organisation's history writes: ledger rows in time order, batches, certificates."""

    organisation_id: int
    ledger: list[LedgerEntry]
    batches: list[Batch]
    certificates: list[CertificatePlan]


def plan_history(
    rng: Random,
    *,
    organisation_id: int,
    policy: HistoryPolicy,
    sittings: Sequence[Sitting],
    names: Mapping[int, str],
    start: datetime,
    now: datetime,
    lifecycle: LifecyclePolicy = DEFAULT_POLICY,
) -> OrganisationHistory:
    """Plan the organisation's history from ``start`` (its creation) to ``now``.

    ``sittings``: the organisation's unsaved rows, UNSELECTED or INELIGIBLE.
    Each gets its recording time (``created_at``, minutes after
    ``taken_at``); those certified become IN_PROGRESS with ``certified_at``,
    ``certified_by`` and their batch (and ``selected_at`` / ``selected_by``
    when selected first), as certifying leaves them. ``names``: test taker
    id → registered name. ``lifecycle``: the claim window and leads the
    certificates live under.
    """
    for sitting in sittings:
        sitting.created_at = sitting.taken_at + timedelta(minutes=rng.uniform(2, 90))
    admins = [
        Principal(subject=subject, role=Role.ORG_ADMIN, organisation_id=organisation_id) for subject in policy.admins
    ]
    batches = _certify(rng, sittings, _batch_times(rng, policy, start, now), admins)
    ledger = _ledger(rng, policy, batches, start, now)
    certificates = [
        plan_certificate(rng, sitting, names[sitting.test_taker_id], now=now, policy=lifecycle)
        for batch in batches
        for sitting in batch.sittings
    ]
    approve_some(rng, certificates, policy.approvals, now=now, policy=lifecycle)
    return OrganisationHistory(organisation_id, ledger, batches, certificates)


def _batch_times(rng: Random, policy: HistoryPolicy, start: datetime, now: datetime) -> list[datetime]:
    """Working-day times, 08:00–16:59 UTC, from the day after ``start`` to a day before ``now``."""
    times, last = [], now - timedelta(days=1)
    day = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=1)
    while True:
        at = day + timedelta(hours=rng.randint(8, 16), minutes=rng.randint(0, 59), seconds=rng.uniform(0, 60))
        if at > last:
            return times
        if day.weekday() < 5 and rng.random() < policy.batch_day_rate:
            times.append(at)
        day += timedelta(days=1)


def _certify(rng: Random, sittings: Sequence[Sitting], times: list[datetime], admins: list[Principal]) -> list[Batch]:
    """Certify the chosen sittings in the first batch after their wait, as certifying marks them."""
    chosen: dict[datetime, list[Sitting]] = defaultdict(list)
    for sitting in sittings:
        if sitting.status != CertificationStatus.UNSELECTED:
            continue
        if rng.random() >= CERTIFIED_SHARE:
            continue
        days = rng.uniform(1, 6) if rng.random() < 0.55 else rng.uniform(7, 56)
        index = bisect.bisect_left(times, sitting.taken_at + timedelta(days=days))
        if index < len(times):
            chosen[times[index]].append(sitting)
    batches = []
    for at in sorted(chosen):
        admin = rng.choice(admins)
        confirmed = rng.random() < CONFIRMED_SHARE
        selected_at = at - timedelta(minutes=rng.uniform(2, 25)) if confirmed else None
        batch_id, key = draw_uuid(rng).hex, str(draw_uuid(rng))
        batch = Batch(at, admin, batch_id, key, tuple(chosen[at]))
        for sitting in batch.sittings:
            sitting.status = CertificationStatus.IN_PROGRESS
            sitting.certified_at, sitting.certified_by = at, admin.actor
            sitting.certification_batch = batch_id
            sitting.selected_at = selected_at
            sitting.selected_by = admin.actor if confirmed else None
        batches.append(batch)
    return batches


def _ledger(
    rng: Random, policy: HistoryPolicy, batches: list[Batch], start: datetime, now: datetime
) -> list[LedgerEntry]:
    """Purchases and one CERTIFICATION row per batch, oldest first; no balance is ever negative."""
    entries: list[LedgerEntry] = []

    def top_up(at_least: int) -> int:
        return policy.top_up_credits * math.ceil(at_least / policy.top_up_credits)

    def buy(at: datetime, credits: int) -> None:
        balance = (entries[-1].balance_after if entries else 0) + credits
        number = 1 + sum(e.kind is CreditTransactionKind.PURCHASE for e in entries)
        reference = f"demo-purchase-{number}"  # unique per organisation, as the ledger requires
        entries.append(LedgerEntry(at, CreditTransactionKind.PURCHASE, credits, balance, reference, PLATFORM_ADMIN))

    buy(start + timedelta(hours=rng.uniform(1, 6)), policy.opening_credits)
    for batch in batches:
        count = len(batch.sittings)
        if count > entries[-1].balance_after:
            earliest = entries[-1].at + timedelta(minutes=1)
            at = max(earliest, batch.at - timedelta(hours=rng.uniform(3, 96)))
            buy(at, top_up(count - entries[-1].balance_after))
        balance = entries[-1].balance_after - count
        kind = CreditTransactionKind.CERTIFICATION
        entries.append(LedgerEntry(batch.at, kind, -count, balance, batch.batch_id, batch.actor))
    if entries[-1].balance_after < policy.reserve_credits:
        last = entries[-1].at
        at = last + (now - timedelta(hours=1) - last) * rng.uniform(0.3, 0.9)
        buy(at, top_up(policy.reserve_credits - entries[-1].balance_after))
    return entries
