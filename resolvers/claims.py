"""A test taker claims their certificate: the name to print and a photo, sent to security review.

Rules: DESIGN.md, "Certificate status" (AWAITING_CLAIM or REJECTED →
UNDER_REVIEW) and issue 3 (name and photo checks in :mod:`resolvers.holder`).
A refused claim stores nothing: inputs are checked before the photo is
written, and a claim that loses a race removes the photo it wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from models import AuditEvent, Certificate, Sitting
from models.enums import CertificateStatus
from models.transitions import CERTIFICATE_TRANSITIONS, can_transition
from resolvers.errors import DomainError, ErrorCode
from resolvers.holder import normalise_holder_name, sanitise_photo
from resolvers.principal import Principal
from resolvers.sql import transaction
from adapters.storage import FileStorage, new_key
from subscriptions.events import Publisher, ReviewQueueChanged

PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_PIXELS = 40_000_000
PHOTO_MIN_SIDE = 300
CLAIMABLE = tuple(s for s, targets in CERTIFICATE_TRANSITIONS.items() if CertificateStatus.UNDER_REVIEW in targets)


async def claim_certificate(
    *,
    principal: Principal,
    sitting_id: int | None,
    holder_name: str,
    photo: bytes,
    storage: FileStorage,
    publisher: Publisher,
) -> Certificate:
    """Submit ``holder_name`` and ``photo`` (the uploaded bytes) for the sitting's certificate.

    The name is stored NFC-normalised; the photo is re-encoded as a
    metadata-free JPEG (at most 10 MB, 40 megapixels, sides ≥ 300 px) under
    a fresh storage key. A previous (rejected) photo is deleted.

    Raises:
        Forbidden: not a test taker.
        DomainError: NOT_FOUND (not the caller's sitting), INVALID_TRANSITION
            (no certificate, or not AWAITING_CLAIM / REJECTED), INVALID_NAME, INVALID_PHOTO.
    """
    test_taker_id = principal.require_test_taker()
    sitting = None
    if sitting_id is not None:
        sitting = await Sitting.get_or_none(id=sitting_id, test_taker_id=test_taker_id)
    if sitting is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no such sitting", ["input", "sittingId"])
    certificate = await Certificate.get_or_none(sitting_id=sitting.id)
    if certificate is None:
        raise DomainError(ErrorCode.INVALID_TRANSITION, "this sitting has no certificate to claim", ["input", "sittingId"])
    if not can_transition(CertificateStatus(certificate.status), CertificateStatus.UNDER_REVIEW):
        raise _not_claimable(certificate.status)
    name = normalise_holder_name(holder_name)
    sanitised = await asyncio.to_thread(
        sanitise_photo, photo, max_bytes=PHOTO_MAX_BYTES, max_pixels=PHOTO_MAX_PIXELS, min_side=PHOTO_MIN_SIDE
    )
    key = new_key("photos", "jpg")
    await storage.put(key, sanitised.jpeg)
    now = datetime.now(UTC)
    try:
        async with transaction() as conn:
            updated = await Certificate.filter(id=certificate.id, status__in=list(CLAIMABLE)).using_db(conn).update(
                status=CertificateStatus.UNDER_REVIEW,
                holder_name=name,
                photo_key=key,
                submitted_at=now,
                reviewed_at=None,
                reviewed_by=None,
                rejection_reason=None,
                updated_at=now,
            )
            if not updated:
                current = await Certificate.get(id=certificate.id).using_db(conn)
                raise _not_claimable(current.status)
            await AuditEvent.create(
                actor=principal.actor,
                actor_role=principal.role.value,
                action="claim_certificate",
                object_type="Certificate",
                object_id=str(certificate.id),
                detail={"photo_key": key, "photo_size": [sanitised.width, sanitised.height]},
                using_db=conn,
            )
    except BaseException:
        await storage.delete(key)
        raise
    if certificate.photo_key and certificate.photo_key != key:
        with contextlib.suppress(OSError, ValueError):
            await storage.delete(certificate.photo_key)
    await publisher.publish(
        [ReviewQueueChanged(certificate.id, sitting.organisation_id, "SUBMITTED", now)]
    )
    return await Certificate.get(id=certificate.id)


def _not_claimable(status: str) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_TRANSITION, f"a certificate that is {status} cannot be claimed", ["input", "sittingId"]
    )
