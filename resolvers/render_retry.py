"""Retrying a render that failed for good, for the security team and platform admins (docs/RULES.md, "Rendering").

A render that failed after its last attempt leaves the certificate APPROVED
with ``render_error`` and no ``render_next_at``. A reviewer can queue it again
by approving again (:func:`resolvers.review.approve_certificate`); a platform
admin, who does not decide on claims, queues it again with ``retryRender``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from models import Certificate
from models.enums import CertificateStatus
from resolvers import access
from resolvers.access import Operation
from resolvers.audit import record_audit
from resolvers.errors import DomainError, ErrorCode
from resolvers.principal import Principal
from resolvers.sql import transaction

FIELD = ["input", "certificateId"]


async def retry_render(*, principal: Principal, certificate_id: int | None) -> Certificate:
    """Queue the failed render of an APPROVED certificate again (due now, attempts from zero); return the certificate.

    ``render_error`` is cleared; the audit row keeps it.

    Raises:
        Forbidden: not a security reviewer or platform admin (rule ``retryRender``).
        DomainError: NOT_FOUND (no such certificate in sight); INVALID_TRANSITION when its render has not
            failed for good (still queued, rendering, or the certificate is not APPROVED).
    """
    access.require(principal, Operation.RETRY_RENDER)
    certificate = None
    if certificate_id is not None:
        certificate = await access.visible_certificates(principal).get_or_none(id=certificate_id)
    if certificate is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no such certificate", FIELD)
    if not await requeue_given_up_render(principal, certificate, datetime.now(UTC)):
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"only an APPROVED certificate whose render failed for good can be retried (it is {certificate.status})",
            FIELD,
        )
    return await Certificate.get(id=certificate.id)


async def requeue_given_up_render(principal: Principal, certificate: Certificate, now: datetime) -> bool:
    """Queue ``certificate``'s given-up render again (due ``now``, attempts from zero) with its audit row.

    False, with nothing written, when it is no longer an APPROVED certificate whose render failed for good
    (another request queued it first). Used by ``retryRender`` and by a reviewer's approving again.
    """
    async with transaction() as conn:
        requeued = await (
            Certificate.filter(
                id=certificate.id,
                status=CertificateStatus.APPROVED,
                render_error__isnull=False,
                render_next_at__isnull=True,
            )
            .using_db(conn)
            .update(render_attempts=0, render_next_at=now, render_error=None, updated_at=now)
        )
        if requeued:
            await record_audit(
                actor=principal,
                action="retry_render",
                object_type="Certificate",
                object_id=certificate.id,
                detail={"render_error": certificate.render_error},
                conn=conn,
            )
    return bool(requeued)
