"""The lifecycle job: claim reminders, lapsed claims and their refunds, expired sittings, expiry reminders.

Rules: docs/RULES.md, "The certificate's life". Each step is one transaction
of a fixed handful of set-based statements per batch (UPDATE … RETURNING,
INSERT … SELECT), whatever the number of certificates. On PostgreSQL a step
first takes a transaction-scoped advisory lock and is skipped when another
process holds it; on SQLite writes are serial anyway. Every UPDATE is also
conditional on the status it changes and every reminder and refund has a
unique key, so two runs that overlapped could not double anything, and a run
killed midway rolls its step back for the next run to do. Events are
published after each commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import zip_longest

from models import CreditTransaction
from models.enums import (
    CertificateStatus,
    CertificationStatus,
    CreditTransactionKind,
    EmailTemplate,
    IneligibilityReason,
    NotificationKind,
    ReminderKind,
)
from models.transitions import sources_of
from resolvers.audit import SystemActor, record_audit
from resolvers.lifecycle_policy import LifecyclePolicy
from resolvers.sql import Statement, transaction
from subscriptions.events import CreditBalanceChanged, Event, NotificationCreated, Publisher, SittingStatusChanged

SCHEDULER = SystemActor("lifecycle")
DEFAULT_BATCH = 1000
LAPSE_LOCK, EXPIRY_LOCK, REMINDER_LOCK = 7_300_001, 7_300_002, 7_300_003
"""PostgreSQL advisory lock keys, one per step."""

_TEXT: dict[NotificationKind, tuple[str, str]] = {
    NotificationKind.CLAIM_REMINDER: (
        "Your certificate is waiting to be claimed",
        "Claim your certificate for {test} before its deadline, or it can no longer be claimed.",
    ),
    NotificationKind.CLAIM_LAPSED: (
        "Your certificate claim has lapsed",
        "Your certificate for {test} was not claimed by its deadline and can no longer be claimed.",
    ),
    NotificationKind.CERTIFICATE_EXPIRING: (
        "Your certificate expires soon",
        "Your certificate for {test} expires soon; after that its verification shows it as expired.",
    ),
}


@dataclass(frozen=True, slots=True)
class LifecycleReport:
    """What one run did, in counts.

    ``lapsed``: certificates that lapsed; ``refunded``: credits given back for
    them (one each whose sitting was IN_PROGRESS); ``unselected``: sittings
    made UNSELECTED again (after a lapse, or a SELECTED sitting before it
    expired); ``expired``: sittings made INELIGIBLE/EXPIRED;
    ``claim_reminders`` and ``expiry_reminders``: certificates reminded.
    """

    lapsed: int = 0
    refunded: int = 0
    unselected: int = 0
    expired: int = 0
    claim_reminders: int = 0
    expiry_reminders: int = 0


async def run_lifecycle(
    *, policy: LifecyclePolicy, publisher: Publisher, now: datetime | None = None, batch_size: int = DEFAULT_BATCH
) -> LifecycleReport:
    """Do every piece of lifecycle work due at ``now`` (default: the current time), batch by batch.

    Order: lapses (so an expiring unclaimed certificate is refunded first),
    expiries, claim reminders, expiry reminders. Raises ``ValueError`` for a
    ``batch_size`` below 1; database errors propagate after the failing step
    rolled back (the steps before it stay done).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    at = now or datetime.now(UTC)
    lapsed, refunded, reopened = await _until_done(lambda: _lapse_batch(at, batch_size), publisher)
    expired, unselected = await _until_done(lambda: _expiry_batch(at, batch_size), publisher)
    (claims,) = await _until_done(lambda: _claim_reminder_batch(at, policy, batch_size), publisher)
    (expiring,) = await _until_done(lambda: _expiry_reminder_batch(at, policy, batch_size), publisher)
    return LifecycleReport(lapsed, refunded, reopened + unselected, expired, claims, expiring)


Counts = tuple[int, ...]
"""A batch's counts; the first is the rows it was about (0: nothing left to do)."""


async def _until_done(batch: Callable[[], Awaitable[tuple[Counts, list[Event]]]], publisher: Publisher) -> Counts:
    """Run ``batch`` until it finds nothing, publishing each batch's events after its commit; the summed counts."""
    totals: list[int] = []
    while True:
        counts, events = await batch()
        if events:
            await publisher.publish(events)
        totals = [a + b for a, b in zip_longest(totals, counts, fillvalue=0)]
        if counts[0] == 0:
            return tuple(totals)


async def _locked(conn, key: int) -> bool:
    """True when this transaction holds the step's advisory lock (always on SQLite)."""
    stmt = Statement(conn)
    if not stmt.postgres:
        return True
    rows = await stmt.fetch(f"SELECT pg_try_advisory_xact_lock({stmt.param(key)}) AS locked")
    return bool(rows[0]["locked"])


def _in(stmt: Statement, values: Sequence) -> str:
    return ", ".join(stmt.param(value) for value in values)


async def _due_lapses(conn, now: datetime, limit: int) -> list[int]:
    """Up to ``limit`` certificates that can lapse at ``now``, their organisations locked (PostgreSQL).

    Certification and selection lock the organisation before its sittings
    (resolvers/sql.py, ``lock_organisation``); taking the same locks first, in
    id order, keeps this step from deadlocking with them.
    """
    stmt = Statement(conn)
    sources, at = _in(stmt, [s.value for s in sources_of(CertificateStatus.LAPSED)]), stmt.param(now)
    rows = await stmt.fetch(
        "SELECT c.id, s.organisation_id FROM certificate c JOIN sitting s ON s.id = c.sitting_id "
        f"WHERE c.status IN ({sources}) AND (c.claim_deadline <= {at} OR s.expires_at <= {at}) "
        f"ORDER BY c.id LIMIT {stmt.param(limit)}"
    )
    if rows and stmt.postgres:
        stmt = Statement(conn)
        organisations = _in(stmt, sorted({row["organisation_id"] for row in rows}))
        await stmt.fetch(f"SELECT id FROM organisation WHERE id IN ({organisations}) ORDER BY id FOR UPDATE")
    return [row["id"] for row in rows]


async def _lapse_batch(now: datetime, limit: int) -> tuple[Counts, list[Event]]:
    """Lapse up to ``limit`` certificates past their deadline or their sitting's expiry; refund each.

    Counts: (certificates lapsed, credits refunded, sittings reopened).
    """
    async with transaction() as conn:
        if not await _locked(conn, LAPSE_LOCK) or not (due := await _due_lapses(conn, now, limit)):
            return (0, 0, 0), []
        stmt = Statement(conn)
        sources = _in(stmt, [s.value for s in sources_of(CertificateStatus.LAPSED)])
        lapsed_value, at = stmt.param(CertificateStatus.LAPSED.value), stmt.param(now)
        rows = await stmt.fetch(
            f"UPDATE certificate SET status = {lapsed_value}, lapsed_at = {at}, updated_at = {at} "
            f"WHERE id IN ({_in(stmt, due)}) AND status IN ({sources}) RETURNING id"
        )
        if not rows:
            return (0, 0, 0), []
        certificate_ids = sorted(row["id"] for row in rows)
        sittings = await _reopen_sittings(conn, certificate_ids, now)
        balances = await _refund(conn, sittings, now)
        notified = await _notify(conn, certificate_ids, NotificationKind.CLAIM_LAPSED, now)
        await record_audit(
            actor=SCHEDULER,
            action="lapse",
            object_type="Certificate",
            object_id="batch",
            detail={"certificates": certificate_ids},
            conn=conn,
            at=now,
        )
    events: list[Event] = [
        SittingStatusChanged(org, pk, CertificationStatus.IN_PROGRESS.value, CertificationStatus.UNSELECTED.value, now)
        for _, pk, org, _ in sittings
    ]
    events.extend(CreditBalanceChanged(org, balance, delta, now) for org, (balance, delta) in sorted(balances.items()))
    events.extend(NotificationCreated(test_taker, notification, now) for test_taker, notification in notified)
    return (len(certificate_ids), len(sittings), len(sittings)), events


async def _reopen_sittings(conn, certificate_ids: list[int], now: datetime) -> list[tuple[int, int, int, str]]:
    """IN_PROGRESS → UNSELECTED for the lapsed certificates' sittings; (certificate, sitting, organisation, batch).

    The batch is read before the UPDATE clears it: the refund names it.
    """
    stmt = Statement(conn)
    owners = await stmt.fetch(
        "SELECT c.id AS certificate_id, s.id AS sitting_id, s.organisation_id, s.certification_batch "
        f"FROM certificate c JOIN sitting s ON s.id = c.sitting_id WHERE c.id IN ({_in(stmt, certificate_ids)}) "
        f"AND s.status = {stmt.param(CertificationStatus.IN_PROGRESS.value)} ORDER BY c.id"
    )
    if not owners:
        return []
    stmt = Statement(conn)
    at = stmt.param(now)
    await stmt.run(
        f"UPDATE sitting SET status = {stmt.param(CertificationStatus.UNSELECTED.value)}, certified_at = NULL, "
        "certified_by = NULL, certification_batch = NULL, selected_at = NULL, selected_by = NULL, "
        f"updated_at = {at} WHERE id IN ({_in(stmt, [row['sitting_id'] for row in owners])}) "
        f"AND status = {stmt.param(CertificationStatus.IN_PROGRESS.value)}"
    )
    return [
        (row["certificate_id"], row["sitting_id"], row["organisation_id"], row["certification_batch"] or "")
        for row in owners
    ]


def refund_reference(batch: str, certificate_id: int) -> str:
    """The REFUND ledger row's reference: the certification batch it nets against, and the lapsed certificate."""
    return f"{batch}/lapse/{certificate_id}"


async def _refund(conn, sittings: list[tuple[int, int, int, str]], now: datetime) -> dict[int, tuple[int, int]]:
    """One credit back per lapsed certificate: one UPDATE of every organisation concerned, one REFUND row (+1) each.

    ``sittings`` is what :func:`_reopen_sittings` returned. Returns
    ``{organisation: (balance after, credits refunded)}``. Each row's
    ``balance_after`` is its running balance under the organisation's row lock.
    """
    per_organisation: dict[int, list[tuple[int, str]]] = {}
    for certificate_id, _, organisation_id, batch in sittings:
        per_organisation.setdefault(organisation_id, []).append((certificate_id, batch))
    if not per_organisation:
        return {}
    stmt = Statement(conn)
    refunded = _in(stmt, [certificate_id for certificate_id, _, _, _ in sittings])
    rows = await stmt.fetch(
        "UPDATE organisation SET credit_balance = credit_balance + (SELECT COUNT(*) FROM certificate c "
        f"JOIN sitting s ON s.id = c.sitting_id WHERE c.id IN ({refunded}) AND s.organisation_id = organisation.id) "
        f"WHERE id IN ({_in(stmt, sorted(per_organisation))}) RETURNING id, credit_balance"
    )
    balances = {row["id"]: (row["credit_balance"], len(per_organisation[row["id"]])) for row in rows}
    ledger = [
        CreditTransaction(
            organisation_id=organisation_id,
            kind=CreditTransactionKind.REFUND,
            delta=1,
            balance_after=balances[organisation_id][0] - len(refunds) + n,
            reference=refund_reference(batch, certificate_id),
            actor=SCHEDULER.actor,
            created_at=now,
        )
        for organisation_id, refunds in sorted(per_organisation.items())
        for n, (certificate_id, batch) in enumerate(refunds, start=1)
    ]
    await CreditTransaction.bulk_create(ledger, using_db=conn)
    return balances


async def _notify(conn, certificate_ids: Sequence[int], kind: NotificationKind, now: datetime) -> list[tuple[int, int]]:
    """INSERT … SELECT one ``kind`` notification and one e-mail per certificate; (test taker, notification) each."""
    title, body = _TEXT[kind]
    stmt = Statement(conn)
    prefix, suffix = body.split("{test}")
    notified = await stmt.fetch(
        "INSERT INTO notification (test_taker_id, kind, title, body, certificate_id, created_at) "
        f"SELECT s.test_taker_id, {stmt.param(kind.value)}, {stmt.param(title)}, "
        f"{stmt.param(prefix)} || t.name || {stmt.param(suffix)}, c.id, {stmt.param(now)} "
        "FROM certificate c JOIN sitting s ON s.id = c.sitting_id JOIN test t ON t.id = s.test_id "
        f"WHERE c.id IN ({_in(stmt, certificate_ids)}) RETURNING test_taker_id, id"
    )
    stmt = Statement(conn)
    await stmt.run(
        "INSERT INTO outbox_email (to_address, template, certificate_id, attempts, next_attempt_at, created_at) "
        f"SELECT tt.email, {stmt.param(EmailTemplate(kind.value).value)}, c.id, 0, {stmt.param(now)}, "
        f"{stmt.param(now)} FROM certificate c JOIN sitting s ON s.id = c.sitting_id "
        f"JOIN test_taker tt ON tt.id = s.test_taker_id WHERE c.id IN ({_in(stmt, certificate_ids)})"
    )
    return sorted((row["test_taker_id"], row["id"]) for row in notified)


async def _expiry_batch(now: datetime, limit: int) -> tuple[Counts, list[Event]]:
    """UNSELECTED and SELECTED sittings whose validity ended → INELIGIBLE / EXPIRED (SELECTED ones unselected first).

    Counts: (sittings expired, SELECTED sittings unselected first).
    """
    async with transaction() as conn:
        if not await _locked(conn, EXPIRY_LOCK):
            return (0, 0), []
        stmt = Statement(conn)
        unselected, selected = CertificationStatus.UNSELECTED.value, CertificationStatus.SELECTED.value
        at = stmt.param(now)
        due = stmt.param(selected)
        was_selected = await stmt.fetch(
            f"UPDATE sitting SET status = {stmt.param(unselected)}, selected_at = NULL, selected_by = NULL, "
            f"updated_at = {at} WHERE id IN (SELECT id FROM sitting WHERE status = {due} AND expires_at <= {at} "
            f"ORDER BY id LIMIT {stmt.param(limit)}) AND status = {due} RETURNING id, organisation_id"
        )
        stmt = Statement(conn)
        at, due = stmt.param(now), stmt.param(unselected)
        expired = await stmt.fetch(
            f"UPDATE sitting SET status = {stmt.param(CertificationStatus.INELIGIBLE.value)}, "
            f"ineligibility_reason = {stmt.param(IneligibilityReason.EXPIRED.value)}, updated_at = {at} "
            f"WHERE id IN (SELECT id FROM sitting WHERE status = {due} AND expires_at <= {at} "
            f"ORDER BY id LIMIT {stmt.param(limit)}) AND status = {due} RETURNING id, organisation_id"
        )
        if expired:
            await record_audit(
                actor=SCHEDULER,
                action="expire",
                object_type="Sitting",
                object_id="batch",
                detail={"sittings": sorted(row["id"] for row in expired)},
                conn=conn,
                at=now,
            )
    events: list[Event] = [
        SittingStatusChanged(row["organisation_id"], row["id"], selected, unselected, now)
        for row in sorted(was_selected, key=lambda r: r["id"])
    ]
    events.extend(
        SittingStatusChanged(row["organisation_id"], row["id"], unselected, CertificationStatus.INELIGIBLE.value, now)
        for row in sorted(expired, key=lambda r: r["id"])
    )
    return (len(expired), len(was_selected)), events


async def _claim_reminder_batch(now: datetime, policy: LifecyclePolicy, limit: int) -> tuple[Counts, list[Event]]:
    """Claim reminders due: each (certificate, deadline, lead) once; one message per certificate per run."""
    if not policy.claim_reminders:
        return (0,), []
    statuses = [CertificateStatus.AWAITING_CLAIM.value, CertificateStatus.REJECTED.value]
    leads = [int(lead.total_seconds()) for lead in policy.claim_reminders]
    return await _remind(
        now,
        limit,
        kind=ReminderKind.CLAIM,
        notification=NotificationKind.CLAIM_REMINDER,
        statuses=statuses,
        moment="c.claim_deadline",
        leads=leads,
    )


async def _expiry_reminder_batch(now: datetime, policy: LifecyclePolicy, limit: int) -> tuple[Counts, list[Event]]:
    """The expiry reminder of ISSUED certificates whose sitting expires within ``policy.expiry_reminder``."""
    return await _remind(
        now,
        limit,
        kind=ReminderKind.EXPIRY,
        notification=NotificationKind.CERTIFICATE_EXPIRING,
        statuses=[CertificateStatus.ISSUED.value],
        moment="s.expires_at",
        leads=[int(policy.expiry_reminder.total_seconds())],
    )


async def _remind(
    now: datetime,
    limit: int,
    *,
    kind: ReminderKind,
    notification: NotificationKind,
    statuses: list[str],
    moment: str,
    leads: list[int],
) -> tuple[Counts, list[Event]]:
    """Record the due reminders (INSERT … ON CONFLICT DO NOTHING) and message each certificate newly reminded.

    A reminder is due when ``moment − lead ≤ now < moment``; the lead's cut-off
    instants are computed here so the SQL compares columns with parameters only.
    The batch is ``limit`` certificates, each with every lead due for it, so a
    certificate whose several leads are due at once gets one message and all
    of them are recorded.
    """
    async with transaction() as conn:
        if not await _locked(conn, REMINDER_LOCK):
            return (0,), []
        stmt = Statement(conn)
        # PostgreSQL cannot infer a bare parameter's type in a select list; SQLite must not convert the text.
        number, instant = ("CAST({} AS BIGINT)", "CAST({} AS TIMESTAMPTZ)") if stmt.postgres else ("{}", "{}")
        cutoffs = " UNION ALL ".join(
            f"SELECT {number.format(stmt.param(lead))} AS lead_seconds, "
            f"{instant.format(stmt.param(now + timedelta(seconds=lead)))} AS cutoff"
            for lead in leads
        )
        at, reminder_kind = stmt.param(now), stmt.param(kind.value)
        rows = await stmt.fetch(
            f"WITH leads AS ({cutoffs}) "
            "INSERT INTO reminder (certificate_id, kind, due_for, lead_seconds, sent_at) "
            f"SELECT d.id, {reminder_kind}, d.due_for, l.lead_seconds, {at} FROM ("
            f"SELECT c.id, {moment} AS due_for FROM certificate c JOIN sitting s ON s.id = c.sitting_id "
            f"WHERE c.status IN ({_in(stmt, statuses)}) AND {moment} > {at} AND EXISTS (SELECT 1 FROM leads l "
            f"WHERE {moment} <= l.cutoff AND NOT EXISTS (SELECT 1 FROM reminder r WHERE r.certificate_id = c.id "
            f"AND r.kind = {reminder_kind} AND r.due_for = {moment} AND r.lead_seconds = l.lead_seconds)) "
            f"ORDER BY c.id LIMIT {stmt.param(limit)}) d JOIN leads l ON d.due_for <= l.cutoff WHERE 1 = 1 "
            "ON CONFLICT (certificate_id, kind, due_for, lead_seconds) DO NOTHING RETURNING certificate_id"
        )
        if not rows:
            return (0,), []
        reminded = sorted({row["certificate_id"] for row in rows})
        notified = await _notify(conn, reminded, notification, now)
    return (len(reminded),), [NotificationCreated(test_taker, pk, now) for test_taker, pk in notified]
