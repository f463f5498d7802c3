"""Certifying sittings: spend credits, open certificates, notify test takers — all or nothing.

Rules: docs/RULES.md, "Certification" and "Idempotency". The
work is a fixed handful of set-based statements whatever the number of
sittings: mark the sittings, spend the credits with one conditional UPDATE,
write the ledger row, then INSERT … SELECT the certificates, notifications
and outbox e-mails. Any failure rolls the whole transaction back.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from models import CreditTransaction, IdempotencyRecord, Organisation
from models.enums import (
    CertificateStatus,
    CertificationStatus,
    CreditTransactionKind,
    EmailTemplate,
    NotificationKind,
)
from models.transitions import sources_of
from resolvers import access
from resolvers.access import Operation
from resolvers.audit import record_audit
from resolvers.errors import DomainError, ErrorCode
from resolvers.lifecycle_policy import DEFAULT_POLICY, LifecyclePolicy
from resolvers.principal import Principal
from resolvers.selection import Selection, target_queryset
from resolvers.sql import Statement, lock_organisation, transaction
from resolvers.text import has_control_characters
from resolvers.wording import count
from subscriptions.events import CreditBalanceChanged, Event, NotificationCreated, Publisher, SittingStatusChanged

READY_TITLE = "Your certificate is ready to claim"
MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class CertificationResult:
    """What a certification did: sittings certified, credits spent, balance after."""

    certified_count: int
    credits_spent: int
    credit_balance: int


async def confirm_certification(
    *, principal: Principal, idempotency_key: str, publisher: Publisher, policy: LifecyclePolicy = DEFAULT_POLICY
) -> CertificationResult:
    """Certify every SELECTED sitting of the principal's organisation (the dashboard's "done").

    Each certificate's claim deadline is the certification time plus ``policy.claim_window``, or its
    sitting's expiry if sooner.

    Raises:
        Forbidden: not an org admin (rule ``confirmCertification``).
        DomainError: NOTHING_SELECTED, INSUFFICIENT_CREDITS, IDEMPOTENCY_KEY_REUSED, INVALID_INPUT.
    """
    selection = Selection(filter=None, all=True)
    return await _certify(
        principal=principal,
        operation=Operation.CONFIRM_CERTIFICATION,
        selection=selection,
        only_selected=True,
        request={"operation": "confirmCertification"},
        idempotency_key=idempotency_key,
        publisher=publisher,
        policy=policy,
    )


async def certify_sittings(
    *,
    principal: Principal,
    selection: Selection,
    idempotency_key: str,
    publisher: Publisher,
    policy: LifecyclePolicy = DEFAULT_POLICY,
) -> CertificationResult:
    """Certify exactly the selection's UNSELECTED or SELECTED sittings (select and confirm in one).

    Each certificate's claim deadline is the certification time plus ``policy.claim_window``, or its
    sitting's expiry if sooner.

    Raises:
        Forbidden: not an org admin (rule ``certifySittings``).
        DomainError: INVALID_INPUT, NOT_FOUND (another organisation's sitting), NOT_ELIGIBLE,
            INVALID_TRANSITION, NOTHING_SELECTED, INSUFFICIENT_CREDITS, IDEMPOTENCY_KEY_REUSED.
    """
    return await _certify(
        principal=principal,
        operation=Operation.CERTIFY_SITTINGS,
        selection=selection,
        only_selected=False,
        request={"operation": "certifySittings", "selection": selection.fingerprint()},
        idempotency_key=idempotency_key,
        publisher=publisher,
        policy=policy,
    )


def _request_hash(request: dict) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


async def _certify(
    *,
    principal: Principal,
    operation: Operation,
    selection: Selection,
    only_selected: bool,
    request: dict,
    idempotency_key: str,
    publisher: Publisher,
    policy: LifecyclePolicy,
) -> CertificationResult:
    organisation_id = access.require_organisation(principal, operation)
    key = idempotency_key
    _check_key(key)
    request_hash = _request_hash(request)
    now = datetime.now(UTC)
    batch = uuid.uuid4().hex
    async with transaction() as conn:
        await lock_organisation(conn, organisation_id)
        stored = await _stored_result(organisation_id, key, request_hash)
        if stored is not None:
            return stored
        queryset = await target_queryset(organisation_id, selection, CertificationStatus.IN_PROGRESS)
        certified = await _mark_sittings(conn, queryset, _sources(only_selected), principal, batch, now)
        if not certified:
            raise DomainError(ErrorCode.NOTHING_SELECTED, "no sitting to certify", ["input"])
        balance = await _spend_credits(conn, organisation_id, len(certified), reference=batch, actor=principal.actor)
        notified = await _open_certificates(conn, batch, now, policy.claim_deadline(now))
        result = CertificationResult(len(certified), len(certified), balance)
        await IdempotencyRecord.create(
            organisation_id=organisation_id, key=key, request_hash=request_hash, result=asdict(result), using_db=conn
        )
        await record_audit(
            actor=principal,
            action="certify",
            object_type="Organisation",
            object_id=organisation_id,
            detail={"batch": batch, "sittings": len(certified), "idempotency_key": key},
            conn=conn,
        )
    await publisher.publish(_events(organisation_id, certified, notified, balance, now))
    return result


def _check_key(key: str) -> None:
    """Raise INVALID_INPUT unless ``key`` is 1–200 printable characters, not all blank."""
    if not key.strip() or len(key) > MAX_KEY_LENGTH or has_control_characters(key):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "idempotencyKey must be 1–200 printable characters", ["input", "idempotencyKey"]
        )


async def _stored_result(organisation_id: int, key: str, request_hash: str) -> CertificationResult | None:
    """The result stored under ``key`` for this same request, or None when the key is unused.

    Raises:
        DomainError: IDEMPOTENCY_KEY_REUSED when the key served a different request.
    """
    stored = await IdempotencyRecord.get_or_none(organisation_id=organisation_id, key=key)
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was used for a different request",
            ["input", "idempotencyKey"],
        )
    return CertificationResult(**stored.result)


def _sources(only_selected: bool) -> list[CertificationStatus]:
    """The statuses certifying moves from: the table's sources of IN_PROGRESS, SELECTED alone for a confirmation."""
    sources = sources_of(CertificationStatus.IN_PROGRESS)
    return [s for s in sources if s is CertificationStatus.SELECTED] if only_selected else sources


def _events(
    organisation_id: int,
    certified: list[tuple[int, str]],
    notified: list[tuple[int, int]],
    balance: int,
    at: datetime,
) -> Iterator[Event]:
    """One status change per certified sitting, the balance change, one notification per test taker told.

    Made as the publisher reads them, which gives the event loop turns in between (200,000 events for
    100,000 sittings).
    """
    in_progress = CertificationStatus.IN_PROGRESS.value
    for pk, previous in certified:
        yield SittingStatusChanged(organisation_id, pk, previous, in_progress, at)
    yield CreditBalanceChanged(organisation_id, balance, -len(certified), at)
    for test_taker_id, notification_id in notified:
        yield NotificationCreated(test_taker_id, notification_id, at)


async def _mark_sittings(conn, queryset, sources, principal, batch, now) -> list[tuple[int, str]]:
    """Move the target sittings to IN_PROGRESS; return (id, previous status) per sitting.

    A sitting was SELECTED before exactly when it has a ``selected_at``.
    """
    stmt = Statement(conn)
    sql = (
        f"UPDATE sitting SET status = {stmt.param(CertificationStatus.IN_PROGRESS.value)}, "
        f"certified_at = {stmt.param(now)}, certified_by = {stmt.param(principal.actor)}, "
        f"certification_batch = {stmt.param(batch)}, updated_at = {stmt.param(now)} "
        f"WHERE id IN ({stmt.subquery(queryset.values_list('id', flat=True))}) "
        f"AND status IN ({', '.join(stmt.param(s.value) for s in sources)}) "
        "RETURNING id, selected_at"
    )
    rows = await stmt.fetch(sql)
    selected, unselected = CertificationStatus.SELECTED.value, CertificationStatus.UNSELECTED.value
    return [(row["id"], selected if row["selected_at"] is not None else unselected) for row in rows]


async def _spend_credits(conn, organisation_id: int, credits: int, *, reference: str, actor: str) -> int:
    """Spend ``credits`` with one conditional UPDATE and write its ledger row; return the balance after.

    Raises:
        DomainError: INSUFFICIENT_CREDITS when the balance is lower (nothing changes).
    """
    stmt = Statement(conn)
    amount = stmt.param(credits)
    sql = (
        f"UPDATE organisation SET credit_balance = credit_balance - {amount} "
        f"WHERE id = {stmt.param(organisation_id)} AND credit_balance >= {amount} RETURNING credit_balance"
    )
    rows = await stmt.fetch(sql)
    if not rows:
        balance = (await Organisation.get(id=organisation_id).using_db(conn)).credit_balance
        raise DomainError(
            ErrorCode.INSUFFICIENT_CREDITS,
            f"certifying {count(credits, 'sitting')} needs {count(credits, 'credit')}; "
            f"the balance is {count(balance, 'credit')}",
            ["input"],
        )
    balance = rows[0]["credit_balance"]
    await CreditTransaction.create(
        organisation_id=organisation_id,
        kind=CreditTransactionKind.CERTIFICATION,
        delta=-credits,
        balance_after=balance,
        reference=reference,
        actor=actor,
        using_db=conn,
    )
    return balance


async def _open_certificates(conn, batch: str, now: datetime, deadline: datetime) -> list[tuple[int, int]]:
    """INSERT … SELECT one certificate, notification and outbox e-mail per sitting of ``batch``.

    Returns (test taker id, notification id) per notification opened.

    The new certificates are joined as each sitting's current one (``status <> 'LAPSED'``, a
    literal), the predicate of the unique index ``certificate_current_sitting`` (migration 0006), so
    both databases look each up by that index. Joined by ``status = AWAITING_CLAIM``, PostgreSQL,
    whose statistics know neither the new batch nor the new certificates, estimated one row each
    side and scanned every AWAITING_CLAIM certificate once per sitting (minutes for 20,000).
    """
    opened = CertificateStatus.AWAITING_CLAIM.value
    current = f"c.status <> '{CertificateStatus.LAPSED.value}'"
    stmt = Statement(conn)
    await stmt.run(
        "INSERT INTO certificate (sitting_id, status, render_attempts, claim_deadline, created_at, updated_at) "
        f"SELECT id, {stmt.param(opened)}, 0, CASE WHEN expires_at < {stmt.param(deadline)} THEN expires_at "
        f"ELSE {stmt.param(deadline)} END, {stmt.param(now)}, {stmt.param(now)} "
        f"FROM sitting WHERE certification_batch = {stmt.param(batch)}"
    )
    stmt = Statement(conn)
    notified = await stmt.fetch(
        "INSERT INTO notification (test_taker_id, kind, title, body, certificate_id, created_at) "
        f"SELECT s.test_taker_id, {stmt.param(NotificationKind.CERTIFICATE_READY_TO_CLAIM.value)}, "
        f"{stmt.param(READY_TITLE)}, "
        f"{stmt.param('Your certificate for ')} || t.name || {stmt.param(' (score ')} || {stmt.grouped('s.score')} || "
        # The score on its scale, as resolvers/wording.py's score_text writes it.
        f"CASE WHEN t.score_max IS NULL THEN {stmt.param('')} "
        f"ELSE {stmt.param(' / ')} || {stmt.grouped('t.score_max')} END || "
        f"{stmt.param(') is ready. Add your name and photo to claim it.')}, c.id, {stmt.param(now)} "
        "FROM sitting s JOIN certificate c ON c.sitting_id = s.id JOIN test t ON t.id = s.test_id "
        f"WHERE s.certification_batch = {stmt.param(batch)} AND {current} "
        "RETURNING test_taker_id, id"
    )
    stmt = Statement(conn)
    await stmt.run(
        "INSERT INTO outbox_email (to_address, template, certificate_id, attempts, next_attempt_at, created_at) "
        f"SELECT tt.email, {stmt.param(EmailTemplate.CERTIFICATE_READY_TO_CLAIM.value)}, c.id, 0, "
        f"{stmt.param(now)}, {stmt.param(now)} "
        "FROM sitting s JOIN certificate c ON c.sitting_id = s.id JOIN test_taker tt ON tt.id = s.test_taker_id "
        f"WHERE s.certification_batch = {stmt.param(batch)} AND {current}"
    )
    return [(row["test_taker_id"], row["id"]) for row in notified]
