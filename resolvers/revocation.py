"""An organisation's hold on its certificates after certification: revoking one, giving more time to claim one.

Rules: docs/RULES.md, "The certificate's life". Both verbs are for the
organisation's admins (their own organisation's certificates) and platform
admins; another organisation's certificate is NOT_FOUND, like an unknown one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from models import Certificate, Sitting, TestTaker
from models.enums import CertificateStatus, NotificationKind
from models.transitions import sources_of
from resolvers import access
from resolvers.access import Operation
from resolvers.audit import record_audit
from resolvers.errors import DomainError, ErrorCode
from resolvers.lifecycle_policy import MAX_DURATION, claimable_until
from resolvers.messages import notify_test_taker
from resolvers.principal import Principal
from resolvers.sql import change_status, transaction
from resolvers.text import clean_reason
from resolvers.wording import utc_minute
from subscriptions.events import CertificateRevoked, NotificationCreated, Publisher

FIELD = ["input", "certificateId"]
REVOKED_TITLE = "Your certificate has been revoked"
EXTENDABLE = tuple(sources_of(CertificateStatus.LAPSED))
"""The statuses whose claim deadline can move: those that can still lapse (AWAITING_CLAIM, REJECTED)."""


async def _certificate_in_sight(principal: Principal, operation: Operation, certificate_id: int | None) -> Certificate:
    access.require(principal, operation)
    certificate = None
    if certificate_id is not None:
        certificate = await access.visible_certificates(principal).get_or_none(id=certificate_id)
    if certificate is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no such certificate", FIELD)
    return certificate


def _ensure_revocable(status: str) -> None:
    if status not in sources_of(CertificateStatus.REVOKED):
        message = f"only an ISSUED certificate can be revoked (it is {status})"
        raise DomainError(ErrorCode.INVALID_TRANSITION, message, FIELD)


async def revoke_certificate(
    *, principal: Principal, certificate_id: int | None, reason: str, publisher: Publisher
) -> Certificate:
    """Revoke an ISSUED certificate for good and tell its holder; the sitting stays CERTIFIED, no credit comes back.

    Raises:
        Forbidden: not an org admin or platform admin (rule ``revokeCertificate``).
        DomainError: NOT_FOUND (unknown, or another organisation's), INVALID_INPUT (the reason: 1–1,000
            printable characters), INVALID_TRANSITION (not ISSUED).
    """
    certificate = await _certificate_in_sight(principal, Operation.REVOKE_CERTIFICATE, certificate_id)
    _ensure_revocable(certificate.status)
    reason = clean_reason(reason)
    sitting = await Sitting.get(id=certificate.sitting_id).select_related("test")
    test_taker = await TestTaker.get(id=sitting.test_taker_id)
    now = datetime.now(UTC)
    async with transaction() as conn:
        revoked = await change_status(
            conn,
            Certificate,
            certificate.id,
            CertificateStatus.REVOKED,
            revoked_at=now,
            revoked_by=principal.actor,
            revocation_reason=reason,
            updated_at=now,
        )
        if not revoked:
            raise DomainError(ErrorCode.INVALID_TRANSITION, "the certificate was revoked meanwhile", FIELD)
        notification = await notify_test_taker(
            conn,
            test_taker=test_taker,
            certificate_id=certificate.id,
            kind=NotificationKind.CERTIFICATE_REVOKED,
            title=REVOKED_TITLE,
            body=f"Your certificate for {sitting.test.name} has been revoked and is no longer valid: {reason}",
            at=now,
        )
        await record_audit(
            actor=principal,
            action="revoke_certificate",
            object_type="Certificate",
            object_id=certificate.id,
            detail={"reason": reason},
            conn=conn,
        )
    await publisher.publish(
        [
            NotificationCreated(test_taker.id, notification.id, now),
            CertificateRevoked(sitting.organisation_id, certificate.id, now),
        ]
    )
    return await Certificate.get(id=certificate.id)


def _check_new_deadline(new: datetime, current: datetime | None, expires: datetime | None, now: datetime) -> None:
    """Raises INVALID_INPUT on ``["input", "claimDeadline"]`` unless ``new`` is later than ``current`` and ``now``,
    at most ten years away (``MAX_DURATION``) and not after the sitting's expiry."""
    problem = None
    if new <= now or (current is not None and new <= current):
        shown = utc_minute(current) if current else "none"
        problem = f"the new claim deadline must be in the future and later than the current one ({shown})"
    elif new > now + MAX_DURATION:
        problem = "the new claim deadline must be at most ten years away"
    elif expires is not None and new > expires:
        problem = f"the new claim deadline must not be after the result expires ({utc_minute(expires)})"
    if problem:
        raise DomainError(ErrorCode.INVALID_INPUT, problem, ["input", "claimDeadline"])


async def extend_claim_deadline(
    *, principal: Principal, certificate_id: int | None, claim_deadline: datetime
) -> Certificate:
    """Move the claim deadline of an AWAITING_CLAIM or REJECTED certificate later; its reminders arm again.

    Raises:
        Forbidden: not an org admin or platform admin (rule ``extendClaimDeadline``).
        DomainError: NOT_FOUND (unknown, or another organisation's), INVALID_TRANSITION (any other status),
            or the deadline has already passed (it lapses), INVALID_INPUT naming ``["input", "claimDeadline"]``
            (not later than the current deadline, past, over ten years away or after the sitting's expiry).
    """
    certificate = await _certificate_in_sight(principal, Operation.EXTEND_CLAIM_DEADLINE, certificate_id)
    if certificate.status not in EXTENDABLE:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"only an AWAITING_CLAIM or REJECTED certificate has a claim deadline to move (it is {certificate.status})",
            FIELD,
        )
    now = datetime.now(UTC)
    claim_deadline = claim_deadline.astimezone(UTC)
    current = certificate.claim_deadline
    expires = (await Sitting.get(id=certificate.sitting_id)).expires_at
    until = claimable_until(current, expires)
    if until is not None and until <= now:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"the claim deadline passed on {utc_minute(until)}: the certificate has lapsed",
            FIELD,
        )
    _check_new_deadline(claim_deadline, current, expires, now)
    async with transaction() as conn:
        moved = (
            await Certificate.filter(id=certificate.id, status__in=EXTENDABLE, claim_deadline=current)
            .using_db(conn)
            .update(claim_deadline=claim_deadline, updated_at=now)
        )
        if not moved:
            raise DomainError(ErrorCode.INVALID_TRANSITION, "the certificate changed meanwhile; read it again", FIELD)
        await record_audit(
            actor=principal,
            action="extend_claim_deadline",
            object_type="Certificate",
            object_id=certificate.id,
            detail={"from": current.isoformat() if current else None, "to": claim_deadline.isoformat()},
            conn=conn,
        )
    return await Certificate.get(id=certificate.id)
