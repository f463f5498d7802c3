"""A test taker claims their certificate: the name to print and a photo, sent to security review.

Rules: docs/RULES.md, "Certificate statuses" (AWAITING_CLAIM or REJECTED →
UNDER_REVIEW) and "Claims and review" (name and photo checks in :mod:`resolvers.holder`).
A refused claim stores nothing: inputs are checked before the photo is
written, and a claim that loses a race removes the photo it wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from tortoise.expressions import F
from tortoise.functions import Coalesce

from adapters.storage import FileStorage, new_key
from models import Certificate, Sitting
from models.enums import CertificateStatus
from models.transitions import can_transition
from resolvers import access
from resolvers.access import Operation
from resolvers.audit import record_audit
from resolvers.errors import DomainError, ErrorCode
from resolvers.holder import SanitisedPhoto, normalise_holder_name, sanitise_photo
from resolvers.lifecycle_policy import claimable_until
from resolvers.principal import Principal
from resolvers.sql import change_status, transaction
from resolvers.wording import utc_minute
from subscriptions.events import Publisher, ReviewQueueChanged

PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_PIXELS = 40_000_000
PHOTO_MIN_SIDE = 300


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
        Forbidden: not a test taker (rule ``claimCertificate``).
        DomainError: NOT_FOUND (not the caller's sitting), INVALID_TRANSITION
            (no certificate, or not AWAITING_CLAIM / REJECTED), INVALID_NAME, INVALID_PHOTO.
    """
    test_taker_id = access.require_test_taker(principal, Operation.CLAIM_CERTIFICATE)
    sitting, certificate = await _claimable(sitting_id, test_taker_id)
    name = normalise_holder_name(holder_name)
    sanitised = await asyncio.to_thread(
        sanitise_photo, photo, max_bytes=PHOTO_MAX_BYTES, max_pixels=PHOTO_MAX_PIXELS, min_side=PHOTO_MIN_SIDE
    )
    key = new_key("photos", "jpg")
    await storage.put(key, sanitised.jpeg)
    now = datetime.now(UTC)
    try:
        await _submit(principal, certificate, name=name, photo=sanitised, photo_key=key, at=now)
    except BaseException:
        await storage.delete(key)
        raise
    if certificate.photo_key and certificate.photo_key != key:
        with contextlib.suppress(OSError, ValueError):
            await storage.delete(certificate.photo_key)
    await publisher.publish([ReviewQueueChanged(certificate.id, sitting.organisation_id, "SUBMITTED", now)])
    return await Certificate.get(id=certificate.id)


async def _claimable(sitting_id: int | None, test_taker_id: int) -> tuple[Sitting, Certificate]:
    """The test taker's sitting and its certificate, which the table lets become UNDER_REVIEW.

    Raises:
        DomainError: NOT_FOUND (not the test taker's sitting), INVALID_TRANSITION
            (no certificate, or one that cannot be claimed now).
    """
    sitting = None
    if sitting_id is not None:
        sitting = await Sitting.get_or_none(id=sitting_id, test_taker_id=test_taker_id)
    if sitting is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no such sitting", ["input", "sittingId"])
    certificate = await Certificate.get_or_none(sitting_id=sitting.id, status__not=CertificateStatus.LAPSED)
    if certificate is None:
        raise await _nothing_to_claim(sitting.id)
    if not can_transition(CertificateStatus(certificate.status), CertificateStatus.UNDER_REVIEW):
        raise _not_claimable(certificate.status)
    until = claimable_until(certificate.claim_deadline, sitting.expires_at)
    if until is not None and until <= datetime.now(UTC):
        # Past the deadline the certificate has lapsed, whether or not the job has run yet.
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"the claim deadline passed on {utc_minute(until)}; this certificate can no longer be claimed",
            ["input", "sittingId"],
        )
    return sitting, certificate


async def _nothing_to_claim(sitting_id: int) -> DomainError:
    """INVALID_TRANSITION for a sitting without a current certificate: when it lapsed, say since when."""
    lapsed = await Certificate.filter(sitting_id=sitting_id, status=CertificateStatus.LAPSED).order_by("-id").first()
    message = "this sitting has no certificate to claim"
    if lapsed is not None and lapsed.claim_deadline is not None:
        message = (
            f"the claim deadline passed on {utc_minute(lapsed.claim_deadline)}; "
            "this certificate can no longer be claimed"
        )
    return DomainError(ErrorCode.INVALID_TRANSITION, message, ["input", "sittingId"])


async def _submit(
    principal: Principal, certificate: Certificate, *, name: str, photo: SanitisedPhoto, photo_key: str, at: datetime
) -> None:
    """One transaction: the conditional UPDATE to UNDER_REVIEW and the audit row.

    Raises:
        DomainError: INVALID_TRANSITION when the certificate changed since it was read.
    """
    async with transaction() as conn:
        updated = await change_status(
            conn,
            Certificate,
            certificate.id,
            CertificateStatus.UNDER_REVIEW,
            holder_name=name,
            photo_key=photo_key,
            submitted_at=at,
            # The first claim's time is kept when a rejected certificate is claimed again (the funnel measures it).
            claimed_at=Coalesce(F("claimed_at"), at),
            reviewed_at=None,
            reviewed_by=None,
            rejection_reason=None,
            updated_at=at,
        )
        if not updated:
            current = await Certificate.get(id=certificate.id).using_db(conn)
            raise _not_claimable(current.status)
        await record_audit(
            actor=principal,
            action="claim_certificate",
            object_type="Certificate",
            object_id=certificate.id,
            detail={"photo_key": photo_key, "photo_size": [photo.width, photo.height]},
            conn=conn,
        )


def _not_claimable(status: str) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_TRANSITION, f"a certificate that is {status} cannot be claimed", ["input", "sittingId"]
    )
