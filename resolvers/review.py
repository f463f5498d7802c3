"""Security review of claimed certificates: the queue, approve and reject.

Rules: docs/RULES.md, "Certificate statuses", "Claims and review" and
"Who sees what". Approving gives the certificate its verification code,
queues a durable render (:mod:`workers.rendering`) and tells the test taker
in-app (the issue e-mail follows the render); rejecting records the reason
and tells the test taker (in-app and e-mail), who may claim again.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from models import (
    Certificate,
    Sitting,
    TestTaker,
)
from models.enums import CertificateStatus, NotificationKind
from models.sitting import fold
from models.transitions import TransitionError, ensure_transition
from resolvers import access
from resolvers.access import Operation
from resolvers.audit import record_audit
from resolvers.errors import BadArgument, DomainError, ErrorCode
from resolvers.lifecycle_policy import DEFAULT_POLICY, LifecyclePolicy
from resolvers.messages import notify_in_app, notify_test_taker, rejected_body
from resolvers.pagination import Page, SortKey, paginate
from resolvers.principal import Principal
from resolvers.render_retry import requeue_given_up_render
from resolvers.sittings import MAX_SEARCH_LENGTH
from resolvers.sql import change_status, transaction
from resolvers.text import clean_reason, has_control_characters
from resolvers.verification import CODE_ALPHABET, CODE_GROUP_LENGTH, CODE_GROUPS
from subscriptions.events import (
    Event,
    NotificationCreated,
    Publisher,
    ReviewQueueChanged,
)

CODE_ATTEMPTS = 5
REJECTED_TITLE = "Your certificate claim needs changes"
APPROVED_TITLE = "Your certificate claim has been approved"


def new_verification_code() -> str:
    """A random public code such as ``7K3M-Q9XD-2HVT-R8BN`` (80 bits from ``secrets``)."""
    symbols = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LENGTH))
    return "-".join(symbols[i : i + CODE_GROUP_LENGTH] for i in range(0, len(symbols), CODE_GROUP_LENGTH))


def in_review_queue() -> Q:
    """Claims waiting for a decision, and approved certificates whose render failed for good."""
    return Q(status=CertificateStatus.UNDER_REVIEW) | Q(
        status=CertificateStatus.APPROVED, render_error__isnull=False, render_next_at__isnull=True
    )


async def review_queue(
    *, principal: Principal, first: int | None, after: str | None, search: str | None = None, newest_first: bool = False
) -> Page[Certificate]:
    """The review queue, oldest submission first (newest first when ``newest_first``).

    ``search`` (blank: none) keeps the claims whose test taker's name or e-mail contains it, folded as the
    sittings' search folds it, or whose submitted holder name contains it case-insensitively.

    Raises:
        Forbidden: not a security reviewer or platform admin (rule ``reviewQueue``).
        BadArgument: ``first`` outside 1–500, a malformed cursor, or a search longer than 200 characters
            or holding control characters.
    """
    access.require(principal, Operation.REVIEW_QUEUE)
    queryset = Certificate.filter(in_review_queue())
    needle = (search or "").strip()
    if needle:
        if len(needle) > MAX_SEARCH_LENGTH or has_control_characters(needle):
            raise BadArgument(f"search must be at most {MAX_SEARCH_LENGTH} printable characters")
        queryset = queryset.filter(
            Q(sitting__test_taker__search_key__contains=fold(needle)) | Q(holder_name__icontains=needle)
        )
    return await paginate(queryset, SortKey("submitted_at", descending=newest_first), first=first, after=after)


async def approve_certificate(*, principal: Principal, certificate_id: int | None, publisher: Publisher) -> Certificate:
    """Approve a claim: APPROVED, a fresh verification code, a render queued now, and the test taker told in-app.

    Approving an APPROVED certificate whose render failed after its last
    retry queues the render again (and clears ``render_error``); that is the
    retry asked for in docs/RULES.md, "Rendering", not a status transition.

    Raises:
        Forbidden: not a security reviewer (rule ``approveCertificate``).
        DomainError: NOT_FOUND (no such certificate, or one outside the
            reviewer's sight: not UNDER_REVIEW or APPROVED), INVALID_TRANSITION
            (APPROVED and its render not given up).
    """
    access.require(principal, Operation.APPROVE_CERTIFICATE)
    certificate = await _reviewable(principal, certificate_id)
    now = datetime.now(UTC)
    if _render_given_up(certificate):
        await requeue_given_up_render(principal, certificate, now)
        return await Certificate.get(id=certificate.id)
    _ensure(certificate.status, CertificateStatus.APPROVED)
    sitting = await Sitting.get(id=certificate.sitting_id).select_related("test")
    for attempt in range(CODE_ATTEMPTS):
        try:
            notification_id = await _approve(principal, certificate, sitting, new_verification_code(), now)
            break
        except IntegrityError:
            # Two approvals drew the same code (p ≈ 2^-80): draw again.
            if attempt == CODE_ATTEMPTS - 1:
                raise
    await publisher.publish(
        [
            ReviewQueueChanged(certificate.id, sitting.organisation_id, "APPROVED", now),
            NotificationCreated(sitting.test_taker_id, notification_id, now),
        ]
    )
    return await Certificate.get(id=certificate.id)


async def reject_certificate(
    *,
    principal: Principal,
    certificate_id: int | None,
    reason: str,
    publisher: Publisher,
    policy: LifecyclePolicy = DEFAULT_POLICY,
) -> Certificate:
    """Reject a claim with ``reason`` (1–1000 characters); notify the test taker in-app and by e-mail.

    A passed or near claim deadline moves a window on (:meth:`LifecyclePolicy.deadline_after_rejection`).

    Raises:
        Forbidden: not a security reviewer (rule ``rejectCertificate``).
        DomainError: NOT_FOUND (no such certificate, or one outside the reviewer's
            sight), INVALID_INPUT (empty or too long reason), INVALID_TRANSITION (APPROVED).
    """
    access.require(principal, Operation.REJECT_CERTIFICATE)
    certificate = await _reviewable(principal, certificate_id)
    _ensure(certificate.status, CertificateStatus.REJECTED)
    reason = clean_reason(reason)
    sitting = await Sitting.get(id=certificate.sitting_id).select_related("test")
    test_taker = await TestTaker.get(id=sitting.test_taker_id)
    now = datetime.now(UTC)
    async with transaction() as conn:
        updated = await change_status(
            conn,
            Certificate,
            certificate.id,
            CertificateStatus.REJECTED,
            rejection_reason=reason,
            reviewed_at=now,
            reviewed_by=principal.actor,
            claim_deadline=policy.deadline_after_rejection(certificate.claim_deadline, now, sitting.expires_at),
            updated_at=now,
        )
        if not updated:
            raise await _lost_race(principal, certificate.id, CertificateStatus.REJECTED)
        notification = await notify_test_taker(
            conn,
            test_taker=test_taker,
            certificate_id=certificate.id,
            kind=NotificationKind.CERTIFICATE_REJECTED,
            title=REJECTED_TITLE,
            body=rejected_body(sitting.test.name, reason),
            at=now,
        )
        await record_audit(
            actor=principal,
            action="reject_certificate",
            object_type="Certificate",
            object_id=certificate.id,
            detail={"reason": reason},
            conn=conn,
        )
    events: list[Event] = [ReviewQueueChanged(certificate.id, sitting.organisation_id, "REJECTED", now)]
    events.append(NotificationCreated(test_taker.id, notification.id, now))
    await publisher.publish(events)
    return await Certificate.get(id=certificate.id)


async def _reviewable(principal: Principal, certificate_id: int | None) -> Certificate:
    """The certificate to decide on among those ``principal`` may read; NOT_FOUND otherwise.

    A certificate outside the reviewer's sight (awaiting its claim, rejected,
    issued) is NOT_FOUND like a missing one, so the answer never tells its status.
    """
    certificate = None
    if certificate_id is not None:
        certificate = await access.visible_certificates(principal).get_or_none(id=certificate_id)
    if certificate is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no such certificate", ["input", "certificateId"])
    return certificate


def _render_given_up(certificate: Certificate) -> bool:
    return (
        certificate.status == CertificateStatus.APPROVED
        and certificate.render_error is not None
        and certificate.render_next_at is None
    )


def _ensure(current: str, target: CertificateStatus) -> None:
    try:
        ensure_transition(CertificateStatus(current), target)
    except TransitionError as error:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"a certificate that is {current} cannot become {target}",
            ["input", "certificateId"],
        ) from error


async def _lost_race(principal: Principal, certificate_id: int, target: CertificateStatus) -> DomainError:
    current = await access.visible_certificates(principal).get_or_none(id=certificate_id)
    if current is None:
        return DomainError(ErrorCode.NOT_FOUND, "no such certificate", ["input", "certificateId"])
    try:
        _ensure(current.status, target)
    except DomainError as error:
        return error
    return DomainError(
        ErrorCode.INVALID_TRANSITION, "the certificate changed meanwhile; try again", ["input", "certificateId"]
    )


async def _approve(principal: Principal, certificate: Certificate, sitting: Sitting, code: str, now: datetime) -> int:
    """Mark it APPROVED with ``code`` and write the test taker's notification, in one transaction; its ID."""
    async with transaction() as conn:
        updated = await change_status(
            conn,
            Certificate,
            certificate.id,
            CertificateStatus.APPROVED,
            reviewed_at=now,
            reviewed_by=principal.actor,
            rejection_reason=None,
            verification_code=code,
            render_attempts=0,
            render_next_at=now,
            render_error=None,
            updated_at=now,
        )
        if not updated:
            raise await _lost_race(principal, certificate.id, CertificateStatus.APPROVED)
        notification = await notify_in_app(
            conn,
            test_taker_id=sitting.test_taker_id,
            certificate_id=certificate.id,
            kind=NotificationKind.CERTIFICATE_APPROVED,
            title=APPROVED_TITLE,
            body=f"Your claim for the {sitting.test.name} certificate was approved. Your certificate is being issued: "
            "we e-mail you when it is ready to download.",
        )
        await record_audit(
            actor=principal,
            action="approve_certificate",
            object_type="Certificate",
            object_id=certificate.id,
            detail={"verification_code": code},
            conn=conn,
        )
    return notification.id
